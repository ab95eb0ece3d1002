//! # warden-host
//!
//! An embeddable, capability-enforcing host for WebAssembly components on
//! Wasmtime. Plugins target one shared WIT world (`warden:plugin/plugin`,
//! vendored in `wit/`): they import capabilities (`log`, `kv`, `host`,
//! `events`, and WASI's files, environment, HTTP and sockets) and export
//! `run(input) -> result<string, string>`. Every capability is denied unless
//! the [`Policy`] grants it, and every resource has a hard [`Limits`] stop
//! with its own typed [`Error`] code.
//!
//! The path of a call: bytes → [`Component`](wasmtime::component::Component)
//! (a `.cwasm` cache hit deserializes in well under a millisecond) →
//! `InstancePre` (once per plugin) → [`Plugin::prepare`] checks the imports
//! against the grants (once per policy) → per call a fresh `Store` with the
//! limits and the granted capability contexts, an instance from the pooling
//! allocator, the call, a [`Receipt`] → drop.
//!
//! ```
//! use warden_host::{Capability, ErrorCode, Grants, Host, Limits, Policy};
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), warden_host::Error> {
//! # let plugin_path = warden_fixtures::HOST_CALLBACK;
//! let host = Host::builder()
//!     .host_fn("add", |call| async move {
//!         let a = call.args["a"].as_i64().ok_or("a must be an integer")?;
//!         let b = call.args["b"].as_i64().ok_or("b must be an integer")?;
//!         Ok(serde_json::json!(a + b))
//!     })
//!     .build()?;
//! let plugin = host.load_file(plugin_path)?; // a component, WAT, or a WASI preview1 module
//!
//! // Nothing granted: the plugin imports `warden:plugin/host`, so it never starts.
//! let denied = plugin.prepare(Policy::deny_all()).unwrap_err();
//! assert_eq!(denied.code(), ErrorCode::CapabilityDenied);
//!
//! // Grant the one function it needs, with a 500 ms timeout.
//! let policy = Policy::deny_all()
//!     .with_grants(Grants::none().allow(Capability::Log)?.allow_host_fns(["add"]))
//!     .with_limits(Limits { timeout: std::time::Duration::from_millis(500), ..Limits::default() });
//! let prepared = plugin.prepare(policy)?;
//! let outcome = prepared.run(r#"{"name":"add","args":{"a":40,"b":2}}"#).await;
//! assert_eq!(outcome.receipt.host_calls.host, 1);
//! assert_eq!(outcome.into_result()?.output, "42");
//! # Ok(()) }
//! ```
//!
//! This example runs as a doctest against the `host-callback` guest that the
//! test build compiles; `examples/embed.rs` in the repository is a longer one
//! (`cargo run --release --example embed`).
//!
//! ## The runtime controller
//! [`Controller`] (module [`controller`]) runs code in any registered
//! language: `execute(code, language, config, hints)` schedules it on a
//! runtime (table-driven, with the reason in the result), with admission
//! (`BUSY` when the queue is full), a compile → instantiate → execute →
//! destroy lifecycle, async jobs and metrics. This crate ships the `wasm` and
//! `rust` runtimes; `warden-runtimes` registers them all.
//!
//! ## Errors
//! [`Error::code`] gives a stable [`ErrorCode`]: `NOT_WASM`,
//! `NOT_A_COMPONENT`, `COMPILE`, `MISSING_EXPORT`, `INVALID_INPUT`,
//! `INPUT_TOO_LARGE`, `CAPABILITY_DENIED`, `TIMEOUT`, `MEMORY_LIMIT`,
//! `TABLE_LIMIT`, `FUEL_EXHAUSTED`, `HOST_CALL_LIMIT`, `OUTPUT_TOO_LARGE`,
//! `TRAP`, `GUEST_ERROR`, `SERIALIZATION`, `IO`, `INTERNAL`, and from the
//! controller `VERIFIER_REJECTED`, `BUSY`, `NOT_FOUND`, `NO_RUNTIME`,
//! `UNAVAILABLE`, `CANCELLED`, and from the policy lowering `OVER_CEILING`.
//! [`ErrorCode::class`] groups them ([`ErrorClass`]); [`Error::body`] is the
//! wire form.

mod bindings;
mod cache;
pub mod capabilities;
mod componentize;
mod config;
pub mod controller;
mod engine;
mod error;
mod host;
mod limits;
mod plugin;
pub mod policy;
mod preinit;
mod receipt;
pub mod script;
mod state;
mod typescript;
pub mod values;

/// Lock `m`, also after a panic elsewhere poisoned it (every guarded state
/// here stays consistent between statements).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use cache::CacheStatus;
pub use capabilities::events::{Event, EventSink, MemoryEventSink, TracingEventSink};
pub use capabilities::host_call::{CallFunctions, HostCall, HostFn, HostFuture};
pub use capabilities::kv::{FileKv, KvBackend, KvError, MemoryKv};
pub use capabilities::log::LogSink;
pub use componentize::{SourceKind, componentize};
pub use config::{BuiltinFn, HostConfig, KvConfig};
pub use controller::runtime::Complexity;
pub use controller::{
    Controller, ControllerBuilder, ControllerOptions, ExecConfig, ExecuteRequest, Execution,
    ExecutionReport, Hints, Input, JobSnapshot, JobState, JobStatus, Language, Latency,
    MetricsSnapshot,
};
pub use engine::{EngineOptions, WardenEngine};
pub use error::{Error, ErrorBody, ErrorClass, ErrorCode, Result};
pub use host::{Host, HostBuilder};
pub use limits::Limits;
pub use plugin::{
    Call, Called, ExportFunc, HttpResponseBody, Invoked, Outcome, Plugin, PluginKind, Prepared,
    RunOutput, script_error, wit_of,
};
pub use policy::{
    Capability, Ceiling, DirGrant, EnvGrant, Grants, HostFnGrant, KvGrant, LimitOverrides, Pattern,
    Policy, TrustLevel, lower_config,
};
pub use receipt::{HostCalls, LogLine, Receipt};
pub use state::CallState;
pub use typescript::{byte_shapes_of, typescript_of};
/// The wire types (requests, configs, reports, errors), re-exported whole.
pub use warden_api as api;

/// The WIT of the shared world, for `warden inspect` and tooling.
pub const PLUGIN_WIT: &str = include_str!("../../wit/plugin.wit");

// The book's chapter on embedding: its Rust examples run as doctests of this
// crate (`cargo test --doc -p warden-host`), so the book cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/src/embedding.md")]
pub struct EmbeddingGuide;
