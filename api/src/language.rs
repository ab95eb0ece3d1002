//! The language of a request and the scheduler's hints about it.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Source languages the controller accepts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// JavaScript (ES2023).
    #[serde(rename = "js", alias = "javascript")]
    JavaScript,
    /// TypeScript (types stripped, positions kept).
    #[serde(rename = "ts", alias = "typescript")]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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

/// What the caller knows about the code; the scheduler's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Hints {
    /// How fast one call must be (`None`: no requirement).
    pub latency: Option<Latency>,
    /// How much the code does (`None`: unknown, no requirement).
    pub complexity: Option<Complexity>,
    /// How long one run is expected to take.
    #[serde(with = "crate::units::opt_duration")]
    #[schemars(schema_with = "crate::units::opt_duration::schema")]
    pub expected_duration: Option<Duration>,
}
