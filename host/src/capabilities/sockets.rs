//! `wasi:sockets`: linked for every guest (Rust std's networking imports it)
//! but every address is refused unless a socket grant matches it. DNS lookups
//! are never granted: guests connect to addresses.
//!
//! With a grant, the implicit bind that precedes an outgoing `connect`
//! (wildcard address, port 0) is allowed; listening, accepting, sending and
//! explicit binds are checked against the grant like connects, so a guest
//! granted `127.0.0.1:8080` can reach that address and nothing else, and
//! cannot open a listener.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

use crate::policy::{Grants, Pattern};
use crate::receipt::Receipt;

/// The sockets capability of one call: the addresses the guest tried, with
/// the decision (shared with the check wasmtime-wasi calls).
#[derive(Debug, Clone, Default)]
pub(crate) struct SocketsCtx(Arc<Mutex<Vec<(String, bool)>>>);

impl SocketsCtx {
    /// Configure `wasi`'s socket checks from the grants.
    pub(crate) fn configure(wasi: &mut WasiCtxBuilder, grants: &Grants, plugin: &Arc<str>) -> Self {
        let log = SocketsCtx::default();
        wasi.allow_ip_name_lookup(false);
        if grants.socket_addrs.is_empty() {
            wasi.allow_tcp(false).allow_udp(false);
            return log;
        }
        wasi.allow_tcp(true).allow_udp(true);
        let granted = grants.socket_addrs.clone();
        let plugin = plugin.clone();
        let tried = log.clone();
        wasi.socket_addr_check(move |addr: SocketAddr, use_: SocketAddrUse| {
            let ok = allowed(&granted, addr, use_);
            if !ok {
                tracing::debug!(plugin = %plugin, "denied sockets: {use_:?} {addr}");
            }
            if !is_implicit_bind(addr, use_) {
                tried.push(format!("{use_:?} {addr}"), ok);
            }
            Box::pin(async move { ok })
        });
        log
    }

    fn push(&self, what: String, ok: bool) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((what, ok));
    }

    pub(crate) fn reset(&mut self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Each address tried counts as a host call; refused ones are denials.
    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        let tried = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for (addr, ok) in tried {
            receipt.host_calls.sockets += 1;
            if !ok {
                receipt
                    .denials
                    .push(format!("sockets: `{addr}` is not granted"));
            }
            receipt.socket_addrs.insert(addr);
        }
    }
}

/// The bind that precedes an outgoing `connect` (wildcard address, port 0).
fn is_implicit_bind(addr: SocketAddr, use_: SocketAddrUse) -> bool {
    matches!(use_, SocketAddrUse::TcpBind | SocketAddrUse::UdpBind)
        && addr.port() == 0
        && addr.ip().is_unspecified()
}

fn allowed(granted: &[Pattern], addr: SocketAddr, use_: SocketAddrUse) -> bool {
    is_implicit_bind(addr, use_)
        || granted
            .iter()
            .any(|p| p.matches_host(&addr.ip().to_string(), addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_addresses_and_the_implicit_bind() {
        let granted = [Pattern("127.0.0.1:8080".into())];
        let ok: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let wildcard: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(allowed(&granted, ok, SocketAddrUse::TcpConnect));
        assert!(!allowed(&granted, other, SocketAddrUse::TcpConnect));
        assert!(allowed(&granted, wildcard, SocketAddrUse::TcpBind));
        assert!(!allowed(&granted, wildcard, SocketAddrUse::UdpSend));
        assert!(!allowed(&[], ok, SocketAddrUse::TcpConnect));

        let mut cx = SocketsCtx::default();
        cx.push("TcpConnect 127.0.0.1:8081".into(), false);
        let mut receipt = Receipt::default();
        cx.record(&mut receipt);
        assert_eq!(receipt.host_calls.sockets, 1);
        assert_eq!(
            receipt.denials,
            ["sockets: `TcpConnect 127.0.0.1:8081` is not granted"]
        );
    }
}
