//! # warden-node
//!
//! The Node.js addon behind the npm package `@warden/node`. It converts and
//! nothing else: every request, config and result crosses the boundary as
//! the JSON of a `warden-api` type (whose TypeScript types are generated
//! from the same Rust types), and every decision — the policy lowering, the
//! ceiling, the scheduling, the limits — is made by `warden-host` and
//! `warden-runtimes`. The ergonomic API (`Warden.create`, `execute`,
//! `callJson`, `AbortSignal`) is the package's JavaScript in `node/lib`.
//!
//! Every call runs on napi-rs's tokio runtime, never on Node's main
//! thread. A guest awaiting a JS host function waits on a threadsafe
//! function, so other calls keep running meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Promise, within_runtime_if_available};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Either, Error, Result, Status};
use napi_derive::napi;
use serde::Deserialize;
use tokio::sync::Notify;
use warden_api::{Ceiling, ExecConfig, ExecuteRequest, Hints, Input, Language};
use warden_host::{CallFunctions, Controller, Event, Host, HostCall, HostConfig, HostFn};
use warden_runtimes::RuntimesConfig;

/// What `Warden.create` takes (the JS options object, as JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Options {
    host: HostConfig,
    runtimes: RuntimesConfig,
    /// Names of the host functions the JS side registered.
    host_functions: Vec<String>,
}

/// A warden error as a JS error whose message is the JSON `ErrorBody`
/// (the JS side turns it into a `WardenError` with `.code`).
fn warden_error(e: warden_host::Error) -> Error {
    let body = serde_json::to_string(&e.body()).unwrap_or_else(|_| e.to_string());
    Error::new(Status::GenericFailure, format!("WARDEN:{body}"))
}

