//! Script engines: components exporting `warden:plugin/script` (warden's JS
//! engine, its Python engine, and the plugins built from them). Language
//! crates (`warden-js`, `warden-python`) add source handling on top; this
//! module holds what every engine shares: pre-initialization, a sandbox per
//! policy, `eval` with the typed `script-error`, and baking a script in.

use wasmtime::component::Val;

use crate::error::{Error, Result};
use crate::host::Host;
use crate::plugin::{Outcome, Plugin, Prepared, script_error};
use crate::policy::Policy;

/// The exported function snippets run through.
pub const SCRIPT_EVAL: &str = "warden:plugin/script@0.1.0#eval";
/// The pre-initialization export of the `script-engine` world.
pub const INIT: &str = "wizer-initialize";

/// Check `wizer-initialize`'s `result<_, script-error>`.
fn init_result(name: &str, results: &[Val]) -> Result<()> {
    match results.first() {
        Some(Val::Result(Err(Some(err)))) => match &**err {
            Val::Variant(kind, Some(msg)) => match &**msg {
                Val::String(m) => Err(script_error(name, &format!("{kind}: {m}"))),
                other => Err(Error::internal(format!(
                    "unexpected script-error payload {other:?}"
                ))),
            },
            other => Err(Error::internal(format!(
                "unexpected script-error {other:?}"
            ))),
        },
        _ => Ok(()),
    }
}

/// Bake `source` into `engine` (component bytes of a script engine) and
/// pre-initialize: the result is a component whose `run` calls the script. A
/// script that does not compile is `COMPILE`; top-level code runs with
/// nothing granted.
pub async fn bake(host: &Host, name: &str, engine: &[u8], source: &str) -> Result<Vec<u8>> {
    host.pre_initialize(
        name,
        engine,
        INIT,
        vec![Val::String(source.to_string())],
        |r| init_result(name, r),
    )
    .await
}

/// A script engine ready for snippets: each `eval` runs in a fresh instance.
#[derive(Debug, Clone)]
pub struct ScriptEngine {
    plugin: Plugin,
}

impl ScriptEngine {
    /// Pre-initialize `engine` (with an empty script; cached in the host's
    /// cache directory) and compile it.
    pub async fn pre_initialized(host: &Host, name: &str, engine: &[u8]) -> Result<Self> {
        let snapshot = bake(host, name, engine, "").await?;
        Self::new(host.load_bytes(name, &snapshot)?)
    }

    /// Use a loaded component as the engine (e.g. one componentize-py
    /// already pre-initialized). It must export `warden:plugin/script`.
    pub fn new(plugin: Plugin) -> Result<Self> {
        if !plugin.is_script_engine() {
            return Err(Error::MissingExport {
                plugin: plugin.name().to_string(),
                export: SCRIPT_EVAL.to_string(),
                available: plugin.exports().iter().map(|f| f.path()).collect(),
            });
        }
        Ok(ScriptEngine { plugin })
    }

    /// The engine component.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// A sandbox with these grants and limits.
    pub fn prepare(&self, policy: Policy) -> Result<ScriptSandbox> {
        Ok(ScriptSandbox {
            prepared: self.plugin.prepare(policy)?,
        })
    }
}

/// Snippets under one policy.
#[derive(Debug, Clone)]
pub struct ScriptSandbox {
    prepared: Prepared,
}

impl ScriptSandbox {
    /// The prepared engine.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Evaluate `source` with `input` (JSON text) in a fresh instance: the
    /// result as JSON text, or `INVALID_INPUT`, `COMPILE`, `GUEST_ERROR`,
    /// `CAPABILITY_DENIED`, `SERIALIZATION`, `TIMEOUT` (also a promise that can
    /// never settle), a limit, … with the receipt.
    pub async fn eval(&self, source: &str, input: &str) -> Outcome<String> {
        let name = self.prepared.plugin().name().to_string();
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
            return Outcome::failed(
                &name,
                SCRIPT_EVAL,
                Error::InvalidInput {
                    plugin: name.clone(),
                    reason: format!("input is not JSON: {e}"),
                },
            );
        }
        let args = [
            serde_json::Value::String(source.to_string()),
            serde_json::Value::String(input.to_string()),
        ];
        self.prepared
            .invoke_json(SCRIPT_EVAL, &args)
            .await
            .map(|invoked| match invoked.json {
                Some(serde_json::Value::Object(m)) => match (m.get("ok"), m.get("err")) {
                    (Some(serde_json::Value::String(out)), _) => Ok(out.clone()),
                    (_, Some(serde_json::Value::Object(err))) => {
                        let (kind, msg) = err
                            .iter()
                            .next()
                            .ok_or_else(|| Error::internal("empty script-error"))?;
                        Err(script_error(
                            &name,
                            &format!("{kind}: {}", msg.as_str().unwrap_or_default()),
                        ))
                    }
                    _ => Err(Error::internal(format!("unexpected eval result {m:?}"))),
                },
                other => Err(Error::internal(format!("unexpected eval result {other:?}"))),
            })
    }
}
