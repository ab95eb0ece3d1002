//! The runtime controller: `execute(code, language, config, hints)` across
//! every registered runtime.
//!
//! - **Registry.** Runtimes ([`Runtime`]: Wasm and Rust here; JS in
//!   `warden-js`, Python in `warden-python`, eBPF in `warden-ebpf`) register
//!   with metadata ([`RuntimeInfo`]), a health check, start and stop.
//!   [`Controller::start`] pre-warms them all (engines compiled, pre-instances
//!   ready); a runtime that was never started starts on first use.
//! - **Scheduler.** The language gives the candidates, the [`Hints`] and the
//!   config choose among them; the [`Decision`] and its reason are part of
//!   every result. See [`schedule`] for the table.
//! - **Lifecycle.** [`Controller::compile`] → module id,
//!   [`Controller::instantiate`] → instance id, [`Controller::execute_instance`],
//!   [`Controller::destroy`]. Ids are opaque; an unknown or destroyed id is
//!   `NOT_FOUND`. [`Controller::execute`] does all four in one call, with
//!   compiled code cached by content hash.
//! - **Admission.** At most `max_in_flight` calls run at once; up to
//!   `queue_capacity` more wait, and one more is refused with `BUSY`. A call's
//!   timeout includes its time in the queue unless the config says otherwise.
//! - **Jobs.** [`Controller::submit`] → job id; [`Controller::job`] polls,
//!   [`Controller::wait`] awaits, [`Controller::cancel`] cancels; finished
//!   jobs are kept for `job_ttl`.
//! - **Metrics.** [`Controller::metrics`] (a struct) and
//!   [`Controller::prometheus`] (text exposition, prometheus-client).
//!
//! `warden-runtimes` registers every runtime; here, the `wasm` runtime alone:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), warden_host::Error> {
//! use std::sync::Arc;
//! use warden_host::controller::wasm::WasmRuntime;
//! use warden_host::{Controller, ExecuteRequest, Host, Input, Language};
//!
//! let host = Host::builder().build()?;
//! let controller = Controller::builder()
//!     .register(Arc::new(WasmRuntime::new(host)))
//!     .build()?;
//! let wat = r#"(component
//!     (core module $m (func (export "add") (param i32 i32) (result i32)
//!         local.get 0 local.get 1 i32.add))
//!     (core instance $i (instantiate $m))
//!     (func (export "add") (param "a" s32) (param "b" s32) (result s32)
//!         (canon lift (core func $i "add"))))"#;
//! let run = controller
//!     .execute(ExecuteRequest::new(Language::Wasm, wat).input(Input::Invoke("add(40, 2)".into())))
//!     .await;
//! assert_eq!(run.runtime(), Some("wasm"));
//! assert_eq!(run.into_result()?, serde_json::json!(42));
//!
//! // No runtime for JavaScript on this controller: a typed refusal.
//! let refused = controller
//!     .execute(ExecuteRequest::new(Language::JavaScript, "() => 1"))
//!     .await;
//! assert_eq!(refused.into_result().unwrap_err().code().as_str(), "NO_RUNTIME");
//! # Ok(()) }
//! ```

mod admission;
mod metrics;
pub mod runtime;
pub mod rust;
pub mod schedule;
pub mod wasm;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use metrics::{MetricsSnapshot, RuntimeMetrics};
pub use runtime::{
    BoxFuture, CompileReport, CompiledModule, Complexity, Health, Input, Language, Latency,
    ModuleInstance, Runtime, RuntimeInfo,
};
pub use schedule::{Decision, Hints, Rejection};

use crate::error::{Error, Result};
use crate::lock;
use crate::plugin::Outcome;
use crate::policy::{Capability, Grants, Policy, TrustLevel};
use crate::receipt::{LogLine, Receipt};
use admission::Admission;
use metrics::Metrics;
use schedule::{Candidate, Demands};

/// Controller-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerOptions {
    /// Calls running at once (all runtimes together).
    pub max_in_flight: usize,
    /// Calls waiting for a slot; one more is refused with `BUSY`.
    pub queue_capacity: usize,
    /// Compiled modules kept for one-shot `execute` (least recently used out).
    pub module_cache_capacity: usize,
    /// Largest source or Wasm accepted, in bytes (`INPUT_TOO_LARGE` above).
    pub max_code_bytes: usize,
    /// How long a finished job's result is kept.
    pub job_ttl: Duration,
    /// Most jobs kept (finished ones expire first); a submit beyond is `BUSY`.
    pub max_jobs: usize,
    /// How long a runtime whose start failed waits before a call may retry it.
    pub retry_failed_start_after: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            max_in_flight: 64,
            queue_capacity: 1024,
            module_cache_capacity: 256,
            max_code_bytes: 32 << 20,
            job_ttl: Duration::from_secs(600),
            max_jobs: 10_000,
            retry_failed_start_after: Duration::from_secs(5),
        }
    }
}

/// What the code may touch: explicit grants (deny by default), a trust
/// level preset, or a whole policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Exactly these grants (the default: none).
    Grants(Grants),
    /// The preset of a trust level (see [`TrustLevel`]).
    Trust(TrustLevel),
    /// Grants and every limit.
    Policy(Policy),
}

impl Default for Access {
    fn default() -> Self {
        Access::Grants(Grants::none())
    }
}

