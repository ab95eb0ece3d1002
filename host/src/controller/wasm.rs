//! The `wasm` runtime: component or core-module bytes, or WAT, on this
//! crate's [`Host`].
//!
//! Input conventions are the host's ([`Prepared::call`]): JSON input goes to
//! `run(input)` for a plugin, or to stdin for a WASI command, whose stdout
//! must then be JSON; [`Input::Invoke`] calls any export with WAVE arguments.

use std::sync::Arc;
use std::time::Instant;

use super::runtime::{
    BoxFuture, CompileReport, CompiledModule, Complexity, Input, Language, Latency, ModuleInstance,
    RunOutcome, Runtime, RuntimeInfo, parse_output,
};
use crate::cache::CacheStatus;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::plugin::{Call, Called, Plugin, Prepared};
use crate::policy::{Capability, Policy};

/// Runs Wasm on a [`Host`].
#[derive(Debug, Clone)]
pub struct WasmRuntime {
    host: Host,
}

impl WasmRuntime {
    /// A runtime on `host`.
    pub fn new(host: Host) -> Self {
        WasmRuntime { host }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Load `bytes` (on the blocking pool: compiling is CPU work) as a
    /// module of this runtime.
    pub async fn load(&self, name: &str, bytes: Vec<u8>) -> Result<(WasmModule, CompileReport)> {
        let started = Instant::now();
        let host = self.host.clone();
        let n = name.to_string();
        let plugin = tokio::task::spawn_blocking(move || host.load_bytes(&n, &bytes))
            .await
            .map_err(|e| Error::internal(format!("the compile thread failed: {e}")))??;
        let cached = matches!(
            plugin.cache_status(),
            CacheStatus::Hit | CacheStatus::Shared
        );
        let report = CompileReport::timed(started, cached);
        let note = (!cached && report.micros > 100_000).then(|| {
            format!(
                "compiled {name} with Cranelift in {} ms{}",
                report.micros / 1000,
                if plugin.cache_status() == CacheStatus::Disabled {
                    ""
                } else {
                    "; cached on disk for next time"
                }
            )
        });
        Ok((WasmModule { plugin }, report.with_note(note)))
    }
}

impl Runtime for WasmRuntime {
    fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            name: "wasm".into(),
            description: "WebAssembly components, WASI preview1 modules and WAT on Wasmtime".into(),
            languages: vec![Language::Wasm],
            capabilities: Capability::ALL.to_vec(),
            priority: 0,
            latency: Latency::Low,
            complexity: Complexity::Complex,
            max_duration: None,
            typical: "~30 µs per fresh instance".into(),
            enforces_limits: true,
            fuel: self.host.engine().options().fuel,
        }
    }

    fn compile<'a>(
        &'a self,
        _language: Language,
        code: &'a [u8],
    ) -> BoxFuture<'a, Result<(Arc<dyn CompiledModule>, CompileReport)>> {
        Box::pin(async move {
            let (module, report) = self.load("wasm", code.to_vec()).await?;
            Ok((Arc::new(module) as Arc<dyn CompiledModule>, report))
        })
    }
}

/// A compiled component.
#[derive(Debug, Clone)]
pub struct WasmModule {
    plugin: Plugin,
}

impl WasmModule {
    /// The plugin.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }
}

impl CompiledModule for WasmModule {
    fn instantiate(&self, policy: &Policy) -> Result<Arc<dyn ModuleInstance>> {
        Ok(Arc::new(WasmInstance {
            prepared: self.plugin.prepare(policy.clone())?,
        }))
    }
}

/// A prepared component: each execution is a fresh instance.
#[derive(Debug, Clone)]
pub struct WasmInstance {
    prepared: Prepared,
}

impl WasmInstance {
    /// Run once: JSON input is a [`Call::Json`] (a plugin's `run`, a
    /// command's stdin), an invoke a [`Call::Invoke`].
    pub async fn execute(&self, input: &Input) -> RunOutcome {
        let name = self.prepared.plugin().name().to_string();
        let call = match input {
            Input::Json(json) => Call::Json(json.clone()),
            Input::Invoke(text) => Call::Invoke(text.clone()),
            Input::Bytes(_) => {
                let reason = "Wasm takes JSON input or an invoke call, not raw bytes".into();
                let e = Error::InvalidInput {
                    plugin: name.clone(),
                    reason,
                };
                return RunOutcome::failed(&name, "run", e);
            }
        };
        let outcome = self.prepared.call(&call).await;
        RunOutcome::from(outcome.map(|called| match called {
            Called::Json(text) => parse_output(&name, &text),
            Called::Invoked(inv) => Ok(inv.json.unwrap_or_else(|| {
                serde_json::Value::Array(
                    inv.wave
                        .into_iter()
                        .map(serde_json::Value::String)
                        .collect(),
                )
            })),
            Called::Exit(code) => Err(Error::internal(format!(
                "a JSON call returned an exit code ({code})"
            ))),
        }))
    }
}

impl ModuleInstance for WasmInstance {
    fn execute<'a>(&'a self, input: &'a Input) -> BoxFuture<'a, RunOutcome> {
        Box::pin(WasmInstance::execute(self, input))
    }
}