/// A bad argument: a JS `TypeError` naming it.
fn bad_argument(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(Status::InvalidArg, format!("{what}: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    warden_api::from_json(json).map_err(|e| bad_argument(what, e))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::from_reason(format!("serializing: {e}")))
}

/// The JS dispatcher of host functions: `(name, argsJson) => Promise<string>`.
/// Weak: it does not keep Node's event loop alive (a pending call does).
type HostFunctions =
    ThreadsafeFunction<(String, String), Promise<String>, (String, String), Status, false, true>;
/// Where guest events go: `(eventJson) => void`. Weak, likewise.
type EventCallback = ThreadsafeFunction<String, (), String, Status, false, true>;
/// Where guest log lines go as they are written: `(lineJson) => void`. Weak, likewise.
type LogCallback = ThreadsafeFunction<String, (), String, Status, false, true>;

/// Cancellation by id: `abort(id)` may come before or after the call began.
#[derive(Debug, Default)]
struct Aborts(Mutex<HashMap<u32, Arc<Notify>>>);

impl Aborts {
    fn token(&self, id: u32) -> Arc<Notify> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    fn forget(&self, id: u32) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

/// One host and one controller with every runtime the options ask for.
#[napi]
#[derive(Debug)]
pub struct NativeWarden {
    host: Host,
    controller: Controller,
    aborts: Arc<Aborts>,
    closed: std::sync::atomic::AtomicBool,
}

/// Make a warden from the options JSON; `host_functions`, `on_event` and
/// `on_log` are the JS callbacks, called on Node's event loop.
#[napi]
pub async fn create(
    options_json: String,
    host_functions: Option<Arc<HostFunctions>>,
    on_event: Option<Arc<EventCallback>>,
    on_log: Option<Arc<LogCallback>>,
) -> Result<NativeWarden> {
    let options: Options = parse("options", &options_json)?;
    let mut builder = options.host.builder().map_err(warden_error)?;
    if let Some(dispatch) = host_functions {
        for name in options.host_functions {
            let f = js_host_fn(&dispatch, &name);
            builder = builder.host_fn(name, move |call| f(call));
        }
    }
    if let Some(on_event) = on_event {
        builder = builder.event_sink(move |event: Event| {
            if let Ok(json) = serde_json::to_string(&event) {
                on_event.call(
                    json,
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        });
    }
    if let Some(on_log) = on_log {
        builder = builder.log_sink(move |plugin: &str, level: &str, message: &str| {
            let line = serde_json::json!({ "plugin": plugin, "level": level, "message": message });
            on_log.call(
                line.to_string(),
                napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
            );
        });
    }
    let host = builder.build().map_err(warden_error)?;
    let controller = warden_runtimes::controller_started(&host, options.runtimes)
        .await
        .map_err(warden_error)?;
    Ok(NativeWarden {
        host,
        controller,
        aborts: Arc::default(),
        closed: false.into(),
    })
}

/// The host function `name`, answered by the JS dispatcher.
fn js_host_fn(dispatch: &Arc<HostFunctions>, name: &str) -> HostFn {
    let dispatch = dispatch.clone();
    let name = name.to_string();
    Arc::new(move |call: HostCall| {
        let dispatch = dispatch.clone();
        let name = name.clone();
        Box::pin(async move {
            let args = call.args.to_string();
            let promise = dispatch
                .call_async((name, args))
                .await
                .map_err(|e| e.reason.clone())?;
            let text = promise.await.map_err(|e| e.reason.clone())?;
            serde_json::from_str(&text)
                .map_err(|e| format!("the host function returned no JSON: {e}"))
        })
    })
}

/// A call's own host functions (`hostFunctions` given to `execute`).
fn call_functions(
    dispatch: Option<Arc<HostFunctions>>,
    names: Option<Vec<String>>,
) -> CallFunctions {
    let mut fns = CallFunctions::new();
    if let Some(dispatch) = dispatch {
        for name in names.unwrap_or_default() {
            let f = js_host_fn(&dispatch, &name);
            fns = fns.with_fn(name, f);
        }
    }
    fns
}

/// A call's code: text, or bytes (a component, an eBPF object).
fn code_of(code: Either<String, Buffer>) -> Arc<[u8]> {
    match code {
        Either::A(text) => text.into_bytes().into(),
        Either::B(bytes) => bytes.to_vec().into(),
    }
}

#[napi]
impl NativeWarden {
    fn live(&self) -> Result<&Controller> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::new(
                Status::Closing,
                "WARDEN:{\"code\":\"UNAVAILABLE\",\"message\":\"this Warden is closed\"}",
            ));
        }
        Ok(&self.controller)
    }

    /// Pre-warm every runtime: `[[name, errorJson | null], …]` as JSON.
    #[napi]
    pub async fn start(&self) -> Result<String> {
        let results = self.live()?.start().await;
        let out: Vec<(String, Option<warden_api::ErrorBody>)> = results
            .into_iter()
            .map(|(name, r)| (name, r.err().map(|e| e.body())))
            .collect();
        to_json(&out)
    }

    /// Drain and free: later calls fail with `UNAVAILABLE`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.controller.stop().await;
        Ok(())
    }

    /// Execute a request (`ExecuteRequest` JSON, code given apart as text or
    /// bytes): the `ExecutionReport` JSON. With `abort_id`, `abort(id)`
    /// stops it.
    #[napi]
    pub async fn execute(
        &self,
        request_json: String,
        code: Either<String, Buffer>,
        abort_id: Option<u32>,
        host_functions: Option<Arc<HostFunctions>>,
        host_function_names: Option<Vec<String>>,
    ) -> Result<String> {
        let controller = self.live()?;
        let mut request: ExecuteRequest = parse("request", &request_json)?;
        request.code = code_of(code);
        let ceiling = controller.options().ceiling.clone();
        let own = call_functions(host_functions, host_function_names);
        let execution = match abort_id {
            Some(id) => {
                let token = self.aborts.token(id);
                let e = own
                    .scope(controller.execute_until(
                        request,
                        &ceiling,
                        token.notified(),
                        "an AbortSignal",
                    ))
                    .await;
                self.aborts.forget(id);
                e
            }
            None => own.scope(controller.execute(request)).await,
        };
        to_json(&execution.report())
    }

    /// Stop the call started with `abort_id` `id` (also when it has not
    /// begun yet).
    #[napi(catch_unwind)]
    pub fn abort(&self, id: u32) {
        self.aborts.token(id).notify_one();
    }

    /// Compile: `{ id, decision, compile }` JSON.
    #[napi]
    pub async fn compile(
        &self,
        language: String,
        code: Either<String, Buffer>,
        hints_json: Option<String>,
        runtime: Option<String>,
    ) -> Result<String> {
        let controller = self.live()?;
        let language: Language = serde_json::from_value(serde_json::Value::String(language))
            .map_err(|e| bad_argument("language", e))?;
        let hints: Hints = match hints_json {
            Some(h) => parse("hints", &h)?,
            None => Hints::default(),
        };
        let code = code_of(code);
        let handle = controller
            .compile(language, &code, &hints, runtime.as_deref())
            .await
            .map_err(warden_error)?;
        to_json(&handle)
    }

    /// An instance of a module under a config (`ExecConfig` JSON): its id.
    #[napi(catch_unwind)]
    pub fn instantiate(&self, module: String, config_json: Option<String>) -> Result<String> {
        let config: ExecConfig = match config_json {
            Some(c) => parse("config", &c)?,
            None => ExecConfig::default(),
        };
        let controller = self.live()?;
        within_runtime_if_available(|| controller.instantiate(&module, &config))
            .map_err(warden_error)
    }

    /// Run an instance once on JSON input: the `ExecutionReport` JSON.
    #[napi]
    pub async fn execute_instance(&self, instance: String, input_json: String) -> Result<String> {
        let execution = self
            .live()?
            .execute_instance(&instance, &Input::Json(input_json))
            .await;
        to_json(&execution.report())
    }

    /// Drop an instance.
    #[napi(catch_unwind)]
    pub fn destroy(&self, instance: String) -> Result<()> {
        self.live()?.destroy(&instance).map_err(warden_error)
    }

    /// Drop a compiled module.
    #[napi(catch_unwind)]
    pub fn drop_module(&self, module: String) -> Result<()> {
        self.live()?.drop_module(&module).map_err(warden_error)
    }

    /// Submit a job: its id.
    #[napi(catch_unwind)]
    pub fn submit(
        &self,
        request_json: String,
        code: Either<String, Buffer>,
        host_functions: Option<Arc<HostFunctions>>,
        host_function_names: Option<Vec<String>>,
    ) -> Result<String> {
        let mut request: ExecuteRequest = parse("request", &request_json)?;
        request.code = code_of(code);
        let controller = self.live()?;
        let own = call_functions(host_functions, host_function_names);
        within_runtime_if_available(|| own.sync_scope(|| controller.submit(request)))
            .map_err(warden_error)
    }

    /// A job's status (`JobStatus` JSON).
    #[napi(catch_unwind)]
    pub fn job(&self, id: String) -> Result<String> {
        to_json(&self.live()?.job(&id).map_err(warden_error)?.report())
    }

    /// Wait for a job to end: its `JobStatus` JSON.
    #[napi]
    pub async fn wait(&self, id: String) -> Result<String> {
        let snapshot = self.live()?.wait(&id).await.map_err(warden_error)?;
        to_json(&snapshot.report())
    }

    /// Cancel a job: its state afterwards (JSON string).
    #[napi(catch_unwind)]
    pub fn cancel(&self, id: String) -> Result<String> {
        let controller = self.live()?;
        to_json(&within_runtime_if_available(|| controller.cancel(&id)).map_err(warden_error)?)
    }

    /// Every runtime with its health (`RuntimeStatus[]` JSON).
    #[napi]
    pub async fn runtimes(&self) -> Result<String> {
        to_json(&self.live()?.runtimes().await)
    }

    /// Start one runtime.
    #[napi]
    pub async fn start_runtime(&self, name: String) -> Result<()> {
        self.live()?
            .start_runtime(&name)
            .await
            .map_err(warden_error)
    }

    /// Stop one runtime.
    #[napi]
    pub async fn stop_runtime(&self, name: String) -> Result<()> {
        self.live()?.stop_runtime(&name).await.map_err(warden_error)
    }

    /// The metrics (`MetricsSnapshot` JSON).
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Result<String> {
        to_json(&self.live()?.metrics())
    }

    /// The metrics in Prometheus' text format.
    #[napi(catch_unwind)]
    pub fn prometheus(&self) -> Result<String> {
        Ok(self.live()?.prometheus())
    }

    /// The ceiling every call of this warden is checked against (`Ceiling` JSON).
    #[napi(catch_unwind)]
    pub fn ceiling(&self) -> Result<String> {
        let ceiling: &Ceiling = &self.live()?.options().ceiling;
        to_json(ceiling)
    }

    /// Load a plugin and describe it under grants (`Grants` JSON): the
    /// `PluginDescription` JSON.
    #[napi]
    pub async fn inspect(
        &self,
        name: String,
        bytes: Buffer,
        grants_json: Option<String>,
    ) -> Result<String> {
        let grants: warden_api::Grants = match grants_json {
            Some(g) => parse("grants", &g)?,
            None => warden_api::Grants::default(),
        };
        let bytes = bytes.to_vec();
        let host = self.host.clone();
        let description = tokio::task::spawn_blocking(move || {
            host.load_bytes(&name, &bytes)
                .map(|p| p.describe(&grants, Some(&bytes)))
        })
        .await
        .map_err(|e| Error::from_reason(format!("the loading thread failed: {e}")))?
        .map_err(warden_error)?;
        to_json(&description)
    }
}

/// Plugins: TypeScript of a component's exports, and calls of one export
/// with JSON arguments.
#[napi]
impl NativeWarden {
    /// Where `list<u8>` sits in each export's result (see
    /// `warden_host::byte_shapes_of`), as JSON.
    #[napi]
    pub async fn byte_shapes(&self, name: String, bytes: Buffer) -> Result<String> {
        let bytes = bytes.to_vec();
        let shapes =
            tokio::task::spawn_blocking(move || warden_host::byte_shapes_of(&name, &bytes))
                .await
                .map_err(|e| Error::from_reason(format!("the decoding thread failed: {e}")))?
                .map_err(|e| bad_argument("plugin", e))?;
        to_json(&shapes)
    }

    /// TypeScript declarations of the component's exports (from its WIT).
    #[napi]
    pub async fn types(&self, name: String, bytes: Buffer) -> Result<String> {
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || warden_host::typescript_of(&name, &bytes))
            .await
            .map_err(|e| Error::from_reason(format!("the decoding thread failed: {e}")))?
            .map_err(|e| bad_argument("plugin", e))
    }

    /// Call export `target` (`name` or `interface#name`) of the component
    /// with JSON arguments, under `config` (lowered and checked against the
    /// ceiling like every call): `{ ok, value | error, receipt }` JSON.
    #[napi]
    pub async fn invoke_json(
        &self,
        name: String,
        bytes: Buffer,
        target: String,
        args_json: String,
        config_json: Option<String>,
    ) -> Result<String> {
        let controller = self.live()?;
        let config: ExecConfig = match config_json {
            Some(c) => parse("config", &c)?,
            None => ExecConfig::default(),
        };
        let args: Vec<serde_json::Value> = parse("args", &args_json)?;
        let policy = warden_host::lower_config(&config, &controller.options().ceiling)
            .map_err(warden_error)?;
        let host = self.host.clone();
        let bytes = bytes.to_vec();
        let plugin = tokio::task::spawn_blocking(move || host.load_bytes(&name, &bytes))
            .await
            .map_err(|e| Error::from_reason(format!("the loading thread failed: {e}")))?
            .map_err(warden_error)?;
        let prepared = plugin.prepare(policy).map_err(warden_error)?;
        let outcome = prepared.invoke_json(&target, &args).await;
        let body = match outcome.result {
            Ok(inv) => {
                serde_json::json!({ "ok": true, "value": inv.json, "receipt": outcome.receipt })
            }
            Err(e) => {
                serde_json::json!({ "ok": false, "error": e.body(), "receipt": outcome.receipt })
            }
        };
        Ok(body.to_string())
    }
}

/// For the binding-overhead benchmark (`make bench-node`): the same
/// `execute_instance` call made `n` times from Rust in this process, each
/// call's time in µs, to set beside the same calls made from JS.
#[napi]
impl NativeWarden {
    #[napi]
    pub async fn time_execute_instance(
        &self,
        instance: String,
        input_json: String,
        n: u32,
    ) -> Result<Vec<f64>> {
        let controller = self.live()?;
        let input = Input::Json(input_json);
        let mut micros = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let t = std::time::Instant::now();
            let e = controller.execute_instance(&instance, &input).await;
            micros.push(t.elapsed().as_secs_f64() * 1e6);
            if let Err(e) = e.into_result() {
                return Err(warden_error(e));
            }
        }
        Ok(micros)
    }
}

/// A Rust panic at the boundary, on purpose: the test that it becomes a JS
/// error and Node keeps running.
#[napi(catch_unwind)]
pub fn panic_for_test() {
    panic!("a test panic at the napi boundary");
}
