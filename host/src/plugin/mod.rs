//! Plugins and calls.
//!
//! [`Plugin`] is a compiled component with its `InstancePre` (made once at
//! load). [`Plugin::prepare`] checks the component's imports against a
//! [`Policy`] once and returns a [`Prepared`]; each call on it then creates a
//! fresh store with the limits and the granted capability contexts,
//! instantiates from the pooling allocator, calls, and drops everything —
//! unless reuse was asked for with [`Prepared::with_reuse`].
//!
//! Here: [`Plugin`] (loading, kinds, exports, `prepare`); `prepared` (the
//! store of a call, limits, `run` and `run_command`); `invoke` (any export
//! with WAVE or JSON arguments); `outcome` (what every call returns, and the
//! script engines' error mapping). The WIT type printer is in
//! `crate::values`; loading is in `load`; `dispatch` makes one call
//! whatever the kind ([`Prepared::call`]); `describe` says what a plugin is;
//! `http_serve` serves `wasi:http/proxy` components ([`Prepared::handle_http`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Val};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::bindings::PluginPre;
use crate::cache::CacheStatus;
use crate::componentize::SourceKind;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::limits::{Limits, Tripped};
use crate::policy::{Grants, ImportCheck, Policy, check_imports_with};

use crate::state::CallState;

pub use warden_api::{ExportFunc, PluginKind};

pub(crate) struct PluginInner {
    host: Host,
    name: Arc<str>,
    component: Arc<Component>,
    source: SourceKind,
    hash: String,
    cache: CacheStatus,
    imports: Vec<String>,
    funcs: Vec<ExportFunc>,
    kind: PluginKind,
    /// `Err` when the linker cannot satisfy an import (reported at prepare).
    pre: std::result::Result<InstancePre<CallState>, String>,
    plugin_pre: Option<PluginPre<CallState>>,
    command_pre: Option<CommandPre<CallState>>,
    proxy_pre: Option<wasmtime_wasi_http::p2::bindings::ProxyPre<CallState>>,
}

impl PluginInner {
    pub(crate) fn new(
        host: Host,
        name: &str,
        component: Arc<Component>,
        source: SourceKind,
        hash: String,
        cache: CacheStatus,
    ) -> Result<Self> {
        let engine = host.inner.engine.wasmtime();
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let mut funcs = Vec::new();
        let mut exports_cli_run = false;
        for (export, item) in ty.exports(engine) {
            match &item.ty {
                ComponentItem::ComponentFunc(f) => funcs.push(ExportFunc {
                    instance: None,
                    name: export.to_string(),
                    signature: signature(f),
                }),
                ComponentItem::ComponentInstance(inst) => {
                    if export.starts_with("wasi:cli/run@") {
                        exports_cli_run = true;
                    }
                    for (fname, fitem) in inst.exports(engine) {
                        if let ComponentItem::ComponentFunc(f) = &fitem.ty {
                            funcs.push(ExportFunc {
                                instance: Some(export.to_string()),
                                name: fname.to_string(),
                                signature: signature(f),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        let pre = host
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("{e:#}"));
        let plugin_pre = pre
            .as_ref()
            .ok()
            .and_then(|p| PluginPre::new(p.clone()).ok());
        let command_pre = pre
            .as_ref()
            .ok()
            .and_then(|p| CommandPre::new(p.clone()).ok());
        let proxy_pre = pre.as_ref().ok().and_then(http_serve::proxy_pre);
        let kind = if plugin_pre.is_some() {
            PluginKind::Plugin
        } else if exports_cli_run {
            PluginKind::Command
        } else {
            PluginKind::Library
        };
        Ok(PluginInner {
            host,
            name: name.into(),
            component,
            source,
            hash,
            cache,
            imports,
            funcs,
            kind,
            pre,
            plugin_pre,
            command_pre,
            proxy_pre,
        })
    }
}

mod describe;
mod dispatch;
mod http_serve;
mod invoke;
mod load;
mod outcome;
mod prepared;

use crate::values::signature;
pub use describe::wit_of;
pub use dispatch::{Call, Called};
pub use http_serve::HttpResponseBody;
pub use outcome::{Invoked, Outcome, RunOutput, script_error};
pub use prepared::Prepared;

/// A loaded, compiled plugin. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("kind", &self.inner.kind)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn from_inner(inner: PluginInner) -> Self {
        Plugin {
            inner: Arc::new(inner),
        }
    }

    /// The plugin's name (file stem or the name given to `load_bytes`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Plugin, command or library.
    pub fn kind(&self) -> PluginKind {
        self.inner.kind
    }

    /// What the bytes were before they became a component.
    pub fn source_kind(&self) -> SourceKind {
        self.inner.source
    }

    /// BLAKE3 of the component bytes (first 128 bits, hex).
    pub fn content_hash(&self) -> &str {
        &self.inner.hash
    }

    /// Whether loading hit the `.cwasm` cache.
    pub fn cache_status(&self) -> CacheStatus {
        self.inner.cache
    }

    /// The component's import names.
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// Every exported function, top-level and inside exported instances.
    pub fn exports(&self) -> &[ExportFunc] {
        &self.inner.funcs
    }

    /// Does it export `warden:plugin/script` (a script engine)?
    pub fn is_script_engine(&self) -> bool {
        self.inner.funcs.iter().any(|f| {
            f.instance
                .as_deref()
                .is_some_and(|i| i.starts_with("warden:plugin/script@"))
        })
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.inner.component
    }

    /// Check the imports against `policy` and get a handle for calls.
    /// Fails with `CAPABILITY_DENIED` naming the first import the grants do
    /// not cover; no guest code has run.
    ///
    /// A script engine (a component exporting `warden:plugin/script`, such as
    /// warden's JS engine and the plugins `warden build` makes with it) imports
    /// every warden capability whatever its script uses, so for it those are
    /// linked and checked call by call ([`ImportCheck::AtCall`]): the script
    /// gets a catchable denial. WASI capabilities and unknown imports are
    /// refused here for every component.
    pub fn prepare(&self, policy: Policy) -> Result<Prepared> {
        let mode = if self.is_script_engine() {
            ImportCheck::AtCall
        } else {
            ImportCheck::AtLink
        };
        let name = &*self.inner.name;
        check_imports_with(
            name,
            self.inner.imports.iter().map(String::as_str),
            &policy.grants,
            mode,
        )?;
        if let Err(msg) = &self.inner.pre {
            return Err(Error::CapabilityDenied {
                plugin: name.to_string(),
                capability: "unknown".into(),
                detail: msg.clone(),
            });
        }
        crate::capabilities::check_dirs(&policy.grants)?;
        Ok(Prepared {
            plugin: self.clone(),
            grants: Arc::new(policy.grants),
            limits: Arc::new(policy.limits),
            reuse: None,
        })
    }

    /// `prepare(policy)` then [`Prepared::run`].
    pub async fn run(&self, policy: Policy, input: &str) -> Result<RunOutput> {
        self.prepare(policy)?.run(input).await.into_result()
    }
}
