//! Every outside effect a guest can have, one module per capability.
//!
//! Each module owns a context type built from the call's grants, holds its
//! own grant check, and adds its own part of the receipt:
//!
//! | module       | interface                         | context        |
//! |--------------|-----------------------------------|----------------|
//! | [`log`]      | `warden:plugin/log`               | `LogCtx`       |
//! | [`kv`]       | `warden:plugin/kv`                | `KvCtx`        |
//! | [`host_call`]| `warden:plugin/host`              | `HostFnCtx`    |
//! | [`events`]   | `warden:plugin/events`            | `EventsCtx`    |
//! | `files`      | `wasi:filesystem` (preopens)      | `FilesCtx`     |
//! | `env`        | `wasi:cli/environment`            | (WASI builder) |
//! | `http`       | `wasi:http/outgoing-handler`      | `HttpCtx`      |
//! | `sockets`    | `wasi:sockets`                    | `SocketsCtx`   |
//! | `stdio`      | `wasi:cli` stdin/stdout/stderr    | `Stdio`        |
//!
//! [`Contexts`] holds them all; the store's state (`CallState`) holds a
//! `Contexts` and hands each host function a [`Ctx`] view: its own context
//! plus the call's [`Meter`] (host-call count and limit, denials). Nothing
//! here knows the store type, so the host functions are tested on a context
//! without any Wasm.
//!
//! Denials are returned to the guest as the WIT error value `denied(..)`;
//! only limit abuse (host-call floods, output floods) traps.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::{WasiCtxBuilder, WasiView};
use wasmtime_wasi_http::WasiHttpView;

use crate::error::Result;
use crate::limits::{Limits, Tripped};
use crate::policy::Grants;
use crate::receipt::{LogLine, Receipt};

pub mod events;
mod files;
pub mod host_call;
mod http;
pub mod kv;
pub mod log;
mod meter;
pub mod sinks;
mod sockets;
pub(crate) mod stdio;

pub(crate) use files::check_dirs;
pub(crate) use http::HttpCtx;
pub(crate) use meter::Meter;
pub(crate) use stdio::Stdio;

/// What every call of every plugin of a host shares: the backends behind the
/// capabilities.
pub(crate) struct Backends {
    pub(crate) kv: Arc<dyn kv::KvBackend>,
    pub(crate) host_fns: Arc<HashMap<String, host_call::HostFn>>,
    pub(crate) events: Arc<dyn events::EventSink>,
    pub(crate) logs: Option<Arc<dyn log::LogSink>>,
}

/// What a host function works on: its capability's context and the call's
/// meter (like wasmtime-wasi's `WasiCtxView`).
#[derive(Debug)]
pub(crate) struct Ctx<'a, C> {
    pub(crate) cap: &'a mut C,
    pub(crate) meter: &'a mut Meter,
}

/// The [`HasData`] of a [`Ctx`] over the context `C`.
pub(crate) struct HasCtx<C>(std::marker::PhantomData<C>);

impl<C: Send + 'static> HasData for HasCtx<C> {
    type Data<'a> = Ctx<'a, C>;
}

/// The contexts of one call, built from its grants.
pub(crate) struct Contexts {
    pub(crate) meter: Meter,
    pub(crate) log: log::LogCtx,
    pub(crate) kv: kv::KvCtx,
    pub(crate) host_fns: host_call::HostFnCtx,
    pub(crate) events: events::EventsCtx,
    pub(crate) files: files::FilesCtx,
    pub(crate) http: HttpCtx,
    pub(crate) sockets: sockets::SocketsCtx,
}

