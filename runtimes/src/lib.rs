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
//! let controller = warden_runtimes::controller(&host, warden_runtimes::Options::default())?;
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

use std::path::PathBuf;
use std::sync::Arc;

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

/// Which runtimes to register, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Controller-wide settings.
    pub controller: ControllerOptions,
    /// Register `js`.
    pub js: bool,
    /// Register `python`.
    pub python: bool,
    /// The `rust` runtime's compiler (`None`: do not register it).
    pub rust: Option<RustOptions>,
    /// The `ebpf` runtime's mode (`None`: do not register it).
    pub ebpf: Option<EbpfMode>,
}

impl Default for Options {
    /// Everything: the Rust compiler from `WARDEN_RUSTC` or [`DEFAULT_RUSTC`],
    /// and eBPF through the sidecar at `WARDEN_EBPF_SOCKET` when that is set,
    /// else in this process.
    fn default() -> Self {
        Options {
            controller: ControllerOptions::default(),
            js: true,
            python: true,
            rust: Some(RustOptions {
                rustc: vec![std::env::var("WARDEN_RUSTC").unwrap_or_else(|_| DEFAULT_RUSTC.into())],
                ..RustOptions::default()
            }),
            ebpf: Some(match std::env::var_os("WARDEN_EBPF_SOCKET") {
                Some(p) if !p.is_empty() => EbpfMode::Sidecar(PathBuf::from(p)),
                _ => EbpfMode::InProcess,
            }),
        }
    }
}

/// A controller on `host` with the runtimes `options` asks for (`wasm`
/// always). Nothing is started yet: call [`Controller::start`] to pre-warm,
/// or let each runtime start on first use.
pub fn controller(host: &Host, options: Options) -> Result<Controller> {
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
