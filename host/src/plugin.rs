//! Plugins and calls.
//!
//! [`Plugin`] is a compiled component with its `InstancePre` (made once at
//! load). [`Plugin::prepare`] checks the component's imports against a
//! [`Policy`] once and returns a [`Prepared`]; each call on it then creates a
//! fresh store with the limits and the granted capability contexts,
//! instantiates from the pooling allocator, calls, and drops everything —
//! unless reuse was asked for with [`Prepared::with_reuse`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Val};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::bindings::PluginPre;
use crate::cache::CacheStatus;
use crate::error::{Error, Result};
use crate::host::{Host, SourceKind};
use crate::limits::{Limits, Tripped};
use crate::policy::{Grants, ImportCheck, Policy, check_imports_with};
use crate::receipt::{LogLine, Receipt};
use crate::state::{CallState, Captures};

/// What a component is, by its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Exports `run: func(input: string) -> result<string, string>`.
    Plugin,
    /// Exports `wasi:cli/run` (a WASI command).
    Command,
    /// Neither: call its exports with [`Prepared::invoke`].
    Library,
}

impl PluginKind {
    /// `plugin`, `command` or `library`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Plugin => "plugin",
            PluginKind::Command => "command",
            PluginKind::Library => "library",
        }
    }
}

/// An exported function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportFunc {
    /// The exported instance (interface) holding it, if any.
    pub instance: Option<String>,
    /// The function's name.
    pub name: String,
    /// Its signature, e.g. `func(a: s32, b: s32) -> s32`.
    pub signature: String,
}

impl ExportFunc {
    /// `instance#name` or `name`.
    pub fn path(&self) -> String {
        match &self.instance {
            Some(i) => format!("{i}#{}", self.name),
            None => self.name.clone(),
        }
    }
}

pub(crate) struct PluginInner {
    host: Host,
    name: Arc<str>,
    component: Component,
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
}

impl PluginInner {
    pub(crate) fn new(
        host: Host,
        name: &str,
        component: Component,
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
        })
    }
}

fn signature(f: &wasmtime::component::types::ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(n, t)| format!("{n}: {}", type_name(&t)))
        .collect();
    let results: Vec<String> = f.results().map(|t| type_name(&t)).collect();
    match results.len() {
        0 => format!("func({})", params.join(", ")),
        _ => format!("func({}) -> {}", params.join(", "), results.join(", ")),
    }
}

