//! What a runtime is to the controller: metadata the scheduler reads, a
//! lifecycle (start, stop, health), and compile → instantiate → execute.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use warden_api::{LogLine, Receipt};

use crate::error::{Error, Result};
use crate::policy::Policy;

pub use warden_api::{CompileReport, Complexity, Health, Input, Language, Latency, RuntimeInfo};

/// A boxed, sendable future (the runtime traits are object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    fn execute<'a>(&'a self, input: &'a Input) -> BoxFuture<'a, RunOutcome>;
}

/// What one execution on any runtime gave: the JSON output or the typed
/// error, the guest's streams and logs, and the receipt (what the sandbox
/// touched and cost; a runtime without a Wasm sandbox, such as eBPF, fills
/// in what applies).
#[derive(Debug)]
pub struct RunOutcome {
    /// The output (JSON), or the typed error.
    pub result: Result<serde_json::Value>,
    /// What the call cost and touched.
    pub receipt: Receipt,
    /// What the guest wrote to stdout.
    pub stdout: Bytes,
    /// What the guest wrote to stderr.
    pub stderr: Bytes,
    /// What the guest logged.
    pub logs: Vec<LogLine>,
}

impl RunOutcome {
    /// `result` with `receipt` and no output streams.
    pub fn new(result: Result<serde_json::Value>, receipt: Receipt) -> Self {
        RunOutcome {
            result,
            receipt,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }

    /// A failure before anything ran, in `runtime`'s `entry`.
    pub fn failed(runtime: &str, entry: &str, error: Error) -> Self {
        let receipt = Receipt {
            plugin: runtime.to_string(),
            export: entry.to_string(),
            ..Receipt::default()
        };
        RunOutcome::new(Err(error), receipt)
    }
}

impl From<crate::plugin::Outcome<serde_json::Value>> for RunOutcome {
    fn from(o: crate::plugin::Outcome<serde_json::Value>) -> Self {
        RunOutcome {
            result: o.result,
            receipt: o.receipt,
            stdout: o.stdout,
            stderr: o.stderr,
            logs: o.logs,
        }
    }
}

/// `code` as UTF-8 source, or `INVALID_INPUT` naming `runtime`.
pub fn source_text<'a>(runtime: &str, code: &'a [u8]) -> Result<Cow<'a, str>> {
    let text = std::str::from_utf8(code).map_err(|e| Error::InvalidInput {
        plugin: runtime.to_string(),
        reason: format!("the source is not UTF-8: {e}"),
    })?;
    Ok(dedent(text))
}

/// `text` with the leading whitespace common to all its non-blank lines
/// removed, as a snippet pasted from an indented template literal needs
/// (Python's `textwrap.dedent`): lines keep their numbers, blank lines
/// become empty, and whitespace counts as common only when it is the same
/// characters (a tab is not four spaces). Text that is not indented is
/// returned as it is, without a copy.
pub fn dedent(text: &str) -> Cow<'_, str> {
    let mut common: Option<&str> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let this = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        common = Some(match common {
            None => this,
            Some(c) => {
                let n = c
                    .bytes()
                    .zip(this.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &c[..n]
            }
        });
    }
    let n = common.map_or(0, str::len);
    if n == 0 {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            // Keep the line (and its number), not its whitespace.
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(&line[n..]);
        }
    }
    Cow::Owned(out)
}

/// The JSON text of `input`, or `INVALID_INPUT` for runtimes that take
/// only JSON.
pub fn json_input<'a>(runtime: &str, input: &'a Input) -> Result<&'a str> {
    match input {
        Input::Json(j) => Ok(j),
        Input::Invoke(_) | Input::Bytes(_) => Err(Error::InvalidInput {
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

/// Decode JSON text, for runtimes whose guests return JSON text:
/// `SERIALIZATION` when it is not JSON.
pub fn parse_output(plugin: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| Error::Serialization {
        plugin: plugin.to_string(),
        reason: format!(
            "the output is not JSON ({e}): {}",
            text.chars().take(120).collect::<String>()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_removes_common_indentation_and_keeps_line_numbers() {
        let pasted = "\n    function fib(n) {\n      return n;\n    }\n\n    fib(20);\n  ";
        assert_eq!(
            dedent(pasted),
            "\nfunction fib(n) {\n  return n;\n}\n\nfib(20);\n"
        );
        // Nothing common: the text itself, not a copy.
        let flat = "def run(i):\n    return i\n";
        assert!(matches!(dedent(flat), Cow::Borrowed(t) if t == flat));
        // A tab is not spaces: only the shared characters go.
        assert_eq!(dedent("\tx\n    y\n"), "\tx\n    y\n");
        assert_eq!(dedent("  \tx\n  y\n"), "\tx\ny\n");
        // Windows line ends and whitespace-only lines.
        assert_eq!(dedent("  a\r\n   \r\n  b"), "a\r\n\nb");
    }
}
