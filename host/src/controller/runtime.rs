//! What a runtime is to the controller: metadata the scheduler reads, a
//! lifecycle (start, stop, health), and compile → instantiate → execute.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::plugin::Outcome;
use crate::policy::{Capability, Policy};

/// A boxed, sendable future (the runtime traits are object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Source languages the controller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// JavaScript (ES2023).
    JavaScript,
    /// TypeScript (types stripped, positions kept).
    TypeScript,
    /// Python 3 (CPython in a component).
    Python,
    /// Rust source, compiled with the installed toolchain to wasm32-wasip2.
    Rust,
    /// C: an eBPF function or program, run in the kernel (or a prebuilt
    /// eBPF ELF object).
    C,
    /// WebAssembly: component or core-module bytes, or WAT text.
    Wasm,
}

impl Language {
    /// Every language, in a stable order.
    pub const ALL: [Language; 6] = [
        Language::JavaScript,
        Language::TypeScript,
        Language::Python,
        Language::Rust,
        Language::C,
        Language::Wasm,
    ];

    /// The short name (`js`, `ts`, `python`, `rust`, `c`, `wasm`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::JavaScript => "js",
            Language::TypeScript => "ts",
            Language::Python => "python",
            Language::Rust => "rust",
            Language::C => "c",
            Language::Wasm => "wasm",
        }
    }

    /// The language of a file, by extension.
    pub fn of_path(path: &std::path::Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "js" | "mjs" => Some(Language::JavaScript),
            "ts" | "mts" => Some(Language::TypeScript),
            "py" => Some(Language::Python),
            "rs" => Some(Language::Rust),
            // C source, or a prebuilt eBPF object.
            "c" | "o" => Some(Language::C),
            "wasm" | "wat" => Some(Language::Wasm),
            _ => None,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "js" | "javascript" | "mjs" => Ok(Language::JavaScript),
            "ts" | "typescript" | "mts" => Ok(Language::TypeScript),
            "py" | "python" => Ok(Language::Python),
            "rs" | "rust" => Ok(Language::Rust),
            "c" => Ok(Language::C),
            "wasm" | "wat" | "webassembly" => Ok(Language::Wasm),
            other => Err(format!(
                "unknown language `{other}` (expected js, ts, python, rust, c or wasm)"
            )),
        }
    }
}

/// How fast one warm call must be. Each class is a bound on the typical
/// latency of one call on a warm runtime (compiled code cached):
///
/// | class | bound | met by |
/// |---|---|---|
/// | `ultra-low` | ≤ 10 µs | eBPF in the kernel (~2 µs) |
/// | `low` | ≤ 1 ms | a fresh Wasm instance (~30 µs), QuickJS (~100 µs) |
/// | `normal` | no bound | CPython in a fresh instance (~2 ms) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Latency {
    /// ≤ 10 µs per call.
    UltraLow,
    /// ≤ 1 ms per call.
    Low,
    /// No bound.
    Normal,
}

impl Latency {
    /// `ultra-low`, `low` or `normal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Latency::UltraLow => "ultra-low",
            Latency::Low => "low",
            Latency::Normal => "normal",
        }
    }
}

impl std::str::FromStr for Latency {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ultra-low" | "ultralow" | "ultra_low" => Ok(Latency::UltraLow),
            "low" => Ok(Latency::Low),
            "normal" => Ok(Latency::Normal),
            other => Err(format!(
                "unknown latency `{other}` (expected ultra-low, low or normal)"
            )),
        }
    }
}

/// How much the code does.
///
/// | class | meaning |
/// |---|---|
/// | `simple` | bounded, loop-light code: fits the eBPF verifier (≤ 1M instructions, bounded loops) |
/// | `moderate` | ordinary code with loops and allocation |
/// | `complex` | long-running or library-heavy code |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    /// Bounded, verifier-friendly.
    Simple,
    /// Ordinary code.
    Moderate,
    /// Heavy code.
    Complex,
}