fn type_name(t: &wasmtime::component::Type) -> String {
    use wasmtime::component::Type as T;
    match t {
        T::Bool => "bool".into(),
        T::S8 => "s8".into(),
        T::U8 => "u8".into(),
        T::S16 => "s16".into(),
        T::U16 => "u16".into(),
        T::S32 => "s32".into(),
        T::U32 => "u32".into(),
        T::S64 => "s64".into(),
        T::U64 => "u64".into(),
        T::Float32 => "f32".into(),
        T::Float64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::List(l) => format!("list<{}>", type_name(&l.ty())),
        T::Option(o) => format!("option<{}>", type_name(&o.ty())),
        T::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map(|t| type_name(&t)).unwrap_or("_".into()),
            r.err().map(|t| type_name(&t)).unwrap_or("_".into())
        ),
        T::Tuple(t) => format!(
            "tuple<{}>",
            t.types()
                .map(|t| type_name(&t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Record(r) => format!(
            "record {{ {} }}",
            r.fields()
                .map(|f| format!("{}: {}", f.name, type_name(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        T::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, type_name(&t)),
                    None => c.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        T::Own(_) => "own<resource>".into(),
        T::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

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

    pub(crate) fn from_arc(inner: Arc<PluginInner>) -> Self {
        Plugin { inner }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<PluginInner> {
        Arc::downgrade(&self.inner)
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
        for d in &policy.grants.dirs {
            if !d.host.is_dir() {
                return Err(Error::io(
                    format!("granting directory {}", d.host.display()),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
                ));
            }
        }
        let receipt_dirs = policy
            .grants
            .dirs
            .iter()
            .map(|d| {
                format!(
                    "{} -> {} ({})",
                    d.host.display(),
                    d.guest,
                    if d.writable { "rw" } else { "ro" }
                )
            })
            .collect();
        Ok(Prepared {
            plugin: self.clone(),
            grants: Arc::new(policy.grants),
            limits: Arc::new(policy.limits),
            receipt_dirs: Arc::new(receipt_dirs),
            reuse: None,
        })
    }

    /// `prepare(policy)` then [`Prepared::run`].
    pub async fn run(&self, policy: Policy, input: &str) -> Result<RunOutput> {
        self.prepare(policy)?.run(input).await.into_result()
    }
}

/// The result of a call: the value or the typed error, and always the receipt
/// and what the guest wrote.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The value, or the typed error.
    pub result: Result<T>,
    /// What the call cost and touched.
    pub receipt: Receipt,
    /// What the guest wrote to stdout.
    pub stdout: Bytes,
    /// What the guest wrote to stderr.
    pub stderr: Bytes,
    /// What the guest logged through `warden:plugin/log`.
    pub logs: Vec<LogLine>,
}

impl<T> Outcome<T> {
    /// The value or the error, dropping the rest.
    pub fn into_result(self) -> Result<T> {
        self.result
    }

    /// Transform the value (or turn it into an error), keeping the rest.
    pub fn map<U>(self, f: impl FnOnce(T) -> Result<U>) -> Outcome<U> {
        Outcome {
            result: self.result.and_then(f),
            receipt: self.receipt,
            stdout: self.stdout,
            stderr: self.stderr,
            logs: self.logs,
        }
    }

    /// An outcome of a call that wrote nothing (for runtimes outside this
    /// crate, e.g. eBPF).
    pub fn new(result: Result<T>, receipt: Receipt) -> Self {
        Outcome {
            result,
            receipt,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }

    /// An outcome for a call that failed before it started.
    pub fn failed(plugin: &str, export: &str, error: Error) -> Self {
        Outcome {
            result: Err(error),
            receipt: Receipt {
                plugin: plugin.to_string(),
                export: export.to_string(),
                ..Receipt::default()
            },
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }
}

/// What `run` returned, with its receipt.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The JSON text the guest returned.
    pub output: String,
}

/// What an invoked function returned.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// Each result in WAVE.
    pub wave: Vec<String>,
    /// The results as JSON, where the types allow (one result: the value; none: null; several: an array).
    pub json: Option<serde_json::Value>,
}

/// A script engine's `run` error is `<kind>: <message>` (see
/// `warden:plugin/script`); map the kind to warden's code: `compile` →
/// `COMPILE`, `denied` → `CAPABILITY_DENIED`, `serialization` →
/// `SERIALIZATION`, `stalled` → `TIMEOUT`, anything else (`thrown`) →
/// `GUEST_ERROR`.
pub fn script_error(plugin: &str, message: &str) -> Error {
    let (kind, rest) = message.split_once(": ").unwrap_or(("thrown", message));
    let plugin = plugin.to_string();
    match kind {
        "compile" => Error::Compile {
            plugin,
            message: rest.to_string(),
        },
        "denied" => {
            // Warden's denials read `<capability>: <what> is not granted`.
            let capability = rest
                .split_once(':')
                .and_then(|(c, _)| c.trim().parse::<crate::Capability>().ok())
                .map(|c| c.name().to_string())
                .unwrap_or_else(|| "script".into());
            Error::CapabilityDenied {
                plugin,
                capability,
                detail: rest.to_string(),
            }
        }
        "serialization" => Error::Serialization {
            plugin,
            reason: rest.to_string(),
        },
        "stalled" => Error::Stalled {
            plugin,
            reason: rest.to_string(),
        },
        _ => Error::GuestError {
            plugin,
            message: rest.to_string(),
        },
    }
}

struct Warm {
    store: Store<CallState>,
    instance: crate::bindings::Plugin,
}

/// A plugin checked against a policy. Each call gets a fresh instance unless
/// reuse was turned on. Cheap to clone; calls may run concurrently.
#[derive(Clone)]
pub struct Prepared {
    plugin: Plugin,
    grants: Arc<Grants>,
    limits: Arc<Limits>,
    receipt_dirs: Arc<Vec<String>>,
    reuse: Option<Arc<Mutex<Vec<Warm>>>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("plugin", &self.plugin)
            .field("reuse", &self.reuse.is_some())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// The plugin.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Reuse instances of `run` between calls (throughput over isolation):
    /// guest globals and memory persist from one call to the next; limits,
    /// counters, output and the receipt are reset per call. An instance that
    /// failed is discarded.
    pub fn with_reuse(mut self) -> Self {
        self.reuse = Some(Arc::default());
        self
    }

    fn new_store(&self, stdin: Option<Vec<u8>>, args: &[String]) -> Result<Store<CallState>> {
        let host = &self.plugin.inner.host.inner;
        let state = CallState::new(
            self.plugin.inner.name.clone(),
            host.shared.clone(),
            self.grants.clone(),
            &self.limits,
            stdin,
            args,
        )?;
        let mut store = Store::new(host.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        Ok(store)
    }

    fn arm(&self, store: &mut Store<CallState>) -> Result<Option<u64>> {
        let engine = &self.plugin.inner.host.inner.engine;
        // Yield to the executor at every epoch tick and trap when the
        // timeout's ticks are used up. The yields make a long call share its
        // thread with other tasks, and make dropping the call's future (a
        // cancelled job, a caller's own timeout) stop the guest within a
        // tick instead of at its deadline.
        let mut ticks_left = engine.ticks_for(self.limits.timeout);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks_left = ticks_left.saturating_sub(1);
            Ok(if ticks_left == 0 {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });
        if engine.options().fuel {
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            store.set_fuel(fuel).map_err(Error::internal)?;
            Ok(Some(fuel))
        } else {
            Ok(None)
        }
    }

    fn check_input(&self, input: &[u8]) -> Result<()> {
        if input.len() > self.limits.input_bytes {
            return Err(Error::InputTooLarge {
                plugin: self.plugin.name().to_string(),
                size: input.len(),
                limit: self.limits.input_bytes,
            });
        }
        Ok(())
    }

    /// Run `body` in `store` under the limits, then build the outcome.
    async fn execute<R>(
        &self,
        export: &str,
        mut store: Store<CallState>,
        started: Instant,
        body: impl AsyncFnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> (Outcome<R>, Option<Store<CallState>>) {
        let fuel_start = match self.arm(&mut store) {
            Ok(f) => f,
            Err(e) => return (Outcome::failed(self.plugin.name(), export, e), None),
        };
        let timed = tokio::time::timeout(self.limits.timeout, body(&mut store)).await;
        let captures = store.data().captures.clone();
        let result = match timed {
            Err(_) => Err(Error::Timeout {
                plugin: self.plugin.name().to_string(),
                limit: self.limits.timeout,
            }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(e, store.data(), &captures)),
        };
        let fuel_used = fuel_start.map(|f| f.saturating_sub(store.get_fuel().unwrap_or(0)));
        let outcome = self.finish(
            export,
            store.data_mut(),
            &captures,
            started,
            fuel_used,
            result,
        );
        let keep = if outcome.result.is_ok() && self.reuse.is_some() {
            Some(store)
        } else {
            self.plugin.inner.host.inner.engine.retire(store);
            None
        };
        (outcome, keep)
    }

    fn finish<R>(
        &self,
        export: &str,
        state: &mut CallState,
        captures: &Captures,
        started: Instant,
        fuel_used: Option<u64>,
        result: Result<R>,
    ) -> Outcome<R> {
        let mut receipt = std::mem::take(&mut state.receipt);
        receipt.plugin = self.plugin.name().to_string();
        receipt.export = export.to_string();
        receipt.wall_time_us = started.elapsed().as_micros() as u64;
        receipt.fuel_used = fuel_used;
        receipt.peak_memory_bytes = state.limiter.peak_memory;
        receipt.output_bytes = captures.budget.used();
        receipt.dirs = (*self.receipt_dirs).clone();
        receipt.host_calls.http += state.http_hooks.requests;
        receipt.http_hosts.append(&mut state.http_hooks.hosts);
        receipt.denials.append(&mut state.http_hooks.denials);
        for (addr, ok) in captures.sockets.take() {
            receipt.host_calls.sockets += 1;
            if !ok {
                receipt
                    .denials
                    .push(format!("sockets: `{addr}` is not granted"));
            }
            receipt.socket_addrs.insert(addr);
        }
        Outcome {
            result,
            receipt,
            stdout: captures.stdout.take_contents(),
            stderr: captures.stderr.take_contents(),
            logs: std::mem::take(&mut state.logs),
        }
    }

    /// Turn a Wasmtime error into the typed error, using what the limiter and
    /// the output budget recorded.
    fn classify(&self, e: wasmtime::Error, state: &CallState, captures: &Captures) -> Error {
        let plugin = self.plugin.name().to_string();
        match state.limiter.tripped {
            Some(Tripped::Memory { wanted }) => {
                return Error::MemoryLimit {
                    plugin,
                    limit: self.limits.memory_bytes,
                    wanted,
                };
            }
            Some(Tripped::Table { wanted }) => {
                return Error::TableLimit {
                    plugin,
                    limit: self.limits.table_elements,
                    wanted,
                };
            }
            Some(Tripped::HostCalls) => {
                return Error::HostCallLimit {
                    plugin,
                    limit: self.limits.host_calls,
                };
            }
            Some(Tripped::Output { stream }) => {
                return Error::OutputTooLarge {
                    plugin,
                    limit: self.limits.output_bytes,
                    stream: stream.into(),
                };
            }
            None => {}
        }
        if let Some(stream) = captures.budget.tripped() {
            return Error::OutputTooLarge {
                plugin,
                limit: self.limits.output_bytes,
                stream: stream.into(),
            };
        }
        if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
            match trap {
                wasmtime::Trap::Interrupt => {
                    return Error::Timeout {
                        plugin,
                        limit: self.limits.timeout,
                    };
                }
                wasmtime::Trap::OutOfFuel => {
                    return Error::FuelExhausted {
                        plugin,
                        limit: self.limits.fuel.unwrap_or(u64::MAX),
                    };
                }
                _ => {}
            }
        }
        let backtrace = e
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|b| b.to_string());
        let mut message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(t) => t.to_string(),
            None => format!("{e:#}"),
        };
        // A Rust guest's panic message goes to stderr right before the trap.
        let stderr = captures.stderr.peek_tail(2048);
        if !stderr.is_empty() {
            message.push_str("; guest stderr: ");
            message.push_str(stderr.trim());
        }
        Error::Trap {
            plugin,
            message,
            backtrace,
        }
    }

    /// Call `run(input)`. The input must be JSON (`INVALID_INPUT` otherwise)
    /// and so must the output (`SERIALIZATION`); the guest's `err` is
    /// `GUEST_ERROR`.
    pub async fn run(&self, input: &str) -> Outcome<RunOutput> {
        let started = Instant::now();
        let name = self.plugin.name();
        let Some(pre) = self.plugin.inner.plugin_pre.clone() else {
            return Outcome::failed(
                name,
                "run",
                self.missing("run", "func(input: string) -> result<string, string>"),
            );
        };
        if let Err(e) = self.check_input(input.as_bytes()) {
            return Outcome::failed(name, "run", e);
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
            return Outcome::failed(
                name,
                "run",
                Error::InvalidInput {
                    plugin: name.to_string(),
                    reason: format!("input is not JSON: {e}"),
                },
            );
        }

        let warm = self
            .reuse
            .as_ref()
            .and_then(|r| r.lock().unwrap_or_else(|p| p.into_inner()).pop());
        let (store, instance, reused) = match warm {
            Some(mut w) => {
                w.store.data_mut().reset_for_call(&self.limits);
                (w.store, Some(w.instance), true)
            }
            None => match self.new_store(None, &[]) {
                Ok(s) => (s, None, false),
                Err(e) => return Outcome::failed(name, "run", e),
            },
        };
        let input = input.to_string();
        let (outcome, kept) = self
            .execute("run", store, started, async move |store| {
                let instance = match instance {
                    Some(i) => i,
                    None => {
                        let t = Instant::now();
                        let i = pre.instantiate_async(&mut *store).await?;
                        store.data_mut().receipt.instantiate_us = t.elapsed().as_micros() as u64;
                        i
                    }
                };
                let r = instance.call_run(&mut *store, &input).await?;
                Ok((r, instance))
            })
            .await;
        let mut outcome = outcome.map(|(r, instance)| Ok((r, instance)));
        outcome.receipt.reused_instance = reused;
        // Put the instance back (reuse mode) before looking at the guest's answer.
        let outcome = outcome.map(|(r, instance)| {
            if let (Some(pool), Some(store)) = (&self.reuse, kept) {
                pool.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Warm { store, instance });
            }
            Ok(r)
        });
        let limit = self.limits.output_bytes;
        let used = outcome.receipt.output_bytes;
        let mut outcome = outcome.map(|r| match r {
            Ok(output) => {
                if output.len() + used > limit {
                    return Err(Error::OutputTooLarge {
                        plugin: name.to_string(),
                        limit,
                        stream: "result".into(),
                    });
                }
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&output) {
                    return Err(Error::Serialization {
                        plugin: name.to_string(),
                        reason: format!("the guest returned text that is not JSON: {e}"),
                    });
                }
                Ok(RunOutput { output })
            }
            Err(message) if self.plugin.is_script_engine() => Err(script_error(name, &message)),
            Err(message) => Err(Error::GuestError {
                plugin: name.to_string(),
                message,
            }),
        });
        if let Ok(o) = &outcome.result {
            outcome.receipt.output_bytes += o.output.len();
        }
        outcome
    }

    fn missing(&self, export: &str, wanted: &str) -> Error {
        let mut available: Vec<String> = self
            .plugin
            .exports()
            .iter()
            .map(|f| format!("{}: {}", f.path(), f.signature))
            .collect();
        if available.is_empty() {
            available.push("(none)".into());
        }
        Error::MissingExport {
            plugin: self.plugin.name().to_string(),
            export: format!("{export}: {wanted}"),
            available,
        }
    }

    /// Run a WASI command (`wasi:cli/run`) with `stdin` and `args`; returns
    /// the exit code. stdout and stderr are in the outcome, under the output cap.
    pub async fn run_command(&self, stdin: &[u8], args: &[String]) -> Outcome<i32> {
        let started = Instant::now();
        let name = self.plugin.name();
        let Some(pre) = self.plugin.inner.command_pre.clone() else {
            return Outcome::failed(
                name,
                "wasi:cli/run",
                self.missing("wasi:cli/run", "a WASI command"),
            );
        };
        if let Err(e) = self.check_input(stdin) {
            return Outcome::failed(name, "wasi:cli/run", e);
        }
        let store = match self.new_store(Some(stdin.to_vec()), args) {
            Ok(s) => s,
            Err(e) => return Outcome::failed(name, "wasi:cli/run", e),
        };
        let (outcome, _) = self
            .execute("wasi:cli/run", store, started, async move |store| {
                let t = Instant::now();
                let cmd = pre.instantiate_async(&mut *store).await?;
                store.data_mut().receipt.instantiate_us = t.elapsed().as_micros() as u64;
                match cmd.wasi_cli_run().call_run(&mut *store).await {
                    Ok(Ok(())) => Ok(0),
                    Ok(Err(())) => Ok(1),
                    Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                        Some(exit) => Ok(exit.0),
                        None => Err(e),
                    },
                }
            })
            .await;
        outcome
    }

    fn find_func(&self, target: &str) -> Result<ExportFunc> {
        let funcs = self.plugin.exports();
        let matches: Vec<&ExportFunc> = match target.rsplit_once('#') {
            Some((inst, func)) => funcs
                .iter()
                .filter(|f| {
                    f.name == func
                        && f.instance.as_deref().is_some_and(|i| {
                            let unversioned = i.split('@').next().unwrap_or(i);
                            i == inst
                                || unversioned == inst
                                || unversioned.rsplit('/').next() == Some(inst)
                        })
                })
                .collect(),
            None => {
                let top: Vec<&ExportFunc> = funcs
                    .iter()
                    .filter(|f| f.instance.is_none() && f.name == target)
                    .collect();
                if top.is_empty() {
                    funcs.iter().filter(|f| f.name == target).collect()
                } else {
                    top
                }
            }
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(self.missing(target, "a function")),
            many => Err(Error::InvalidInput {
                plugin: self.plugin.name().to_string(),
                reason: format!(
                    "`{target}` is ambiguous: {}; qualify it as `interface#function`",
                    many.iter().map(|f| f.path()).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// Invoke any exported function with WAVE arguments, e.g. `add(1, 2)`,
    /// `calc#greet("x", some(2))` or `warden:typed/calc@0.1.0#norm({x: 3.0, y: 4.0})`.
    pub async fn invoke(&self, call: &str) -> Outcome<Invoked> {
        let name = self.plugin.name();
        let invalid = |reason: String| Error::InvalidInput {
            plugin: name.to_string(),
            reason,
        };
        let call = call.trim();
        let (target, args) = match call.find('(') {
            Some(i) => (&call[..i], &call[i..]),
            None => (call, "()"),
        };
        if let Err(e) = self.check_input(call.as_bytes()) {
            return Outcome::failed(name, target, e);
        }
        let func = match self.find_func(target.trim()) {
            Ok(f) => f,
            Err(e) => return Outcome::failed(name, target, e),
        };
        let parsed = match wasmtime::component::wasm_wave::untyped::UntypedFuncCall::parse(
            &format!("f{args}"),
        ) {
            Ok(p) => p.into_owned(),
            Err(e) => {
                return Outcome::failed(
                    name,
                    target,
                    invalid(format!("bad WAVE call `{call}`: {e}")),
                );
            }
        };
        self.invoke_with(func, move |types| {
            parsed
                .to_wasm_params::<Val>(types.iter())
                .map_err(|e| format!("bad WAVE arguments `{args}`: {e}"))
        })
        .await
    }

    /// Invoke any exported function with JSON arguments (one per parameter).
    pub async fn invoke_json(&self, target: &str, args: &[serde_json::Value]) -> Outcome<Invoked> {
        let name = self.plugin.name();
        // Strings count as their own bytes, not their escaped JSON form.
        let size: usize = args
            .iter()
            .map(|a| match a {
                serde_json::Value::String(s) => s.len(),
                other => other.to_string().len(),
            })
            .sum();
        if size > self.limits.input_bytes {
            return Outcome::failed(
                name,
                target,
                Error::InputTooLarge {
                    plugin: name.to_string(),
                    size,
                    limit: self.limits.input_bytes,
                },
            );
        }
        let func = match self.find_func(target) {
            Ok(f) => f,
            Err(e) => return Outcome::failed(name, target, e),
        };
        let args = args.to_vec();
        self.invoke_with(func, move |types| {
            if types.len() != args.len() {
                return Err(format!(
                    "expected {} arguments, got {}",
                    types.len(),
                    args.len()
                ));
            }
            types
                .iter()
                .zip(&args)
                .enumerate()
                .map(|(i, (t, a))| {
                    crate::values::json_to_val(a, t).map_err(|e| format!("argument {}: {e}", i + 1))
                })
                .collect()
        })
        .await
    }

    async fn invoke_with(
        &self,
        func: ExportFunc,
        params: impl FnOnce(&[wasmtime::component::Type]) -> std::result::Result<Vec<Val>, String>,
    ) -> Outcome<Invoked> {
        let started = Instant::now();
        let name = self.plugin.name();
        let export = func.path();
        let Ok(pre) = self.plugin.inner.pre.clone() else {
            return Outcome::failed(name, &export, Error::internal("no instance-pre"));
        };
        let component = &self.plugin.inner.component;
        let index = match &func.instance {
            Some(inst) => component
                .get_export_index(None, inst)
                .and_then(|i| component.get_export_index(Some(&i), &func.name)),
            None => component.get_export_index(None, &func.name),
        };
        let Some(index) = index else {
            return Outcome::failed(name, &export, self.missing(&export, "a function"));
        };
        let store = match self.new_store(None, &[]) {
            Ok(s) => s,
            Err(e) => return Outcome::failed(name, &export, e),
        };
        let plugin_name = name.to_string();
        let (outcome, _) = self
            .execute(&export, store, started, async move |store| {
                let t = Instant::now();
                let instance = pre.instantiate_async(&mut *store).await?;
                store.data_mut().receipt.instantiate_us = t.elapsed().as_micros() as u64;
                let f = instance
                    .get_func(&mut *store, index)
                    .ok_or_else(|| wasmtime::format_err!("export is not a function"))?;
                let ty = f.ty(&*store);
                let param_types: Vec<_> = ty.params().map(|(_, t)| t).collect();
                let params = match params(&param_types) {
                    Ok(p) => p,
                    Err(reason) => return Ok(Err(reason)),
                };
                let mut results = vec![Val::Bool(false); ty.results().len()];
                f.call_async(&mut *store, &params, &mut results).await?;
                Ok(Ok(results))
            })
            .await;
        outcome.map(|r| {
            let results = r.map_err(|reason| Error::InvalidInput {
                plugin: plugin_name.clone(),
                reason,
            })?;
            let wave = results
                .iter()
                .map(|v| {
                    wasmtime::component::wasm_wave::to_string(v).map_err(|e| Error::Serialization {
                        plugin: plugin_name.clone(),
                        reason: format!("result has no WAVE form: {e}"),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let json = match results.as_slice() {
                [] => Some(serde_json::Value::Null),
                [one] => crate::values::val_to_json(one).ok(),
                many => many
                    .iter()
                    .map(crate::values::val_to_json)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .ok()
                    .map(serde_json::Value::Array),
            };
            Ok(Invoked { wave, json })
        })
    }
}
