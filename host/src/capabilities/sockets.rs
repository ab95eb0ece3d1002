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

use crate::policy::Grants;

/// Addresses the guest tried, with the decision.
#[derive(Debug, Clone, Default)]
pub(crate) struct SocketLog(Arc<Mutex<Vec<(String, bool)>>>);

impl SocketLog {
    pub(crate) fn take(&self) -> Vec<(String, bool)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub(crate) fn configure(
    b: &mut WasiCtxBuilder,
    grants: &Arc<Grants>,
    plugin: &str,
    log: SocketLog,
) {
    b.allow_ip_name_lookup(false);
    if grants.socket_addrs.is_empty() {
        b.allow_tcp(false).allow_udp(false);
        return;
    }
    b.allow_tcp(true).allow_udp(true);
    let grants = grants.clone();
    let plugin: Arc<str> = plugin.into();
    b.socket_addr_check(move |addr: SocketAddr, use_: SocketAddrUse| {
        let implicit_bind = matches!(use_, SocketAddrUse::TcpBind | SocketAddrUse::UdpBind)
            && addr.port() == 0
            && addr.ip().is_unspecified();
        if implicit_bind {
            return Box::pin(async { true });
        }
        let ok = grants
            .socket_addrs
            .iter()
            .any(|p| p.matches_host(&addr.ip().to_string(), addr.port()));
        if !ok {
            tracing::debug!(plugin = %plugin, "denied sockets: {use_:?} {addr}");
        }
        log.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((format!("{use_:?} {addr}"), ok));
        Box::pin(async move { ok })
    });
}