/// Per-call configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecConfig {
    /// Wall-clock limit (default: the access's, 5 s for plain grants).
    #[serde(with = "crate::limits::opt_duration_ms")]
    pub timeout: Option<Duration>,
    /// Linear-memory limit in bytes.
    pub memory_bytes: Option<usize>,
    /// Fuel budget (only on runtimes that meter fuel; refused elsewhere).
    pub fuel: Option<u64>,
    /// Grants or trust level.
    pub access: Access,
    /// Every limit, replacing the access's (then `timeout`, `memory_bytes`
    /// and `fuel` apply on top).
    pub limits: Option<crate::limits::Limits>,
    /// Whether time spent queued counts against `timeout` (default: yes).
    pub include_queue_time: bool,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            timeout: None,
            memory_bytes: None,
            fuel: None,
            access: Access::default(),
            limits: None,
            include_queue_time: true,
        }
    }
}

impl ExecConfig {
    /// Grant exactly `grants`.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.access = Access::Grants(grants);
        self
    }

    /// Use a trust level's preset.
    pub fn with_trust(mut self, level: TrustLevel) -> Self {
        self.access = Access::Trust(level);
        self
    }

    /// Set the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The policy the call runs under.
    pub fn policy(&self) -> Policy {
        let mut policy = match &self.access {
            Access::Grants(g) => Policy::deny_all().with_grants(g.clone()),
            Access::Trust(level) => Policy::trust(*level),
            Access::Policy(p) => p.clone(),
        };
        if let Some(limits) = &self.limits {
            policy.limits = limits.clone();
        }
        if let Some(t) = self.timeout {
            policy.limits.timeout = t;
        }
        if let Some(m) = self.memory_bytes {
            policy.limits.memory_bytes = m;
        }
        if self.fuel.is_some() {
            policy.limits.fuel = self.fuel;
        }
        policy
    }

    /// Capabilities asked for by name (explicit grants and policies; a trust
    /// preset asks for none: it only bounds).
    fn demanded(&self) -> Vec<Capability> {
        match &self.access {
            Access::Grants(g) => g.granted(),
            Access::Policy(p) => p.grants.granted(),
            Access::Trust(_) => Vec::new(),
        }
    }
}

/// One `execute`.
#[derive(Debug, Clone)]
pub struct ExecuteRequest {
    /// The language of `code`.
    pub language: Language,
    /// Source text (UTF-8) or Wasm bytes.
    pub code: Arc<[u8]>,
    /// The input.
    pub input: Input,
    /// Limits and grants.
    pub config: ExecConfig,
    /// Scheduler hints.
    pub hints: Hints,
    /// Run on this runtime (the scheduler's rules still apply).
    pub runtime: Option<String>,
}

impl ExecuteRequest {
    /// `code` in `language`, with `null` input, nothing granted, no hints.
    pub fn new(language: Language, code: impl AsRef<[u8]>) -> Self {
        ExecuteRequest {
            language,
            code: Arc::from(code.as_ref()),
            input: Input::null(),
            config: ExecConfig::default(),
            hints: Hints::default(),
            runtime: None,
        }
    }

    /// JSON input.
    pub fn input_json(mut self, json: impl Into<String>) -> Self {
        self.input = Input::Json(json.into());
        self
    }

    /// Any input.
    pub fn input(mut self, input: Input) -> Self {
        self.input = input;
        self
    }

    /// The config.
    pub fn config(mut self, config: ExecConfig) -> Self {
        self.config = config;
        self
    }

    /// The hints.
    pub fn hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }

    /// An explicit runtime.
    pub fn runtime(mut self, name: impl Into<String>) -> Self {
        self.runtime = Some(name.into());
        self
    }
}

/// The result of one execution, whatever happened.
#[derive(Debug)]
pub struct Execution {
    /// The output (JSON), or the typed error.
    pub result: Result<serde_json::Value>,
    /// Which runtime ran it and why (`None` when refused before scheduling).
    pub decision: Option<Decision>,
    /// How compiling went (`None` for an instance id or an early refusal).
    pub compile: Option<CompileReport>,
    /// Time spent waiting for a slot.
    pub queued: Duration,
    /// Time the runtime spent on the call (instantiation included).
    pub execution_time: Duration,
    /// Everything, from the call to its result.
    pub total_time: Duration,
    /// Peak linear memory, in bytes (0 for eBPF).
    pub memory_bytes: u64,
    /// What the call cost and touched.
    pub receipt: Receipt,
    /// What the guest wrote to stdout.
    pub stdout: Bytes,
    /// What the guest wrote to stderr.
    pub stderr: Bytes,
    /// What the guest logged.
    pub logs: Vec<LogLine>,
}

impl Execution {
    fn refused(error: Error, decision: Option<Decision>, started: Instant) -> Self {
        Execution {
            result: Err(error),
            decision,
            compile: None,
            queued: Duration::ZERO,
            execution_time: Duration::ZERO,
            total_time: started.elapsed(),
            memory_bytes: 0,
            receipt: Receipt::default(),
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }

    /// The runtime that ran it.
    pub fn runtime(&self) -> Option<&str> {
        self.decision.as_ref().map(|d| d.runtime.as_str())
    }

    /// The output or the error, dropping the rest.
    pub fn into_result(self) -> Result<serde_json::Value> {
        self.result
    }

    /// A JSON summary: `ok`, `output` or `error` (`code`, `message`),
    /// `runtime`, `decision`, timings in µs, `memory_bytes`, `compile` and
    /// the receipt. What the server and the CLI print.
    pub fn summary(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ok": self.result.is_ok(),
            "runtime": self.runtime(),
            "decision": self.decision,
            "compile": self.compile,
            "queued_us": self.queued.as_micros() as u64,
            "execution_us": self.execution_time.as_micros() as u64,
            "total_us": self.total_time.as_micros() as u64,
            "memory_bytes": self.memory_bytes,
            "receipt": self.receipt,
        });
        match &self.result {
            Ok(out) => v["output"] = out.clone(),
            Err(e) => {
                v["error"] =
                    serde_json::json!({"code": e.code().as_str(), "message": e.to_string()})
            }
        }
        v
    }
}

