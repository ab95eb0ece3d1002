//! The `ebpf` runtime of warden-host's controller (feature `controller`):
//! C run in the kernel, in this process (which needs root) or through the
//! privileged sidecar. The code is C source or a prebuilt eBPF ELF object
//! (clang's, or a Rust program built with aya-ebpf) holding one program.
//!
//! Compiling loads the program (clang, then the verifier), so a program the
//! verifier rejects fails at compile time with `VERIFIER_REJECTED`. The
//! input is the packet data: raw bytes, or JSON `null` (none), a string (its
//! UTF-8) or an array of 0–255. The output is
//! `{"retval", "duration_ns", "maps"}`. Grants and limits do not apply: the
//! verifier bounds what eBPF can do, and asking for a capability is refused
//! by the scheduler.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warden_host::controller::runtime::{
    BoxFuture, CompileReport, CompiledModule, Complexity, Health, Input, Language, Latency,
    ModuleInstance, RunOutcome, Runtime, RuntimeInfo, source_text,
};
use warden_host::{Error, Policy, Receipt, Result};

use crate::sidecar::SidecarClient;
use crate::{EbpfError, Kernel, KernelOptions, RunOutput, Source};

/// Where programs run: `"in-process"` or `{"sidecar": "/path/to.sock"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// In this process (needs CAP_BPF and CAP_NET_ADMIN).
    InProcess,
    /// Through the sidecar listening at this Unix socket.
    Sidecar(PathBuf),
}

/// The probe program run by `start` and `health`.
const PROBE: &str = "int probe(void *data, int data_len) { return data_len; }";

/// C on eBPF.
#[derive(Debug)]
pub struct EbpfRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    local: Kernel,
    /// Idle sidecar connections.
    clients: Mutex<Vec<SidecarClient>>,
}

/// An eBPF error as a warden error with the matching code.
pub fn to_warden(e: EbpfError) -> Error {
    let code = e.error_code();
    Error::Runtime {
        runtime: "ebpf".into(),
        code,
        message: e.to_string(),
    }
}

/// A prebuilt eBPF ELF object (from clang, or from Rust with aya-ebpf) when
/// `code` starts with the ELF magic; else C source: a full program when it
/// has a `SEC(...)`, a bare function otherwise.
pub fn source_of_bytes(code: &[u8]) -> Result<Source> {
    if code.starts_with(b"\x7fELF") {
        return Ok(Source::Object(code.to_vec()));
    }
    Ok(source_of(&source_text("ebpf", code)?))
}

/// A bare function unless the source has a `SEC(...)`.
pub fn source_of(code: &str) -> Source {
    if code.contains("SEC(") {
        Source::Program {
            c: code.to_string(),
            section_fn: None,
        }
    } else {
        Source::Function(code.to_string())
    }
}

