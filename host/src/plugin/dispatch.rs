//! One call of a plugin whatever its kind ([`Prepared::call`]): the rule for
//! what input goes where, written once for the CLI, the controller and every
//! front end.
//!
//! | call            | plugin (`run`)      | command (`wasi:cli/run`)            | library          |
//! |-----------------|---------------------|-------------------------------------|------------------|
//! | [`Call::Json`]  | `run(input)`        | JSON on stdin; stdout must be JSON  | `MISSING_EXPORT` |
//! | [`Call::Command`]| `INVALID_INPUT`    | raw stdin and arguments; exit code  | `MISSING_EXPORT` |
//! | [`Call::Invoke`]| any export, WAVE    | any export, WAVE                    | any export, WAVE |

use super::outcome::{Invoked, Outcome};
use super::{PluginKind, Prepared};
use crate::error::Error;

/// What to do with a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// JSON in, JSON out: a plugin's `run(input)`, or a WASI command with
    /// the input on stdin, whose stdout is then the output (a non-zero exit
    /// is `GUEST_ERROR` with the tail of its stderr).
    Json(String),
    /// A WASI command run as a program: raw stdin, the arguments after
    /// `argv[0]` (which is the plugin's name); the result is its exit code.
    Command {
        /// Its stdin.
        stdin: Vec<u8>,
        /// Its arguments.
        args: Vec<String>,
    },
    /// One export with WAVE arguments: `add(1, 2)`, `calc#greet("x", some(2))`.
    Invoke(String),
}

/// What a [`Call`] returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Called {
    /// The output of [`Call::Json`]: JSON text.
    Json(String),
    /// The exit code of [`Call::Command`]; its stdout and stderr are in the outcome.
    Exit(i32),
    /// The results of [`Call::Invoke`].
    Invoked(Invoked),
}

impl Prepared {
    /// Make `call` on this plugin (see the module docs for what goes where).
    pub async fn call(&self, call: &Call) -> Outcome<Called> {
        let plugin = self.plugin();
        let name = plugin.name();
        match (call, plugin.kind()) {
            (Call::Invoke(text), _) => self.invoke(text).await.map(|i| Ok(Called::Invoked(i))),
            (Call::Json(input), PluginKind::Plugin) => {
                self.run(input).await.map(|o| Ok(Called::Json(o.output)))
            }
            (Call::Json(input), PluginKind::Command) => {
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
                    let reason = format!("input is not JSON: {e}");
                    let e = Error::InvalidInput {
                        plugin: name.to_string(),
                        reason,
                    };
                    return Outcome::failed(name, "wasi:cli/run", e);
                }
                let mut outcome = self.run_command(input.as_bytes(), &[]).await;
                // stdout is the output here, not a side channel.
                let stdout = std::mem::take(&mut outcome.stdout);
                let stderr = outcome.stderr.clone();
                outcome.map(|code| match code {
                    0 => Ok(Called::Json(String::from_utf8_lossy(&stdout).into_owned())),
                    code => Err(Error::GuestError {
                        plugin: name.to_string(),
                        message: format!("exited with status {code}: {}", tail(&stderr, 2000)),
                    }),
                })
            }
            (Call::Command { stdin, args }, PluginKind::Command) => self
                .run_command(stdin, args)
                .await
                .map(|code| Ok(Called::Exit(code))),
            (Call::Command { .. }, PluginKind::Plugin) => Outcome::failed(
                name,
                "run",
                Error::InvalidInput {
                    plugin: name.to_string(),
                    reason: "this is a plugin (it exports `run`): give it JSON input; stdin and \
                             arguments are for WASI commands"
                        .into(),
                },
            ),
            (Call::Json(_) | Call::Command { .. }, PluginKind::Library) => Outcome::failed(
                name,
                "run",
                Error::MissingExport {
                    plugin: name.to_string(),
                    export: "run (or wasi:cli/run): this is a library; call one of its exports \
                             with an invoke"
                        .into(),
                    available: plugin
                        .exports()
                        .iter()
                        .map(|f| format!("{}: {}", f.path(), f.signature))
                        .collect(),
                },
            ),
        }
    }
}

/// The last `max` characters of `bytes` as text.
fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    let start = text
        .char_indices()
        .rev()
        .nth(max)
        .map(|(i, _)| i)
        .unwrap_or(0);
    text[start..].to_string()
}
