//! Outbound HTTP (`wasi:http/outgoing-handler`) through wasmtime-wasi-http,
//! with warden's allow-list in front of the real `send_request`: a request to
//! a host no grant matches fails in the guest with `HTTP-request-denied`.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::policy::Pattern;
use crate::receipt::Receipt;

/// The HTTP capability of one call (wasmtime-wasi-http's hooks): the
/// allow-list check and what the receipt needs.
#[derive(Debug)]
pub(crate) struct HttpCtx {
    plugin: Arc<str>,
    hosts_granted: Vec<Pattern>,
    requests: u64,
    hosts: BTreeSet<String>,
    denials: Vec<String>,
}

impl HttpCtx {
    pub(crate) fn new(plugin: Arc<str>, hosts_granted: Vec<Pattern>) -> Self {
        HttpCtx {
            plugin,
            hosts_granted,
            requests: 0,
            hosts: BTreeSet::new(),
            denials: Vec::new(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.requests = 0;
        self.hosts.clear();
        self.denials.clear();
    }

    /// Is `authority` (with the URI's scheme for the default port) allowed?
    pub(crate) fn allowed(&self, host: &str, port: u16) -> bool {
        self.hosts_granted
            .iter()
            .any(|p| p.matches_host(host, port))
    }

    /// Requests, hosts tried and denials into the receipt.
    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        receipt.host_calls.http += self.requests;
        receipt.http_hosts.append(&mut self.hosts);
        receipt.denials.append(&mut self.denials);
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpCtx {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        self.requests += 1;
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let authority = format!("{host}:{port}");
        self.hosts.insert(authority.clone());
        if !self.allowed(&host, port) {
            let msg = format!("http: host `{authority}` is not granted");
            tracing::debug!(plugin = %self.plugin, "denied {msg}");
            self.denials.push(msg);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_by_host_and_port() {
        let cx = HttpCtx::new(
            "p".into(),
            vec![
                Pattern("api.example.test:443".into()),
                Pattern("*.local".into()),
            ],
        );
        assert!(cx.allowed("api.example.test", 443));
        assert!(!cx.allowed("api.example.test", 80));
        assert!(cx.allowed("db.local", 5432));
        assert!(!cx.allowed("evil.test", 443));
    }
}