/// State of an async job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a slot.
    Queued,
    /// Running.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// Whether the job is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job as polled.
#[derive(Debug, Clone)]
pub struct JobStatus {
    /// The job id.
    pub id: String,
    /// Its state.
    pub state: JobState,
    /// Time since it was submitted.
    pub age: Duration,
    /// The execution, once finished.
    pub execution: Option<Arc<Execution>>,
}

/// A runtime as listed by [`Controller::runtimes`].
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeStatus {
    /// Its metadata.
    pub info: RuntimeInfo,
    /// `idle` (never started), `running`, `stopped` or `failed`.
    pub state: &'static str,
    /// The health check's answer.
    pub health: Health,
}

/// What [`Controller::compile`] made.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleHandle {
    /// The module id.
    pub id: String,
    /// The runtime chosen and why.
    pub decision: Decision,
    /// How compiling went.
    pub compile: CompileReport,
}

#[derive(Debug, Clone)]
enum RtState {
    Idle,
    Running,
    Stopped,
    Failed { reason: String, at: Instant },
}

#[derive(Debug)]
struct Registered {
    runtime: Arc<dyn Runtime>,
    info: RuntimeInfo,
    state: Mutex<RtState>,
    starting: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct ModuleEntry {
    runtime: usize,
    language: Language,
    decision: Decision,
    module: Arc<dyn CompiledModule>,
    compile: CompileReport,
    /// Instances made for one-shot executions, by policy (the few most
    /// recent): instantiating checks imports and copies grants, which a
    /// repeat under the same policy need not pay. Instances keep no state
    /// between executions, so sharing one is safe.
    instances: Mutex<Vec<(Policy, Arc<dyn ModuleInstance>)>>,
}

/// Code at least this long has its hash remembered by buffer address.
const MEMO_HASH_FROM: usize = 4096;

/// Instances kept per module for one-shot executions.
const INSTANCES_PER_MODULE: usize = 4;

impl ModuleEntry {
    fn instance(&self, policy: &Policy) -> Result<Arc<dyn ModuleInstance>> {
        if let Some((_, i)) = lock(&self.instances).iter().find(|(p, _)| p == policy) {
            return Ok(i.clone());
        }
        let instance = self.module.instantiate(policy)?;
        let mut kept = lock(&self.instances);
        if kept.len() >= INSTANCES_PER_MODULE {
            kept.remove(0);
        }
        kept.push((policy.clone(), instance.clone()));
        Ok(instance)
    }
}

#[derive(Debug)]
struct InstanceEntry {
    module: Arc<ModuleEntry>,
    instance: Arc<dyn ModuleInstance>,
    timeout: Duration,
    include_queue_time: bool,
}

#[derive(Debug)]
struct Job {
    state: JobState,
    submitted: Instant,
    finished: Option<Instant>,
    execution: Option<Arc<Execution>>,
    abort: Option<tokio::task::AbortHandle>,
    changed: tokio::sync::watch::Sender<JobState>,
}

#[derive(Debug, Default)]
struct CodeCache {
    entries: HashMap<[u8; 32], (Arc<ModuleEntry>, u64)>,
    tick: u64,
    /// Content hashes of code buffers seen, by address: a caller that passes
    /// the same `Arc<[u8]>` again skips hashing it. The clone kept here pins
    /// the (immutable) buffer, so an address cannot be reused for other bytes
    /// while it is in this map.
    by_buffer: HashMap<usize, (Arc<[u8]>, [u8; 32])>,
    /// The last few modules served, checked before any hashing: the same
    /// buffer, or equal small code, for the same runtime and language.
    recent: Vec<Recent>,
    /// The slot `recent` overwrites next once full.
    recent_next: usize,
}

#[derive(Debug)]
struct Recent {
    runtime: usize,
    language: Language,
    code: Arc<[u8]>,
    entry: Arc<ModuleEntry>,
}

/// Modules kept in [`CodeCache::recent`].
const RECENT_KEPT: usize = 8;

impl CodeCache {
    fn recent(&self, runtime: usize, req: &ExecuteRequest) -> Option<Arc<ModuleEntry>> {
        self.recent
            .iter()
            .find(|r| {
                r.runtime == runtime
                    && r.language == req.language
                    && (Arc::ptr_eq(&r.code, &req.code)
                        || (req.code.len() < MEMO_HASH_FROM && *r.code == *req.code))
            })
            .map(|r| r.entry.clone())
    }

