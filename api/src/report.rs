//! What comes back: [`ExecutionReport`] (output or error, runtime and why,
//! compile report, timings, memory, receipt, guest output), [`Decision`],
//! runtime listings ([`RuntimeInfo`], [`RuntimeStatus`], [`Health`]), jobs
//! ([`JobStatus`]) and metrics ([`MetricsSnapshot`]).

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::grants::Capability;
use crate::language::{Complexity, Language, Latency};
use crate::receipt::{LogLine, Receipt};
use crate::request::Blob;

/// Which runtime was chosen, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// The runtime.
    pub runtime: String,
    /// Why, in one sentence.
    pub reason: String,
    /// Whether the caller named the runtime.
    pub overridden: bool,
    /// The other candidates and why each was not chosen.
    pub rejected: Vec<Rejection>,
}

/// A candidate that was not chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Rejection {
    /// The runtime.
    pub runtime: String,
    /// Why not.
    pub reason: String,
}

/// How a compile went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompileReport {
    /// Served from a cache (the controller's, or the runtime's on disk).
    pub cached: bool,
    /// Time spent, in microseconds.
    pub micros: u64,
    /// A note for humans when it was slow (e.g. `compiled with rustc 1.99.1 in 620 ms; cached for next time`).
    pub note: Option<String>,
}

impl CompileReport {
    /// A compile that began at `started` and is done now; `cached` when its
    /// result came from a cache. The one constructor every compile path uses.
    pub fn timed(started: std::time::Instant, cached: bool) -> Self {
        CompileReport {
            cached,
            micros: started.elapsed().as_micros() as u64,
            note: None,
        }
    }

    /// Served from the controller's own cache: no time spent.
    pub fn hit() -> Self {
        CompileReport {
            cached: true,
            micros: 0,
            note: None,
        }
    }

    /// With a note for humans (kept as it was when `None`).
    pub fn with_note(mut self, note: Option<String>) -> Self {
        if note.is_some() {
            self.note = note;
        }
        self
    }
}

/// What a runtime is, for the scheduler and for `warden runtimes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeInfo {
    /// Unique name (`wasm`, `js`, `python`, `rust`, `ebpf`).
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// The languages it runs.
    pub languages: Vec<Language>,
    /// The capabilities it can grant a guest; asking for another is refused.
    pub capabilities: Vec<Capability>,
    /// Higher wins when several runtimes qualify.
    pub priority: i32,
    /// The best latency class a warm call meets.
    pub latency: Latency,
    /// The most complex code it accepts.
    pub complexity: Complexity,
    /// The longest expected duration it is suited for (`None`: no bound).
    #[serde(with = "crate::units::opt_duration")]
    #[schemars(schema_with = "crate::units::opt_duration::schema")]
    pub max_duration: Option<Duration>,
    /// Typical warm call, for humans (e.g. `~30 µs fresh instance`).
    pub typical: String,
    /// Whether limits (timeout, memory, fuel) apply as configured; eBPF's
    /// bounds come from the verifier instead.
    pub enforces_limits: bool,
    /// Whether it meters fuel (a fuel budget is refused otherwise).
    pub fuel: bool,
}

/// A runtime's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum Health {
    /// Ready to run code.
    Healthy,
    /// Runs code, with a caveat (e.g. its first compile will be slow).
    Degraded(String),
    /// Cannot run code here; the reason says what is missing.
    Unavailable(String),
}

impl Health {
    /// Whether code can be scheduled on it.
    pub fn is_usable(&self) -> bool {
        !matches!(self, Health::Unavailable(_))
    }
}

/// Where a runtime is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeState {
    /// Never started (starts on first use).
    Idle,
    /// Started.
    Running,
    /// Stopped by a caller.
    Stopped,
    /// Its start failed (retried after a while).
    Failed,
}

impl RuntimeState {
    /// `idle`, `running`, `stopped` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeState::Idle => "idle",
            RuntimeState::Running => "running",
            RuntimeState::Stopped => "stopped",
            RuntimeState::Failed => "failed",
        }
    }
}

