//! The `T` of every `Store<T>` warden creates: the WASI context built from
//! the grants, the resource table, the limiter, stdio, and the capability
//! contexts. What each capability does is in [`crate::capabilities`]; this
//! only holds them.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::{Backends, Contexts, HasContexts, Stdio};
use crate::error::Result;
use crate::limits::{Limiter, Limits, Tripped};
use crate::policy::Grants;
use crate::receipt::{LogLine, Receipt};

/// The `T` of every `Store<T>` warden creates.
pub struct CallState {
    pub(crate) plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    pub(crate) limiter: Limiter,
    pub(crate) stdio: Stdio,
    contexts: Contexts,
    /// Microseconds spent instantiating (set by the caller that instantiated).
    pub(crate) instantiate_us: u64,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl CallState {
    pub(crate) fn new(
        plugin: Arc<str>,
        backends: &Backends,
        grants: &Grants,
        limits: &Limits,
        stdin: Option<Vec<u8>>,
        args: &[String],
    ) -> Result<Self> {
        let stdio = Stdio::new(limits.output_bytes);
        let mut b = WasiCtxBuilder::new();
        stdio.configure(&mut b, stdin);
        // argv[0] is the plugin's name, then the arguments.
        b.arg(&*plugin);
        b.args(args);
        let contexts = Contexts::new(&plugin, backends, grants, limits, &stdio, &mut b)?;
        Ok(CallState {
            plugin,
            wasi: b.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            limiter: Limiter::new(limits),
            stdio,
            contexts,
            instantiate_us: 0,
        })
    }

    /// Reset the per-call parts for a reused instance.
    pub(crate) fn reset_for_call(&mut self, limits: &Limits) {
        self.limiter.tripped = None;
        self.instantiate_us = 0;
        self.stdio.reset();
        self.contexts.reset(limits);
    }

    /// Which limit stopped the guest, if one did: the limiter's (memory,
    /// tables) first, then a capability's (host calls, log output).
    pub(crate) fn tripped(&self) -> Option<Tripped> {
        self.limiter.tripped.or(self.contexts.tripped())
    }

    /// The receipt's parts that the store knows (peak memory, instantiation,
    /// every capability's part) and the guest's log lines.
    pub(crate) fn take_record(&mut self) -> (Receipt, Vec<LogLine>) {
        let mut receipt = Receipt {
            instantiate_us: self.instantiate_us,
            peak_memory_bytes: self.limiter.peak_memory,
            output_bytes: self.stdio.budget.used(),
            ..Receipt::default()
        };
        let logs = self.contexts.record(&mut receipt);
        (receipt, logs)
    }
}

impl HasContexts for CallState {
    fn contexts(&mut self) -> &mut Contexts {
        &mut self.contexts
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.contexts.http,
        }
    }
}