    fn remember(&mut self, runtime: usize, req: &ExecuteRequest, entry: Arc<ModuleEntry>) {
        let r = Recent {
            runtime,
            language: req.language,
            code: req.code.clone(),
            entry,
        };
        if self.recent.len() < RECENT_KEPT {
            self.recent.push(r);
        } else {
            self.recent[self.recent_next] = r;
            self.recent_next = (self.recent_next + 1) % RECENT_KEPT;
        }
    }
}

#[derive(Debug)]
struct Inner {
    options: ControllerOptions,
    runtimes: Vec<Registered>,
    admission: Admission,
    metrics: Metrics,
    modules: Mutex<HashMap<String, Arc<ModuleEntry>>>,
    instances: Mutex<HashMap<String, Arc<InstanceEntry>>>,
    code_cache: Mutex<CodeCache>,
    jobs: Mutex<HashMap<String, Job>>,
    next_id: AtomicU64,
    id_seed: u64,
    /// Decisions made, while every runtime is idle or running (a failed
    /// runtime's retry window depends on the clock); cleared whenever a
    /// runtime's state changes. The scheduler is a pure function of its
    /// inputs, so a repeat needs no new decision.
    decisions: Mutex<DecisionCache>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    language: Language,
    hints: Hints,
    runtime: Option<String>,
    capabilities: Vec<Capability>,
    fuel: bool,
    timeout: Duration,
}

#[derive(Debug, Default)]
struct DecisionCache {
    /// Off while some runtime is failed or stopped.
    usable: bool,
    /// Bumped at every state change: a decision computed across one is not kept.
    generation: u64,
    entries: HashMap<DecisionKey, Decision>,
    /// Whole one-shot plans (policy, decision, runtime) for the last few
    /// distinct (language, hints, runtime override, config): a repeat skips
    /// building the policy and the decision key. Same lifetime as `entries`.
    plans: Vec<Arc<Plan>>,
}

/// What a one-shot request resolves to before its code is looked at.
#[derive(Debug)]
struct Plan {
    language: Language,
    hints: Hints,
    runtime_override: Option<String>,
    config: ExecConfig,
    policy: Policy,
    decision: Decision,
    runtime: usize,
}

impl Plan {
    fn matches(&self, req: &ExecuteRequest) -> bool {
        self.language == req.language
            && self.hints == req.hints
            && self.runtime_override.as_deref() == req.runtime.as_deref()
            && self.config == req.config
    }
}

/// Why a request gets no plan, and the decision when there was one.
type Refusal = Box<(Error, Option<Decision>)>;

/// Plans kept (then the oldest goes).
const PLANS_KEPT: usize = 16;

/// Decisions kept at most (then the cache starts over).
const DECISIONS_KEPT: usize = 1024;

/// Builds a [`Controller`].
#[derive(Debug, Default)]
pub struct ControllerBuilder {
    options: ControllerOptions,
    runtimes: Vec<Arc<dyn Runtime>>,
}

impl ControllerBuilder {
    /// Controller-wide settings.
    pub fn options(mut self, options: ControllerOptions) -> Self {
        self.options = options;
        self
    }

    /// Register a runtime.
    pub fn register(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtimes.push(runtime);
        self
    }

    /// Build; two runtimes with one name are an error.
    pub fn build(self) -> Result<Controller> {
        let mut runtimes: Vec<Registered> = Vec::new();
        for rt in self.runtimes {
            let info = rt.info();
            if runtimes.iter().any(|r| r.info.name == info.name) {
                return Err(Error::internal(format!(
                    "two runtimes are named `{}`",
                    info.name
                )));
            }
            runtimes.push(Registered {
                runtime: rt,
                info,
                state: Mutex::new(RtState::Idle),
                starting: tokio::sync::Mutex::new(()),
            });
        }
        let o = &self.options;
        Ok(Controller {
            inner: Arc::new(Inner {
                admission: Admission::new(o.max_in_flight, o.queue_capacity),
                metrics: Metrics::new(),
                runtimes,
                modules: Mutex::default(),
                instances: Mutex::default(),
                code_cache: Mutex::default(),
                jobs: Mutex::default(),
                next_id: AtomicU64::new(1),
                id_seed: RandomState::new().hash_one(0u8),
                decisions: Mutex::new(DecisionCache {
                    usable: true,
                    generation: 0,
                    entries: HashMap::new(),
                    plans: Vec::new(),
                }),
                options: self.options,
            }),
        })
    }
}

/// The runtime controller. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

impl Controller {
    /// Start configuring a controller.
    pub fn builder() -> ControllerBuilder {
        ControllerBuilder::default()
    }

    /// The settings.
    pub fn options(&self) -> &ControllerOptions {
        &self.inner.options
    }