impl Contexts {
    /// Build every context for `plugin` under `grants`, and configure the
    /// WASI parts (files, environment, sockets) on `wasi`.
    pub(crate) fn new(
        plugin: &Arc<str>,
        backends: &Backends,
        grants: &Grants,
        limits: &Limits,
        stdio: &Stdio,
        wasi: &mut WasiCtxBuilder,
    ) -> Result<Self> {
        let files = files::FilesCtx::configure(wasi, grants)?;
        env_configure(wasi, grants);
        let sockets = sockets::SocketsCtx::configure(wasi, grants, plugin);
        Ok(Contexts {
            meter: Meter::new(plugin.clone(), limits.host_calls),
            log: log::LogCtx::new(
                plugin.clone(),
                grants.log,
                stdio.budget.clone(),
                backends.logs.clone(),
            ),
            kv: kv::KvCtx::new(plugin, backends.kv.clone(), grants.kv.as_ref()),
            host_fns: host_call::HostFnCtx::new(
                plugin.clone(),
                backends.host_fns.clone(),
                grants.host_fns.clone(),
            ),
            events: events::EventsCtx::new(
                plugin.clone(),
                backends.events.clone(),
                grants.event_topics.clone(),
            ),
            files,
            http: HttpCtx::new(plugin.clone(), grants.http_hosts.clone()),
            sockets,
        })
    }

    /// Reset the per-call parts for the next call of a reused instance.
    pub(crate) fn reset(&mut self, limits: &Limits) {
        self.meter.reset(limits.host_calls);
        self.log.take();
        self.kv.reset();
        self.host_fns.reset();
        self.events.reset();
        self.files.reset();
        self.http.reset();
        self.sockets.reset();
    }

    /// Which limit a host function tripped, if any.
    pub(crate) fn tripped(&self) -> Option<Tripped> {
        self.meter.tripped
    }

    /// Add every capability's part to `receipt`; return the guest's log lines.
    pub(crate) fn record(&mut self, receipt: &mut Receipt) -> Vec<LogLine> {
        self.meter.record(receipt);
        self.kv.record(receipt);
        self.host_fns.record(receipt);
        self.events.record(receipt);
        self.files.record(receipt);
        self.http.record(receipt);
        self.sockets.record(receipt);
        self.log.take()
    }
}

/// `wasi:cli/environment`: only the granted names, with the granted value or
/// the host's own.
fn env_configure(wasi: &mut WasiCtxBuilder, grants: &Grants) {
    for e in &grants.env {
        let value = match &e.value {
            Some(v) => Some(v.clone()),
            None => std::env::var(&e.name).ok(),
        };
        if let Some(v) = value {
            wasi.env(&e.name, v);
        }
    }
}

/// The data of the types-only interface `warden:plugin/types`.
pub(crate) struct TypesOnly;

impl HasData for TypesOnly {
    type Data<'a> = TypesOnly;
}

impl crate::bindings::warden::plugin::types::Host for TypesOnly {}

/// A store state that holds [`Contexts`] (the host's `CallState`).
pub(crate) trait HasContexts: WasiView + WasiHttpView + Send + 'static {
    fn contexts(&mut self) -> &mut Contexts;
}

/// Link every capability into `linker`: WASI (p2), WASI HTTP, warden's own
/// interfaces on their contexts, and the receipt's record of opened paths.
pub(crate) fn add_to_linker<T: HasContexts>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use crate::bindings::warden::plugin as wit;
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    // `types` holds only types; its instance must exist for the imports.
    wit::types::add_to_linker::<T, TypesOnly>(linker, |_| TypesOnly)?;
    // Each interface on its own context, beside the call's meter.
    macro_rules! link {
        ($interface:ident, $field:ident, $ctx:ty) => {
            wit::$interface::add_to_linker::<T, HasCtx<$ctx>>(linker, |t| {
                let c = t.contexts();
                Ctx {
                    cap: &mut c.$field,
                    meter: &mut c.meter,
                }
            })?;
        };
    }
    link!(log, log, log::LogCtx);
    link!(kv, kv, kv::KvCtx);
    link!(host, host_fns, host_call::HostFnCtx);
    link!(events, events, events::EventsCtx);
    files::record_opened_paths(linker)
}