impl Complexity {
    /// `simple`, `moderate` or `complex`.
    pub fn as_str(self) -> &'static str {
        match self {
            Complexity::Simple => "simple",
            Complexity::Moderate => "moderate",
            Complexity::Complex => "complex",
        }
    }
}

impl std::str::FromStr for Complexity {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "simple" => Ok(Complexity::Simple),
            "moderate" => Ok(Complexity::Moderate),
            "complex" => Ok(Complexity::Complex),
            other => Err(format!(
                "unknown complexity `{other}` (expected simple, moderate or complex)"
            )),
        }
    }
}

/// What a runtime is, for the scheduler and for `warden runtimes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(with = "crate::limits::opt_duration_ms")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The input of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// JSON text: the argument of `run`, a snippet's `input`, a WASI
    /// command's stdin, or (for C) the bytes: `null` (none), a string (its
    /// UTF-8), or an array of 0–255.
    Json(String),
    /// A WAVE call of one export, `name(args…)` (Wasm only).
    Invoke(String),
    /// Raw bytes (C/eBPF: the packet data).
    Bytes(Vec<u8>),
}

impl Input {
    /// `null`.
    pub fn null() -> Self {
        Input::Json("null".into())
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Input::Json(s) | Input::Invoke(s) => s.len(),
            Input::Bytes(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<serde_json::Value> for Input {
    fn from(v: serde_json::Value) -> Self {
        Input::Json(v.to_string())
    }
}

/// How a compile went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileReport {
    /// Served from a cache (the controller's, or the runtime's on disk).
    pub cached: bool,
    /// Time spent, in microseconds.
    pub micros: u64,
    /// A note for humans when it was slow (e.g. `compiled with rustc 1.99.1 in 620 ms; cached for next time`).
    pub note: Option<String>,
}

/// A runtime the controller can schedule code on.
pub trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// Metadata (read once at registration).
    fn info(&self) -> RuntimeInfo;

    /// Pre-warm: compile engines, fill caches. Idempotent. (Default: nothing
    /// to do.)
    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Drop warm state. Compiled modules already handed out keep working.
    /// (Default: nothing to drop.)
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Whether it can run code now. (Default: healthy.)
    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async { Health::Healthy })
    }

    /// Compile `code` (UTF-8 source, or Wasm bytes) into something that can
    /// be instantiated many times.
    fn compile<'a>(
        &'a self,
        language: Language,
        code: &'a [u8],
    ) -> BoxFuture<'a, Result<(Arc<dyn CompiledModule>, CompileReport)>>;
}

/// Compiled code of one runtime.
pub trait CompiledModule: Send + Sync + fmt::Debug {
    /// An instance under `policy` (imports checked here where the runtime
    /// can). Cheap: the expensive part is `compile`.
    fn instantiate(&self, policy: &Policy) -> Result<Arc<dyn ModuleInstance>>;
}

/// An instantiated module: each `execute` runs in a fresh sandbox unless the
/// runtime documents otherwise.
pub trait ModuleInstance: Send + Sync + fmt::Debug {
    /// Run once. The output is JSON.
    fn execute<'a>(&'a self, input: &'a Input) -> BoxFuture<'a, Outcome<serde_json::Value>>;
}

/// A script engine that runs source given at call time, JSON in and out
/// (warden-js's and warden-python's): [`SnippetModule`] makes it a
/// controller module.
pub trait SnippetEngine: Clone + Send + Sync + fmt::Debug + 'static {
    /// Snippets under one policy.
    type Sandbox: Send + Sync + fmt::Debug + 'static;

    /// A sandbox with these grants and limits.
    fn sandbox(&self, policy: Policy) -> Result<Self::Sandbox>;

    /// Run `source` on `input` (JSON text) in a fresh instance: JSON text.
    fn exec<'a>(
        sandbox: &'a Self::Sandbox,
        source: &'a str,
        input: &'a str,
    ) -> BoxFuture<'a, Outcome<String>>;
}