    fn new_id(&self, prefix: &str) -> String {
        // splitmix64 of a counter keyed per process: unique and not guessable
        // from another id.
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut z = n
            .wrapping_add(self.inner.id_seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        format!("{prefix}_{z:016x}{n:x}")
    }

    /// Set runtime `i`'s state and start the decision cache over.
    fn set_state(&self, i: usize, state: RtState) {
        *lock(&self.inner.runtimes[i].state) = state;
        let usable = self
            .inner
            .runtimes
            .iter()
            .all(|r| matches!(*lock(&r.state), RtState::Idle | RtState::Running));
        let mut cache = lock(&self.inner.decisions);
        cache.entries.clear();
        cache.plans.clear();
        cache.usable = usable;
        cache.generation += 1;
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.inner
            .runtimes
            .iter()
            .position(|r| r.info.name == name)
            .ok_or_else(|| Error::NotFound {
                kind: "runtime",
                id: name.to_string(),
            })
    }

    // ----- registry -------------------------------------------------------

    /// Start (pre-warm) every runtime that is not running. Returns each
    /// runtime's result; a failure leaves that runtime `failed` (listed with
    /// its reason) and the others usable.
    pub async fn start(&self) -> Vec<(String, Result<()>)> {
        let mut out = Vec::new();
        for i in 0..self.inner.runtimes.len() {
            let name = self.inner.runtimes[i].info.name.clone();
            out.push((name, self.ensure_started(i, true).await));
        }
        out
    }

    /// Stop every runtime.
    pub async fn stop(&self) {
        for (i, r) in self.inner.runtimes.iter().enumerate() {
            r.runtime.stop().await;
            self.set_state(i, RtState::Stopped);
        }
    }

    /// Start one runtime (also one that was stopped or failed).
    pub async fn start_runtime(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        self.ensure_started(i, true).await
    }

    /// Stop one runtime: calls scheduled on it are refused (`NO_RUNTIME`,
    /// naming it stopped) until it is started again. Instances already made
    /// keep working.
    pub async fn stop_runtime(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        let r = &self.inner.runtimes[i];
        let _guard = r.starting.lock().await;
        r.runtime.stop().await;
        self.set_state(i, RtState::Stopped);
        Ok(())
    }

    /// Every runtime with its state and a fresh health check.
    pub async fn runtimes(&self) -> Vec<RuntimeStatus> {
        let mut out = Vec::new();
        for r in &self.inner.runtimes {
            let state = lock(&r.state).clone();
            let health = match &state {
                RtState::Stopped => Health::Unavailable("stopped".into()),
                RtState::Failed { reason, .. } => {
                    Health::Unavailable(format!("start failed: {reason}"))
                }
                _ => r.runtime.health().await,
            };
            out.push(RuntimeStatus {
                info: r.info.clone(),
                state: match state {
                    RtState::Idle => "idle",
                    RtState::Running => "running",
                    RtState::Stopped => "stopped",
                    RtState::Failed { .. } => "failed",
                },
                health,
            });
        }
        out
    }

    /// Start runtime `i` unless running. `explicit`: also a stopped or
    /// failed one.
    async fn ensure_started(&self, i: usize, explicit: bool) -> Result<()> {
        let r = &self.inner.runtimes[i];
        let retry = self.inner.options.retry_failed_start_after;
        let check = || -> Option<Result<()>> {
            let unavailable = |reason: &str| {
                Some(Err(Error::Unavailable {
                    runtime: r.info.name.clone(),
                    reason: reason.to_string(),
                }))
            };
            match &*lock(&r.state) {
                RtState::Running => Some(Ok(())),
                RtState::Stopped if !explicit => unavailable("stopped"),
                RtState::Failed { reason, at } if !explicit && at.elapsed() < retry => {
                    unavailable(reason)
                }
                _ => None,
            }
        };
        if let Some(done) = check() {
            return done;
        }
        let _guard = r.starting.lock().await;
        // Another call may have started it while this one waited.
        if let Some(done) = check() {
            return done;
        }
        let started = Instant::now();
        match r.runtime.start().await {
            Ok(()) => {
                tracing::info!(runtime = %r.info.name, elapsed = ?started.elapsed(), "runtime started");
                self.set_state(i, RtState::Running);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(runtime = %r.info.name, "runtime failed to start: {e}");
                self.set_state(
                    i,
                    RtState::Failed {
                        reason: e.to_string(),
                        at: Instant::now(),
                    },
                );
                Err(Error::Unavailable {
                    runtime: r.info.name.clone(),
                    reason: e.to_string(),
                })
            }
        }
    }

    // ----- scheduling -----------------------------------------------------

    fn candidates(&self) -> Vec<Candidate<'_>> {
        let retry = self.inner.options.retry_failed_start_after;
        self.inner
            .runtimes
            .iter()
            .map(|r| Candidate {
                info: &r.info,
                health: match &*lock(&r.state) {
                    RtState::Stopped => Health::Unavailable("stopped".into()),
                    RtState::Failed { reason, at } if at.elapsed() < retry => {
                        Health::Unavailable(reason.clone())
                    }
                    _ => Health::Healthy,
                },
            })
            .collect()
    }

    /// The scheduler's decision for `language` under `hints` and `config`,
    /// without running anything (also what `--explain` prints).
    pub fn decide(
        &self,
        language: Language,
        hints: &Hints,
        config: &ExecConfig,
        runtime: Option<&str>,
    ) -> Result<Decision> {
        self.decide_with(language, hints, config, &config.policy(), runtime)
    }

    /// [`Controller::decide`] with the config's policy already made.
    fn decide_with(
        &self,
        language: Language,
        hints: &Hints,
        config: &ExecConfig,
        policy: &Policy,
        runtime: Option<&str>,
    ) -> Result<Decision> {
        let key = DecisionKey {
            language,
            hints: *hints,
            runtime: runtime.map(str::to_string),
            capabilities: config.demanded(),
            fuel: config.fuel.is_some(),
            timeout: policy.limits.timeout,
        };
        let generation = {
            let cache = lock(&self.inner.decisions);
            if let Some(d) = cache.entries.get(&key) {
                return Ok(d.clone());
            }
            cache.generation
        };
        let demands = Demands {
            capabilities: &key.capabilities,
            fuel: key.fuel,
            timeout: Some(key.timeout),
        };
        let decision = schedule::schedule(language, hints, &demands, &self.candidates(), runtime)?;
        let mut cache = lock(&self.inner.decisions);
        if cache.usable && cache.generation == generation {
            if cache.entries.len() >= DECISIONS_KEPT {
                cache.entries.clear();
            }
            cache.entries.insert(key, decision.clone());
        }
        Ok(decision)
    }

    // ----- lifecycle ------------------------------------------------------

    fn check_code(&self, code: &[u8]) -> Result<()> {
        let limit = self.inner.options.max_code_bytes;
        if code.len() > limit {
            return Err(Error::InputTooLarge {
                plugin: "code".into(),
                size: code.len(),
                limit,
            });
        }
        Ok(())
    }

    async fn compile_on(
        &self,
        i: usize,
        language: Language,
        code: &[u8],
        decision: Decision,
    ) -> Result<Arc<ModuleEntry>> {
        self.ensure_started(i, false).await?;
        let r = &self.inner.runtimes[i];
        let (module, compile) = r.runtime.compile(language, code).await?;
        Ok(Arc::new(ModuleEntry {
            runtime: i,
            language,
            decision,
            module,
            compile,
            instances: Mutex::new(Vec::new()),
        }))
    }

