//! # warden-runtimes
//!
//! Every runtime warden ships, registered on one
//! [`Controller`](warden_host::Controller): `wasm` and `rust` (from
//! warden-host), `js` (warden-js), `python` (warden-python) and `ebpf`
//! (warden-ebpf). The CLI builds its controller here, so anything built on
//! this crate schedules as the CLI does.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), warden_host::Error> {
//! use warden_host::{ExecuteRequest, Hints, Host, Language, Latency};
//!
//! let host = Host::builder().build()?;
//! let controller = warden_runtimes::controller(&host, warden_runtimes::RuntimesConfig::default())?;
//!
//! let request = ExecuteRequest::new(Language::TypeScript, "(i: {n: number}) => i.n * 2")
//!     .input_json(r#"{"n": 21}"#)
//!     .hints(Hints { latency: Some(Latency::Low), ..Hints::default() });
//! let execution = controller.execute(request).await;
//! assert_eq!(execution.runtime(), Some("js"));
//! assert_eq!(execution.into_result()?, serde_json::json!(42));
//!
//! // No runtime runs Python within 1 ms per fresh instance: a refusal, not a fallback.
//! let refused = controller
//!     .execute(ExecuteRequest::new(Language::Python, "def run(i): return i")
//!         .hints(Hints { latency: Some(Latency::Low), ..Hints::default() }))
//!     .await;
//! assert_eq!(refused.into_result().unwrap_err().code().as_str(), "NO_RUNTIME");
//! # Ok(()) }
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use warden_host::controller::rust::{RustOptions, RustRuntime};
use warden_host::controller::wasm::WasmRuntime;
use warden_host::{Controller, ControllerOptions, Host, Result};

pub use warden_ebpf::controller::{EbpfRuntime, Mode as EbpfMode};
pub use warden_js::runtime::JsRuntime;
pub use warden_python::runtime::PythonRuntime;

/// The rustc of the toolchain warden was built with (it has the
/// wasm32-wasip2 target), or `rustc` on PATH when warden was not built
/// with rustup.
pub const DEFAULT_RUSTC: &str = env!("WARDEN_DEFAULT_RUSTC");

/// Which runtimes a controller has and how they are set up, as data (a
/// front end fills it from its flags, a TOML file or an options object;
/// nothing here reads the environment). `wasm` is always registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimesConfig {
    /// Controller-wide settings (admission, caches, jobs, the ceiling).
    pub controller: ControllerOptions,
    /// Register `js`.
    pub js: bool,
    /// Register `python`.
    pub python: bool,
    /// The `rust` runtime's compiler (`None`: do not register it).
    pub rust: Option<RustOptions>,
    /// The `ebpf` runtime's mode: `"in-process"` or `{"sidecar": "/run/…sock"}`
    /// (`None`: do not register it).
    pub ebpf: Option<EbpfMode>,
    /// Start (pre-warm) every runtime when the controller is made with
    /// [`controller_started`].
    pub warm_up: bool,
}

impl Default for RuntimesConfig {
    /// Everything: the Rust compiler [`DEFAULT_RUSTC`] (the pinned
    /// toolchain's), eBPF in this process, no warm-up.
    fn default() -> Self {
        RuntimesConfig {
            controller: ControllerOptions::default(),
            js: true,
            python: true,
            rust: Some(RustOptions {
                rustc: vec![DEFAULT_RUSTC.into()],
                ..RustOptions::default()
            }),
            ebpf: Some(EbpfMode::InProcess),
            warm_up: false,
        }
    }
}

/// A controller on `host` with the runtimes `options` asks for (`wasm`
/// always). Nothing is started yet: call [`Controller::start`] to pre-warm,
/// or let each runtime start on first use.
pub fn controller(host: &Host, options: RuntimesConfig) -> Result<Controller> {
    let mut builder = Controller::builder()
        .options(options.controller)
        .register(Arc::new(WasmRuntime::new(host.clone())));
    if let Some(rust) = options.rust {
        builder = builder.register(Arc::new(RustRuntime::new(host.clone(), rust)));
    }
    if options.js {
        builder = builder.register(Arc::new(JsRuntime::new(host.clone())));
    }
    if options.python {
        builder = builder.register(Arc::new(PythonRuntime::new(host.clone())));
    }
    if let Some(mode) = options.ebpf {
        builder = builder.register(Arc::new(EbpfRuntime::new(mode)));
    }
    builder.build()
}

// The book's chapter on the runtime controller: its Rust example runs as a
// doctest of this crate (`cargo test --doc -p warden-runtimes`).
#[cfg(doctest)]
#[doc = include_str!("../../docs/src/controller.md")]
pub struct ControllerGuide;

/// [`controller`], then, when `config.warm_up`, every runtime started; a
/// runtime that fails to start is left `failed` (listed with its reason) and
/// the others serve.
pub async fn controller_started(host: &Host, config: RuntimesConfig) -> Result<Controller> {
    let warm_up = config.warm_up;
    let c = controller(host, config)?;
    if warm_up {
        for (name, result) in c.start().await {
            if let Err(e) = result {
                tracing::warn!(runtime = %name, "warm-up failed: {e}");
            }
        }
    }
    Ok(c)
}