/// Source (ready for the engine) and the engine it runs on.
#[derive(Debug)]
pub struct SnippetModule<E> {
    runtime: &'static str,
    engine: E,
    source: Arc<str>,
}

impl<E: SnippetEngine> SnippetModule<E> {
    /// `source` on `engine`, for runtime `runtime` (named in errors).
    pub fn new(runtime: &'static str, engine: E, source: impl Into<Arc<str>>) -> Self {
        SnippetModule {
            runtime,
            engine,
            source: source.into(),
        }
    }
}

impl<E: SnippetEngine> CompiledModule for SnippetModule<E> {
    fn instantiate(&self, policy: &Policy) -> Result<Arc<dyn ModuleInstance>> {
        Ok(Arc::new(SnippetInstance::<E> {
            runtime: self.runtime,
            sandbox: self.engine.sandbox(policy.clone())?,
            source: self.source.clone(),
        }))
    }
}

#[derive(Debug)]
struct SnippetInstance<E: SnippetEngine> {
    runtime: &'static str,
    sandbox: E::Sandbox,
    source: Arc<str>,
}

impl<E: SnippetEngine> ModuleInstance for SnippetInstance<E> {
    fn execute<'a>(&'a self, input: &'a Input) -> BoxFuture<'a, Outcome<serde_json::Value>> {
        Box::pin(async move {
            match json_input(self.runtime, input) {
                Ok(json) => E::exec(&self.sandbox, &self.source, json)
                    .await
                    .map(|out| parse_output(self.runtime, &out)),
                Err(e) => Outcome::failed(self.runtime, crate::script::SCRIPT_EVAL, e),
            }
        })
    }
}

/// `code` as UTF-8 source, or `INVALID_INPUT` naming `runtime`.
pub fn source_text<'a>(runtime: &str, code: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(code).map_err(|e| crate::Error::InvalidInput {
        plugin: runtime.to_string(),
        reason: format!("the source is not UTF-8: {e}"),
    })
}

/// The JSON text of `input`, or `INVALID_INPUT` for runtimes that take
/// only JSON.
pub fn json_input<'a>(runtime: &str, input: &'a Input) -> Result<&'a str> {
    match input {
        Input::Json(j) => Ok(j),
        Input::Invoke(_) | Input::Bytes(_) => Err(crate::Error::InvalidInput {
            plugin: runtime.to_string(),
            reason: format!(
                "{runtime} takes JSON input, not {}",
                if matches!(input, Input::Invoke(_)) {
                    "an invoke call"
                } else {
                    "raw bytes"
                }
            ),
        }),
    }
}

/// A runtime's warm state (an engine), made on first use or at start,
/// dropped at stop. Concurrent first uses make it once.
#[derive(Debug)]
pub struct WarmCell<T> {
    value: std::sync::Mutex<Option<T>>,
    starting: tokio::sync::Mutex<()>,
}

impl<T> Default for WarmCell<T> {
    fn default() -> Self {
        WarmCell {
            value: std::sync::Mutex::new(None),
            starting: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Clone> WarmCell<T> {
    /// The value, if made.
    pub fn get(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The value, made with `make` if missing.
    pub async fn get_or_make<F, Fut>(&self, make: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        let _guard = self.starting.lock().await;
        if let Some(v) = self.get() {
            return Ok(v);
        }
        let v = make().await?;
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(v.clone());
        Ok(v)
    }

    /// Drop the value.
    pub fn clear(&self) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Decode JSON text, for runtimes whose guests return JSON text:
/// `SERIALIZATION` when it is not JSON.
pub fn parse_output(plugin: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| crate::Error::Serialization {
        plugin: plugin.to_string(),
        reason: format!(
            "the output is not JSON ({e}): {}",
            text.chars().take(120).collect::<String>()
        ),
    })
}
