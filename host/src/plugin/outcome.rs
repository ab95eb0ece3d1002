//! What every call returns ([`Outcome`]: the value or the typed error, the
//! receipt, the guest's output), and how a script engine's error maps to a
//! code.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::receipt::{LogLine, Receipt};

/// The result of a call: the value or the typed error, and always the receipt
/// and what the guest wrote.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The value, or the typed error.
    pub result: Result<T>,
    /// What the call cost and touched.
    pub receipt: Receipt,
    /// What the guest wrote to stdout.
    pub stdout: Bytes,
    /// What the guest wrote to stderr.
    pub stderr: Bytes,
    /// What the guest logged through `warden:plugin/log`.
    pub logs: Vec<LogLine>,
}

impl<T> Outcome<T> {
    /// The value or the error, dropping the rest.
    pub fn into_result(self) -> Result<T> {
        self.result
    }

    /// Transform the value (or turn it into an error), keeping the rest.
    pub fn map<U>(self, f: impl FnOnce(T) -> Result<U>) -> Outcome<U> {
        Outcome {
            result: self.result.and_then(f),
            receipt: self.receipt,
            stdout: self.stdout,
            stderr: self.stderr,
            logs: self.logs,
        }
    }

    /// An outcome of a call that wrote nothing (for runtimes outside this
    /// crate, e.g. eBPF).
    pub fn new(result: Result<T>, receipt: Receipt) -> Self {
        Outcome {
            result,
            receipt,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }

    /// An outcome for a call that failed before it started.
    pub fn failed(plugin: &str, export: &str, error: Error) -> Self {
        Outcome {
            result: Err(error),
            receipt: Receipt {
                plugin: plugin.to_string(),
                export: export.to_string(),
                ..Receipt::default()
            },
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }
}

/// What `run` returned, with its receipt.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The JSON text the guest returned.
    pub output: String,
}

/// What an invoked function returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    /// Each result in WAVE.
    pub wave: Vec<String>,
    /// The results as JSON, where the types allow (one result: the value; none: null; several: an array).
    pub json: Option<serde_json::Value>,
}

/// A script engine's `run` error is `<kind>: <message>` (see
/// `warden:plugin/script`); map the kind to warden's code: `compile` →
/// `COMPILE`, `denied` → `CAPABILITY_DENIED`, `serialization` →
/// `SERIALIZATION`, `stalled` → `TIMEOUT`, anything else (`thrown`) →
/// `GUEST_ERROR`.
pub fn script_error(plugin: &str, message: &str) -> Error {
    let (kind, rest) = message.split_once(": ").unwrap_or(("thrown", message));
    let plugin = plugin.to_string();
    match kind {
        "compile" => Error::Compile {
            plugin,
            message: rest.to_string(),
        },
        "denied" => {
            // Warden's denials read `<capability>: <what> is not granted`.
            let capability = rest
                .split_once(':')
                .and_then(|(c, _)| c.trim().parse::<crate::Capability>().ok())
                .map(|c| c.name().to_string())
                .unwrap_or_else(|| "script".into());
            Error::CapabilityDenied {
                plugin,
                capability,
                detail: rest.to_string(),
            }
        }
        "serialization" => Error::Serialization {
            plugin,
            reason: rest.to_string(),
        },
        "stalled" => Error::Stalled {
            plugin,
            reason: rest.to_string(),
        },
        _ => Error::GuestError {
            plugin,
            message: rest.to_string(),
        },
    }
}