/// A runtime as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeStatus {
    /// Its metadata.
    pub info: RuntimeInfo,
    /// Its lifecycle state.
    pub state: RuntimeState,
    /// The health check's answer.
    pub health: Health,
}

/// The result of one execution, whatever happened, as sent over the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionReport {
    /// Whether it produced an output.
    pub ok: bool,
    /// The output (JSON), when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// The typed error, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The runtime that ran it (`None` when refused before scheduling).
    pub runtime: Option<String>,
    /// Which runtime was chosen and why.
    pub decision: Option<Decision>,
    /// How compiling went (`None` for an instance id or an early refusal).
    pub compile: Option<CompileReport>,
    /// Time spent waiting for a slot, in µs.
    pub queued_us: u64,
    /// Time the runtime spent on the call (instantiation included), in µs.
    pub execution_us: u64,
    /// Everything, from the call to its result, in µs.
    pub total_us: u64,
    /// Peak linear memory, in bytes (0 for eBPF).
    pub memory_bytes: u64,
    /// What the call cost and touched.
    pub receipt: Receipt,
    /// What the guest wrote to stdout.
    #[serde(default, skip_serializing_if = "Blob::is_empty")]
    pub stdout: Blob,
    /// What the guest wrote to stderr.
    #[serde(default, skip_serializing_if = "Blob::is_empty")]
    pub stderr: Blob,
    /// What the guest logged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
}

/// State of an async job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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

/// A job as polled, on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobStatus {
    /// The job id.
    pub id: String,
    /// Its state.
    pub state: JobState,
    /// Time since it was submitted, in µs.
    pub age_us: u64,
    /// The execution, once finished.
    pub execution: Option<ExecutionReport>,
}

impl JobStatus {
    /// Time since it was submitted.
    pub fn age(&self) -> Duration {
        Duration::from_micros(self.age_us)
    }
}

/// Counts for one runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimeMetrics {
    /// Executions that reached the runtime or were refused for it.
    pub executions: u64,
    /// Of those, successful.
    pub succeeded: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Failures by error code.
    pub failures_by_code: BTreeMap<String, u64>,
    /// Sum of execution wall times, in microseconds.
    pub latency_sum_us: u64,
    /// Mean execution wall time, in microseconds.
    pub latency_mean_us: f64,
}

/// A point-in-time copy of a controller's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricsSnapshot {
    /// Every `execute` (one-shot, by instance id, or as a job), finished.
    pub executions: u64,
    /// Of those, successful.
    pub succeeded: u64,
    /// Of those, failed (refusals, BUSY and cancellations included).
    pub failed: u64,
    /// Failures by error code, over all runtimes.
    pub failures_by_code: BTreeMap<String, u64>,
    /// By runtime (`-` for calls refused before a runtime was chosen).
    pub by_runtime: BTreeMap<String, RuntimeMetrics>,
    /// Calls waiting for a slot now.
    pub queue_depth: i64,
    /// Calls running now.
    pub in_flight: i64,
    /// Lookups of compiled code (one-shot `execute`) that hit the cache.
    pub module_cache_hits: u64,
    /// … and that missed it (compiled).
    pub module_cache_misses: u64,
    /// Instance lookups (one-shot `execute`, by policy) that found one.
    pub instance_cache_hits: u64,
    /// … and that made one.
    pub instance_cache_misses: u64,
    /// Jobs submitted.
    pub jobs_submitted: u64,
    /// Jobs cancelled.
    pub jobs_cancelled: u64,
}

impl MetricsSnapshot {
    /// Module-cache hit rate in [0, 1] (0 with no lookups).
    pub fn module_cache_hit_rate(&self) -> f64 {
        let total = self.module_cache_hits + self.module_cache_misses;
        if total == 0 {
            0.0
        } else {
            self.module_cache_hits as f64 / total as f64
        }
    }
}
