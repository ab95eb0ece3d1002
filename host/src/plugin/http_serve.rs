//! Serving a `wasi:http/proxy` component (one that exports
//! `wasi:http/incoming-handler`), as `wasmtime serve` does but under a
//! [`Prepared`]'s grants and limits: a fresh instance per request from the
//! pooling allocator, the epoch deadline and the timeout armed as for every
//! call, the response head returned as soon as the guest sets it and its
//! body streamed while the guest writes it.

use bytes::Bytes;
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::*;

/// The body of a response from a guest.
pub type HttpResponseBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

impl Plugin {
    /// Whether it exports `wasi:http/incoming-handler` (a `wasi:http/proxy`
    /// component that [`Prepared::handle_http`] can serve).
    pub fn is_http_proxy(&self) -> bool {
        self.inner.proxy_pre.is_some()
    }
}

pub(super) fn proxy_pre(pre: &InstancePre<CallState>) -> Option<ProxyPre<CallState>> {
    ProxyPre::new(pre.clone()).ok()
}

impl Prepared {
    /// Handle one HTTP request with a fresh instance: the guest's response
    /// (its body streams as the guest writes it), or the typed error of a
    /// guest that failed (trap, timeout, a limit) before answering.
    pub async fn handle_http<B>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Response<HttpResponseBody>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let started = Instant::now();
        let name = self.plugin.name().to_string();
        let Some(pre) = self.plugin.inner.proxy_pre.clone() else {
            return Err(self.missing(
                "wasi:http/incoming-handler#handle",
                "func(request: incoming-request, response-out: response-outparam)",
            ));
        };
        let mut store = self.new_store(None, &[])?;
        let request = request.map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
        });
        let internal = |e: wasmtime::Error| Error::Trap {
            plugin: name.clone(),
            message: format!("{e:#}"),
            backtrace: None,
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(internal)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(internal)?;
        let this = self.clone();
        // The guest runs in its own task: it may go on writing the body
        // after the head is sent. The deadline and limits hold throughout.
        let task = tokio::spawn(async move {
            let (outcome, _) = this
                .execute(
                    "wasi:http/incoming-handler#handle",
                    store,
                    started,
                    async move |store| {
                        let t = Instant::now();
                        let proxy = pre.instantiate_async(&mut *store).await?;
                        store.data_mut().instantiate_us = t.elapsed().as_micros() as u64;
                        proxy
                            .wasi_http_incoming_handler()
                            .call_handle(&mut *store, incoming, out)
                            .await
                    },
                )
                .await;
            if let Err(e) = &outcome.result {
                tracing::debug!(plugin = %this.plugin.name(), "wasi:http handler failed: {e}");
            }
            outcome
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|body| {
                body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                    .boxed_unsync()
            })),
            Ok(Err(code)) => Err(Error::GuestError {
                plugin: name,
                message: format!("the handler answered with an error: {code:?}"),
            }),
            // The guest never set the response: its own error says why.
            Err(_) => match task.await {
                Ok(outcome) => Err(outcome.result.err().unwrap_or(Error::GuestError {
                    plugin: name,
                    message: "the handler returned without setting a response".into(),
                })),
                Err(e) => Err(Error::internal(format!("the handler's task failed: {e}"))),
            },
        }
    }
}