impl EbpfRuntime {
    /// A runtime in `mode`.
    pub fn new(mode: Mode) -> Self {
        EbpfRuntime {
            inner: Arc::new(Inner {
                mode,
                local: Kernel::new(KernelOptions::default()),
                clients: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.inner.mode
    }
}

impl Inner {
    async fn run(self: &Arc<Self>, source: &Source, data: &[u8]) -> Result<RunOutput, EbpfError> {
        match &self.mode {
            Mode::InProcess => {
                if let Some(done) = self.local.try_run_cached(source, data) {
                    return done;
                }
                let this = self.clone();
                let source = source.clone();
                let data = data.to_vec();
                tokio::task::spawn_blocking(move || this.local.run(&source, &data))
                    .await
                    .map_err(|e| EbpfError::Internal(format!("the run thread failed: {e}")))?
            }
            Mode::Sidecar(path) => {
                let idle = self.clients.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let mut client = match idle {
                    Some(c) => c,
                    None => SidecarClient::connect(path).await?,
                };
                let result = client.run(source, data).await;
                // A broken connection is dropped; a typed error leaves it usable.
                if !matches!(result, Err(EbpfError::Sidecar { .. })) {
                    self.clients
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(client);
                }
                result
            }
        }
    }

    async fn probe(self: &Arc<Self>) -> Result<(), EbpfError> {
        self.run(&Source::Function(PROBE.into()), &[])
            .await
            .map(|_| ())
    }
}

impl Runtime for EbpfRuntime {
    fn info(&self) -> RuntimeInfo {
        let (latency, typical) = match &self.inner.mode {
            Mode::InProcess => (Latency::UltraLow, "~2 µs per warm run in the kernel"),
            Mode::Sidecar(_) => (
                Latency::Low,
                "~2 µs in the kernel + ~60 µs over the sidecar socket",
            ),
        };
        RuntimeInfo {
            name: "ebpf".into(),
            description: match &self.inner.mode {
                Mode::InProcess => {
                    "C compiled to eBPF, verified and run in the kernel (in process)".into()
                }
                Mode::Sidecar(p) => format!(
                    "C compiled to eBPF, verified and run in the kernel through the sidecar at {}",
                    p.display()
                ),
            },
            languages: vec![Language::C],
            capabilities: Vec::new(),
            priority: 10,
            latency,
            complexity: Complexity::Simple,
            max_duration: Some(Duration::from_millis(10)),
            typical: typical.into(),
            enforces_limits: false,
            fuel: false,
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.inner.probe().await.map_err(to_warden) })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner
                .clients
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        })
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            match self.inner.probe().await {
                Ok(()) => Health::Healthy,
                Err(e) => Health::Unavailable(e.to_string()),
            }
        })
    }

    fn compile<'a>(
        &'a self,
        _language: Language,
        code: &'a [u8],
    ) -> BoxFuture<'a, Result<(Arc<dyn CompiledModule>, CompileReport)>> {
        Box::pin(async move {
            let started = Instant::now();
            let source = source_of_bytes(code)?;
            // Load (compile + verify) now: errors surface at compile time.
            let out = self.inner.run(&source, &[]).await.map_err(to_warden)?;
            Ok((
                Arc::new(EbpfModule {
                    inner: self.inner.clone(),
                    source,
                }) as Arc<dyn CompiledModule>,
                CompileReport::timed(started, out.cached),
            ))
        })
    }
}

#[derive(Debug)]
struct EbpfModule {
    inner: Arc<Inner>,
    source: Source,
}

impl CompiledModule for EbpfModule {
    fn instantiate(&self, _policy: &Policy) -> Result<Arc<dyn ModuleInstance>> {
        Ok(Arc::new(EbpfInstance {
            inner: self.inner.clone(),
            source: self.source.clone(),
        }))
    }
}

#[derive(Debug)]
struct EbpfInstance {
    inner: Arc<Inner>,
    source: Source,
}

/// The packet bytes of an input.
fn data_of(input: &Input) -> Result<Vec<u8>> {
    let invalid = |reason: String| Error::InvalidInput {
        plugin: "ebpf".into(),
        reason,
    };
    match input {
        Input::Bytes(b) => Ok(b.clone()),
        Input::Invoke(_) => Err(invalid(
            "eBPF programs take bytes, not an invoke call".into(),
        )),
        Input::Json(text) => {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| invalid(format!("input is not JSON: {e}")))?;
            match v {
                serde_json::Value::Null => Ok(Vec::new()),
                serde_json::Value::String(s) => Ok(s.into_bytes()),
                serde_json::Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        x.as_u64()
                            .and_then(|n| u8::try_from(n).ok())
                            .ok_or_else(|| {
                                invalid(format!("item {i} of the input is not a byte (0–255): {x}"))
                            })
                    })
                    .collect(),
                other => Err(invalid(format!(
                    "eBPF input is null, a string or an array of bytes, not {other}"
                ))),
            }
        }
    }
}

impl ModuleInstance for EbpfInstance {
    fn execute<'a>(&'a self, input: &'a Input) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async move {
            let started = Instant::now();
            let result = match data_of(input) {
                Ok(data) => self
                    .inner
                    .run(&self.source, &data)
                    .await
                    .map(|out| out.to_json())
                    .map_err(to_warden),
                Err(e) => Err(e),
            };
            RunOutcome::new(
                result,
                Receipt {
                    plugin: "ebpf".into(),
                    export: "xdp".into(),
                    wall_time_us: started.elapsed().as_micros() as u64,
                    ..Receipt::default()
                },
            )
        })
    }
}
