//! `warden:plugin/host`: JSON-in, JSON-out callbacks into async functions the
//! embedder registered. Which names a plugin may call is part of its grants.
//!
//! Functions come from two places: the host's own (registered once with
//! `HostBuilder::host_fn`, shared by every call) and a call's own
//! ([`CallFunctions`], visible to the calls made inside
//! [`CallFunctions::scope`] alone, so two tenants' callbacks never mix). A
//! call's own function shadows a host function of the same name.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Ctx;
use super::sinks::{Event, EventSink, LogSink};
use crate::bindings::WitError;
use crate::bindings::warden::plugin::host::Host;
use crate::policy::{Capability, HostFnGrant};
use crate::receipt::Receipt;

/// What a host function receives.
#[derive(Debug, Clone)]
pub struct HostCall {
    /// The calling plugin.
    pub plugin: String,
    /// The arguments, parsed from the guest's JSON.
    pub args: serde_json::Value,
}

/// The boxed future a host function returns: a JSON value or an error message
/// (which the guest receives as `failed(message)`).
pub type HostFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;

/// A registered host function.
pub type HostFn = Arc<dyn Fn(HostCall) -> HostFuture + Send + Sync>;

tokio::task_local! {
    /// The functions and sinks of the call running on this task (see
    /// [`CallFunctions`]).
    static CALL_FNS: Arc<Scope>;
}

/// What a [`CallFunctions`] scope holds.
#[derive(Clone, Default)]
struct Scope {
    fns: HashMap<String, HostFn>,
    events: Option<Arc<dyn EventSink>>,
    logs: Option<Arc<dyn LogSink>>,
}

/// Send `event` to the calling scope's own event sink, if it has one.
pub(crate) fn emit_to_scope(event: &Event) {
    if let Ok(Some(sink)) = CALL_FNS.try_with(|s| s.events.clone()) {
        sink.emit(event.clone());
    }
}

/// Send a log line to the calling scope's own log sink, if it has one.
pub(crate) fn log_to_scope(plugin: &str, level: &str, message: &str) {
    if let Ok(Some(sink)) = CALL_FNS.try_with(|s| s.logs.clone()) {
        sink.log(plugin, level, message);
    }
}

/// Host functions that belong to some calls only: every call made inside
/// [`CallFunctions::scope`] sees them (and the host's own), calls made
/// elsewhere do not. The grant still decides which names a guest may call.
///
/// ```
/// # async fn demo(controller: warden_host::Controller, request: warden_host::ExecuteRequest) {
/// use warden_host::CallFunctions;
/// let tenant = CallFunctions::new()
///     .with("whoami", |_call| async { Ok(serde_json::json!("tenant-a")) });
/// let execution = tenant.scope(controller.execute(request)).await;
/// # drop(execution);
/// # }
/// ```
///
/// The scope is the future's (a Tokio task-local): it covers everything that
/// future awaits, including a job submitted from inside it
/// ([`crate::Controller::submit`] carries the scope into the job's task).
#[derive(Clone, Default)]
pub struct CallFunctions(Arc<Scope>);

impl std::fmt::Debug for CallFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.0.fns.keys().collect();
        names.sort();
        f.debug_struct("CallFunctions")
            .field("fns", &names)
            .field("events", &self.0.events.is_some())
            .field("logs", &self.0.logs.is_some())
            .finish()
    }
}

impl CallFunctions {
    /// No functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) the function `name`.
    pub fn with<F, Fut>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, String>> + Send + 'static,
    {
        let f: HostFn = Arc::new(move |call| Box::pin(f(call)));
        Arc::make_mut(&mut self.0).fns.insert(name.into(), f);
        self
    }

    /// Add (or replace) the already boxed function `name`.
    pub fn with_fn(mut self, name: impl Into<String>, f: HostFn) -> Self {
        Arc::make_mut(&mut self.0).fns.insert(name.into(), f);
        self
    }

    /// Also send the events of these calls to `sink` (the host's sink
    /// still gets them). The grant still decides which topics may be
    /// emitted.
    pub fn event_sink(mut self, sink: impl EventSink + 'static) -> Self {
        Arc::make_mut(&mut self.0).events = Some(Arc::new(sink));
        self
    }

    /// Also send the log lines of these calls to `sink`, as they are
    /// written (the host's sink still gets them).
    pub fn log_sink(mut self, sink: impl LogSink + 'static) -> Self {
        Arc::make_mut(&mut self.0).logs = Some(Arc::new(sink));
        self
    }

    /// Whether it has no functions and no sinks.
    pub fn is_empty(&self) -> bool {
        self.0.fns.is_empty() && self.0.events.is_none() && self.0.logs.is_none()
    }

