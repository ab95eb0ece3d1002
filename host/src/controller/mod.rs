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
//! - **Policy.** Every call's [`ExecConfig`] goes through the one lowering
//!   ([`crate::policy::lower_config`]: a trust preset, grants added, limits
//!   overridden) and is checked against a [`Ceiling`]: the controller's own
//!   ([`ControllerOptions::ceiling`]) or a caller's
//!   ([`Controller::execute_within`]); above it, `OVER_CEILING`.
//! - **Admission.** At most `max_in_flight` calls run at once; up to
//!   `queue_capacity` more wait, and one more is refused with `BUSY`. A call's
//!   timeout includes its time in the queue unless the config says otherwise.
//! - **Jobs.** [`Controller::submit`] → job id; [`Controller::job`] polls,
//!   [`Controller::wait`] awaits, [`Controller::cancel`] cancels; finished
//!   jobs are kept for `job_ttl`.
//! - **Metrics.** [`Controller::metrics`] (a struct) and
//!   [`Controller::prometheus`] (text exposition, prometheus-client).
//!
//! The modules follow those parts: [`registry`](self) (runtimes and their
//! states), `caches`, `lifecycle` (with the one queue-time rule),
//! `oneshot`, `jobs` and `metrics`; the request and report types are
//! `warden-api`'s, re-exported here.
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
mod caches;
mod execution;
mod jobs;
mod lifecycle;
mod metrics;
mod oneshot;
mod queue;
mod registry;
pub mod runtime;
pub mod rust;
mod rust_source;
pub mod schedule;
pub mod snippet;
pub mod wasm;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use execution::{Execution, ModuleHandle};
pub use jobs::JobSnapshot;
pub use metrics::{MetricsSnapshot, RuntimeMetrics};
pub use runtime::{
    BoxFuture, CompileReport, CompiledModule, Complexity, Health, Input, Language, Latency,
    ModuleInstance, Runtime, RuntimeInfo,
};
pub use schedule::{Decision, Hints, Rejection};
pub use warden_api::{
    Ceiling, ExecConfig, ExecuteRequest, ExecutionReport, JobState, JobStatus, RuntimeState,
    RuntimeStatus,
};

use crate::error::{Error, Result};
use admission::Admission;
use caches::{CodeCache, DecisionCache, InstanceEntry, ModuleEntry};
use jobs::Job;
use metrics::Metrics;
use registry::{Registered, RtState};

/// Controller-wide settings, as data (durations and sizes in `warden-api`'s
/// one JSON form).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerOptions {
    /// Calls running at once (all runtimes together).
    pub max_in_flight: usize,
    /// Calls waiting for a slot; one more is refused with `BUSY`.
    pub queue_capacity: usize,
    /// Compiled modules kept for one-shot `execute` (least recently used out).
    pub module_cache_capacity: usize,
    /// Largest source or Wasm accepted, in bytes (`INPUT_TOO_LARGE` above).
    #[serde(with = "warden_api::units::usize_size")]
    pub max_code_bytes: usize,
    /// How long a finished job's result is kept.
    #[serde(with = "warden_api::units::duration")]
    pub job_ttl: Duration,
    /// Most jobs kept (finished ones expire first); a submit beyond is `BUSY`.
    pub max_jobs: usize,
    /// How long a runtime whose start failed waits before a call may retry it.
    #[serde(with = "warden_api::units::duration")]
    pub retry_failed_start_after: Duration,
    /// The most any call may ask for (default: everything); a front end
    /// with per-caller ceilings passes its own to
    /// [`Controller::execute_within`].
    pub ceiling: Ceiling,
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
            ceiling: Ceiling::unlimited(),
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

    pub(super) fn new_id(&self, prefix: &str) -> String {
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

    /// The metrics now.    /// The metrics now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The metrics in the Prometheus text format.
    pub fn prometheus(&self) -> String {
        self.inner.metrics.prometheus()
    }
}