    /// Compile `code` on the runtime the scheduler picks (or `runtime`):
    /// a module id to instantiate. Compiling does not take a slot.
    pub async fn compile(
        &self,
        language: Language,
        code: &[u8],
        hints: &Hints,
        runtime: Option<&str>,
    ) -> Result<ModuleHandle> {
        self.check_code(code)?;
        let decision = self.decide(language, hints, &ExecConfig::default(), runtime)?;
        let i = self.index(&decision.runtime)?;
        let entry = self.compile_on(i, language, code, decision).await?;
        let id = self.new_id("mod");
        lock(&self.inner.modules).insert(id.clone(), entry.clone());
        Ok(ModuleHandle {
            id,
            decision: entry.decision.clone(),
            compile: entry.compile.clone(),
        })
    }

    /// An instance of module `module` under `config`'s grants and limits
    /// (imports are checked here). Its executions each get a fresh sandbox.
    pub fn instantiate(&self, module: &str, config: &ExecConfig) -> Result<String> {
        let entry = lock(&self.inner.modules)
            .get(module)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                kind: "module",
                id: module.to_string(),
            })?;
        // The capability and fuel rules apply to instances as to execute.
        let r = &self.inner.runtimes[entry.runtime];
        let demanded = config.demanded();
        if let Some(why) = schedule::refusal_for_config(&r.info, &demanded, config.fuel.is_some()) {
            return Err(Error::NoRuntime {
                language: entry.language.to_string(),
                reason: format!("runtime `{}` {why}", r.info.name),
            });
        }
        let policy = config.policy();
        let instance = entry.module.instantiate(&policy)?;
        let id = self.new_id("ins");
        lock(&self.inner.instances).insert(
            id.clone(),
            Arc::new(InstanceEntry {
                module: entry,
                instance,
                timeout: policy.limits.timeout,
                include_queue_time: config.include_queue_time,
            }),
        );
        Ok(id)
    }

    /// Run instance `instance` once on `input`.
    pub async fn execute_instance(&self, instance: &str, input: &Input) -> Execution {
        let started = Instant::now();
        let Some(entry) = lock(&self.inner.instances).get(instance).cloned() else {
            let e = Error::NotFound {
                kind: "instance",
                id: instance.to_string(),
            };
            self.inner
                .metrics
                .record("-", Some(e.code().as_str()), None);
            return Execution::refused(e, None, started);
        };
        let decision = entry.module.decision.clone();
        let slot = match self
            .inner
            .admission
            .admit(
                &self.inner.metrics,
                entry.include_queue_time.then_some(entry.timeout),
            )
            .await
        {
            Ok(s) => s,
            Err(e) => {
                self.inner
                    .metrics
                    .record(&decision.runtime, Some(e.code().as_str()), None);
                return Execution::refused(e, Some(decision), started);
            }
        };
        let queued = slot.queued;
        let run = entry.instance.execute(input);
        let outcome = if entry.include_queue_time && !queued.is_zero() {
            // The instance's own deadline started counting with the call;
            // cap the whole call at what is left of the timeout.
            let left = entry.timeout.saturating_sub(queued);
            match tokio::time::timeout(left, run).await {
                Ok(o) => o,
                Err(_) => Outcome::failed(
                    &decision.runtime,
                    "execute",
                    Error::Timeout {
                        plugin: decision.runtime.clone(),
                        limit: entry.timeout,
                    },
                ),
            }
        } else {
            run.await
        };
        drop(slot);
        self.finish(outcome, decision, None, queued, started)
    }

    /// Destroy an instance; later calls with its id are `NOT_FOUND`.
    pub fn destroy(&self, instance: &str) -> Result<()> {
        lock(&self.inner.instances)
            .remove(instance)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound {
                kind: "instance",
                id: instance.to_string(),
            })
    }

    /// Forget a module (its instances keep working until destroyed).
    pub fn drop_module(&self, module: &str) -> Result<()> {
        lock(&self.inner.modules)
            .remove(module)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound {
                kind: "module",
                id: module.to_string(),
            })
    }

    /// Instances alive.
    pub fn instance_count(&self) -> usize {
        lock(&self.inner.instances).len()
    }

    fn finish(
        &self,
        outcome: Outcome<serde_json::Value>,
        decision: Decision,
        compile: Option<CompileReport>,
        queued: Duration,
        started: Instant,
    ) -> Execution {
        let execution_time = Duration::from_micros(outcome.receipt.wall_time_us);
        let code = outcome.result.as_ref().err().map(|e| e.code().as_str());
        self.inner
            .metrics
            .record(&decision.runtime, code, Some(execution_time));
        Execution {
            memory_bytes: outcome.receipt.peak_memory_bytes as u64,
            result: outcome.result,
            decision: Some(decision),
            compile,
            queued,
            execution_time,
            total_time: started.elapsed(),
            receipt: outcome.receipt,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            logs: outcome.logs,
        }
    }

    // ----- one-shot -------------------------------------------------------

    /// Compile (cached by content hash), instantiate, run and drop: the
    /// output, the runtime and why, the timings, the memory and the receipt.
    pub async fn execute(&self, request: ExecuteRequest) -> Execution {
        self.execute_with(request, || {}).await
    }

    async fn execute_with(&self, req: ExecuteRequest, on_admitted: impl FnOnce()) -> Execution {
        let started = Instant::now();
        let metrics = &self.inner.metrics;
        let refuse = |e: Error, d: Option<Decision>| {
            metrics.record(
                d.as_ref().map(|d| d.runtime.as_str()).unwrap_or("-"),
                Some(e.code().as_str()),
                None,
            );
            Execution::refused(e, d, started)
        };
        if let Err(e) = self.check_code(&req.code) {
            return refuse(e, None);
        }
        let plan = match self.plan(&req) {
            Ok(p) => p,
            Err(r) => {
                let (e, d) = *r;
                return refuse(e, d);
            }
        };
        let (decision, i) = (plan.decision.clone(), plan.runtime);
        let timeout = plan.policy.limits.timeout;
        let slot = match self
            .inner
            .admission
            .admit(metrics, req.config.include_queue_time.then_some(timeout))
            .await
        {
            Ok(s) => s,
            Err(e) => return refuse(e, Some(decision)),
        };
        on_admitted();
        let queued = slot.queued;
        let (entry, compile) = match self.cached_module(i, &req, &decision).await {
            Ok(x) => x,
            Err(e) => return refuse(e, Some(decision)),
        };
        let mut policy = std::borrow::Cow::Borrowed(&plan.policy);
        if req.config.include_queue_time && !queued.is_zero() {
            policy.to_mut().limits.timeout = timeout.saturating_sub(queued);
        }
        let instance = match entry.instance(&policy) {
            Ok(i) => i,
            Err(e) => return refuse(e, Some(decision)),
        };
        let outcome = instance.execute(&req.input).await;
        drop(instance);
        drop(slot);
        self.finish(outcome, decision, Some(compile), queued, started)
    }

    /// The policy, decision and runtime for a one-shot request: a kept plan,
    /// or decided now (and kept while no runtime state changed meanwhile).
    fn plan(&self, req: &ExecuteRequest) -> std::result::Result<Arc<Plan>, Refusal> {
        let generation = {
            let cache = lock(&self.inner.decisions);
            if let Some(p) = cache.plans.iter().find(|p| p.matches(req)) {
                return Ok(p.clone());
            }
            cache.generation
        };
        let policy = req.config.policy();
        let decision = self
            .decide_with(
                req.language,
                &req.hints,
                &req.config,
                &policy,
                req.runtime.as_deref(),
            )
            .map_err(|e| Box::new((e, None)))?;
        let runtime = match self.index(&decision.runtime) {
            Ok(i) => i,
            Err(e) => return Err(Box::new((e, Some(decision)))),
        };
        let plan = Arc::new(Plan {
            language: req.language,
            hints: req.hints,
            runtime_override: req.runtime.clone(),
            config: req.config.clone(),
            policy,
            decision,
            runtime,
        });
        let mut cache = lock(&self.inner.decisions);
        if cache.usable && cache.generation == generation {
            if cache.plans.len() >= PLANS_KEPT {
                cache.plans.remove(0);
            }
            cache.plans.push(plan.clone());
        }
        Ok(plan)
    }

    /// The code cache key of a one-shot request: BLAKE3 over (runtime,
    /// language, then the code itself when small, else its remembered
    /// digest), with a tag byte keeping the two forms apart. Not async, so
    /// the hasher's state stays out of `execute`'s future.
    fn code_key(&self, i: usize, req: &ExecuteRequest) -> [u8; 32] {
        let address = Arc::as_ptr(&req.code) as *const u8 as usize;
        // Small sources hash faster than a lookup.
        let memo = req.code.len() >= MEMO_HASH_FROM;
        let known = if memo {
            lock(&self.inner.code_cache)
                .by_buffer
                .get(&address)
                .filter(|(buf, _)| Arc::ptr_eq(buf, &req.code))
                .map(|(_, hash)| *hash)
        } else {
            None
        };
        let mut h = blake3::Hasher::new();
        h.update(self.inner.runtimes[i].info.name.as_bytes());
        h.update(&[0, req.language as u8, 0]);
        match known {
            Some(digest) => {
                h.update(&[2]).update(&digest);
            }
            None if !memo => {
                h.update(&[1]).update(&req.code);
            }
            None => {
                let digest: [u8; 32] = blake3::hash(&req.code).into();
                let mut cache = lock(&self.inner.code_cache);
                if cache.by_buffer.len() >= self.inner.options.module_cache_capacity.max(1) {
                    cache.by_buffer.clear();
                }
                cache.by_buffer.insert(address, (req.code.clone(), digest));
                drop(cache);
                h.update(&[2]).update(&digest);
            }
        }
        h.finalize().into()
    }

    /// The compiled module for a one-shot request, from the code cache or
    /// compiled now.
    async fn cached_module(
        &self,
        i: usize,
        req: &ExecuteRequest,
        decision: &Decision,
    ) -> Result<(Arc<ModuleEntry>, CompileReport)> {
        let hit = |entry| {
            self.inner.metrics.cache_lookup(true);
            let report = CompileReport {
                cached: true,
                micros: 0,
                note: None,
            };
            Ok((entry, report))
        };
        let recent = lock(&self.inner.code_cache).recent(i, req);
        if let Some(entry) = recent {
            return hit(entry);
        }
        let key = self.code_key(i, req);
        {
            let mut cache = lock(&self.inner.code_cache);
            cache.tick += 1;
            let tick = cache.tick;
            if let Some((entry, used)) = cache.entries.get_mut(&key) {
                *used = tick;
                let entry = entry.clone();
                cache.remember(i, req, entry.clone());
                drop(cache);
                return hit(entry);
            }
        }
        self.inner.metrics.cache_lookup(false);
        // Boxed: the compile path is cold, and its state would otherwise
        // make every call's future larger.
        let entry = Box::pin(self.compile_on(i, req.language, &req.code, decision.clone())).await?;
        let report = entry.compile.clone();
        let mut cache = lock(&self.inner.code_cache);
        let capacity = self.inner.options.module_cache_capacity.max(1);
        while cache.entries.len() >= capacity {
            let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            cache.entries.remove(&oldest);
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.entries.insert(key, (entry.clone(), tick));
        cache.remember(i, req, entry.clone());
        Ok((entry, report))
    }

    // ----- jobs -----------------------------------------------------------

    fn sweep_jobs(&self, jobs: &mut HashMap<String, Job>) {
        let ttl = self.inner.options.job_ttl;
        jobs.retain(|_, j| j.finished.is_none_or(|f| f.elapsed() < ttl));
    }

    /// Submit a one-shot execution to run in the background: its job id.
    /// `BUSY` at once when the queue is full or too many jobs are kept. Call
    /// it within a Tokio runtime (the job is a Tokio task).
    pub fn submit(&self, request: ExecuteRequest) -> Result<String> {
        if self.inner.admission.is_full() {
            let e = Error::Busy {
                in_flight: self.inner.options.max_in_flight,
                queued: self.inner.options.queue_capacity,
            };
            self.inner
                .metrics
                .record("-", Some(e.code().as_str()), None);
            return Err(e);
        }
        let id = self.new_id("job");
        let (tx, _rx) = tokio::sync::watch::channel(JobState::Queued);
        {
            let mut jobs = lock(&self.inner.jobs);
            if jobs.len() >= self.inner.options.max_jobs {
                self.sweep_jobs(&mut jobs);
            }
            if jobs.len() >= self.inner.options.max_jobs {
                return Err(Error::Busy {
                    in_flight: self.inner.options.max_in_flight,
                    queued: jobs.len(),
                });
            }
            jobs.insert(
                id.clone(),
                Job {
                    state: JobState::Queued,
                    submitted: Instant::now(),
                    finished: None,
                    execution: None,
                    abort: None,
                    changed: tx,
                },
            );
        }
        self.inner.metrics.job_submitted();
        let this = self.clone();
        let job_id = id.clone();
        let task = tokio::spawn(async move {
            let running = {
                let this = this.clone();
                let job_id = job_id.clone();
                move || this.set_job_state(&job_id, JobState::Running)
            };
            let execution = this.execute_with(request, running).await;
            let state = if execution.result.is_ok() {
                JobState::Succeeded
            } else {
                JobState::Failed
            };
            let mut jobs = lock(&this.inner.jobs);
            if let Some(job) = jobs.get_mut(&job_id)
                && !job.state.is_finished()
            {
                job.state = state;
                job.finished = Some(Instant::now());
                job.execution = Some(Arc::new(execution));
                job.abort = None;
                job.changed.send_replace(state);
            }
        });
        if let Some(job) = lock(&self.inner.jobs).get_mut(&id)
            && !job.state.is_finished()
        {
            job.abort = Some(task.abort_handle());
        }
        Ok(id)
    }

    fn set_job_state(&self, id: &str, state: JobState) {
        if let Some(job) = lock(&self.inner.jobs).get_mut(id)
            && !job.state.is_finished()
        {
            job.state = state;
            job.changed.send_replace(state);
        }
    }

    /// Poll a job.
    pub fn job(&self, id: &str) -> Result<JobStatus> {
        let mut jobs = lock(&self.inner.jobs);
        self.sweep_jobs(&mut jobs);
        let job = jobs.get(id).ok_or_else(|| Error::NotFound {
            kind: "job",
            id: id.to_string(),
        })?;
        Ok(JobStatus {
            id: id.to_string(),
            state: job.state,
            age: job.submitted.elapsed(),
            execution: job.execution.clone(),
        })
    }

    /// Wait until a job finishes; its status.
    pub async fn wait(&self, id: &str) -> Result<JobStatus> {
        let mut rx = {
            let jobs = lock(&self.inner.jobs);
            let job = jobs.get(id).ok_or_else(|| Error::NotFound {
                kind: "job",
                id: id.to_string(),
            })?;
            job.changed.subscribe()
        };
        // The sender lives as long as the job; a sweep drops it, and then
        // `job` reports NOT_FOUND.
        let _ = rx.wait_for(|s| s.is_finished()).await;
        self.job(id)
    }

    /// Cancel a job: a queued one never runs, a running one is stopped (its
    /// sandbox is dropped). Cancelling a finished job changes nothing; its
    /// state is returned either way.
    pub fn cancel(&self, id: &str) -> Result<JobState> {
        let mut jobs = lock(&self.inner.jobs);
        let job = jobs.get_mut(id).ok_or_else(|| Error::NotFound {
            kind: "job",
            id: id.to_string(),
        })?;
        if job.state.is_finished() {
            return Ok(job.state);
        }
        if let Some(abort) = job.abort.take() {
            abort.abort();
        }
        job.state = JobState::Cancelled;
        job.finished = Some(Instant::now());
        let started = job.submitted;
        job.execution = Some(Arc::new(Execution::refused(
            Error::Cancelled {
                job: id.to_string(),
            },
            None,
            started,
        )));
        job.changed.send_replace(JobState::Cancelled);
        drop(jobs);
        self.inner.metrics.job_cancelled();
        self.inner.metrics.record("-", Some("CANCELLED"), None);
        Ok(JobState::Cancelled)
    }

    // ----- metrics --------------------------------------------------------

    /// The metrics now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The metrics in the Prometheus text format.
    pub fn prometheus(&self) -> String {
        self.inner.metrics.prometheus()
    }
}