    /// Run `fut` with these functions visible to the calls it makes.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CALL_FNS.scope(self.0, fut).await
    }

    /// Run `f` (synchronous: a job's `submit`) with these functions visible
    /// to the calls it starts.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CALL_FNS.sync_scope(self.0, f)
    }

    /// The functions of the calling task's scope, if it is inside one.
    pub fn current() -> Option<CallFunctions> {
        CALL_FNS.try_with(|f| CallFunctions(f.clone())).ok()
    }
}

/// The host-function capability of one call: the registered functions,
/// which of them the grant allows, and which were called.
pub(crate) struct HostFnCtx {
    plugin: Arc<str>,
    fns: Arc<HashMap<String, HostFn>>,
    grant: HostFnGrant,
    called: BTreeSet<String>,
}

impl std::fmt::Debug for HostFnCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostFnCtx")
            .field("grant", &self.grant)
            .field("called", &self.called)
            .finish_non_exhaustive()
    }
}

impl HostFnCtx {
    pub(crate) fn new(
        plugin: Arc<str>,
        fns: Arc<HashMap<String, HostFn>>,
        grant: HostFnGrant,
    ) -> Self {
        HostFnCtx {
            plugin,
            fns,
            grant,
            called: BTreeSet::new(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.called.clear();
    }

    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        receipt.host_fns.append(&mut self.called);
    }
}

impl Host for Ctx<'_, HostFnCtx> {
    async fn call(
        &mut self,
        name: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        self.meter.count(Capability::Host)?;
        let cx = &mut *self.cap;
        if !cx.grant.allows(&name) {
            let msg = self
                .meter
                .deny(Capability::Host, &format!("host function `{name}`"));
            return Ok(Err(WitError::Denied(msg)));
        }
        cx.called.insert(name.clone());
        let own = CALL_FNS
            .try_with(|s| s.fns.get(&name).cloned())
            .ok()
            .flatten();
        let Some(f) = own.or_else(|| cx.fns.get(&name).cloned()) else {
            let mut known: Vec<_> = cx.fns.keys().cloned().collect();
            if let Ok(own) = CALL_FNS.try_with(|s| s.fns.keys().cloned().collect::<Vec<_>>()) {
                known.extend(own);
            }
            known.sort();
            known.dedup();
            return Ok(Err(WitError::Invalid(format!(
                "no host function named `{name}` (registered: {})",
                known.join(", ")
            ))));
        };
        let args = match serde_json::from_str(&args_json) {
            Ok(v) => v,
            Err(e) => return Ok(Err(WitError::Invalid(format!("args are not JSON: {e}")))),
        };
        let result = f(HostCall {
            plugin: cx.plugin.to_string(),
            args,
        })
        .await;
        Ok(match result {
            Ok(v) => Ok(v.to_string()),
            Err(msg) => Err(WitError::Failed(msg)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Meter;
    use super::*;

    fn fns() -> Arc<HashMap<String, HostFn>> {
        let echo: HostFn = Arc::new(|call: HostCall| {
            Box::pin(async move { Ok(serde_json::json!({"from": call.plugin, "args": call.args})) })
        });
        let fail: HostFn = Arc::new(|_| Box::pin(async { Err("nope".to_string()) }));
        Arc::new(HashMap::from([
            ("echo".into(), echo),
            ("fail".into(), fail),
        ]))
    }

    #[tokio::test]
    async fn calls_granted_functions_only_without_wasm() {
        let mut meter = Meter::new("p".into(), 100);
        let grant = HostFnGrant::Only(["echo".to_string(), "fail".into(), "ghost".into()].into());
        let mut hf = HostFnCtx::new("p".into(), fns(), grant);
        let mut cx = Ctx {
            cap: &mut hf,
            meter: &mut meter,
        };
        let out = cx.call("echo".into(), "[1]".into()).await.unwrap().unwrap();
        assert_eq!(out, r#"{"args":[1],"from":"p"}"#);
        assert!(matches!(
            cx.call("fail".into(), "null".into()).await.unwrap(),
            Err(WitError::Failed(m)) if m == "nope"
        ));
        assert!(matches!(
            cx.call("echo".into(), "{".into()).await.unwrap(),
            Err(WitError::Invalid(m)) if m.starts_with("args are not JSON")
        ));
        assert!(matches!(
            cx.call("ghost".into(), "1".into()).await.unwrap(),
            Err(WitError::Invalid(m)) if m.contains("registered: echo, fail")
        ));
        let mut none = HostFnCtx::new("p".into(), fns(), HostFnGrant::None);
        let mut cx = Ctx {
            cap: &mut none,
            meter: &mut meter,
        };
        assert!(matches!(
            cx.call("echo".into(), "1".into()).await.unwrap(),
            Err(WitError::Denied(m)) if m == "host: host function `echo` is not granted"
        ));
        let mut receipt = Receipt::default();
        hf.record(&mut receipt);
        meter.record(&mut receipt);
        assert_eq!(receipt.host_fns.len(), 3);
        assert_eq!(receipt.host_calls.host, 5);
        assert_eq!(receipt.denials.len(), 1);
    }
}
