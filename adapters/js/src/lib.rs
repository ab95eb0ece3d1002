//! # warden-js
//!
//! JavaScript and TypeScript on warden. The engine is a WebAssembly component
//! (`engine/`: QuickJS-ng through `rquickjs` 0.14, built for wasm32-wasip2
//! against the `warden:plugin/script-engine` world; `engine/src/lib.rs` says
//! why not the `javy` crate) embedded in this crate.
//! Two ways to run JS:
//!
//! - **Snippets** ([`JsEngine::prepare`] + [`JsPrepared::exec`]): source given
//!   at call time runs in a fresh instance of the engine, pre-initialized once
//!   (QuickJS runtime, capability modules and `console` already in the
//!   snapshot), under the call's grants and limits.
//! - **Plugins** ([`build_plugin`]): a script baked into the engine and
//!   pre-initialized with `wasmtime-wizer` inside warden; the result is an
//!   ordinary component exporting `run`, loadable by any warden host.
//!
//! Entry conventions, in both: an ES module exporting `run` (or a default
//! function), or "codemode" — the whole source is one function expression
//! such as `async (input) => …`. Capabilities are ES modules
//! (`import { get, set } from 'warden:plugin/kv'`, `warden:plugin/log`,
//! `warden:plugin/host` (`await call(name, args)`), `warden:plugin/events`);
//! an ungranted one throws a catchable `CapabilityDenied`. TypeScript is
//! stripped of its types in the host by swc's `swc_ts_fast_strip`, which
//! blanks types out so line and column of every error stay the source's own.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), warden_host::Error> {
//! use warden_host::{Host, Policy};
//! use warden_host::Language;
//! use warden_js::JsEngine;
//!
//! let host = Host::builder().build()?;
//! let js = JsEngine::new(&host).await?;
//! let sandbox = js.prepare(Policy::deny_all())?;
//! let out = sandbox.exec(Language::TypeScript, "(input: {n: number}) => input.n * 2", r#"{"n": 21}"#).await;
//! assert_eq!(out.into_result()?, "42");
//! # Ok(()) }
//! ```

use std::sync::Arc;

use warden_host::script::{ScriptEngine, ScriptSandbox, bake};
use warden_host::{Error, Host, Language, Outcome, Plugin, Policy, Result};

/// The engine component as built (not pre-initialized).
pub static ENGINE: &[u8] = include_bytes!(env!("WARDEN_JS_ENGINE"));

/// Strip TypeScript types, replacing them with whitespace so every line and
/// column stays where it was. Errors are `COMPILE` with line:column.
pub fn strip_types(name: &str, source: &str) -> Result<String> {
    use swc_common::errors::Handler;
    use swc_common::sync::Lrc;
    use swc_common::{GLOBALS, Globals, SourceMap};
    use swc_ts_fast_strip::{Mode, Options, operate};

    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let cm: Lrc<SourceMap> = Default::default();
    let handler = Handler::with_emitter_writer(Box::new(captured.clone()), Some(cm.clone()));
    let options = Options {
        module: Some(true),
        filename: Some(format!("{name}.ts")),
        mode: Mode::StripOnly,
        ..Options::default()
    };
    let result = GLOBALS.set(&Globals::new(), || {
        operate(&cm, &handler, source.to_string(), options)
    });
    match result {
        Ok(out) => Ok(out.code),
        Err(e) => {
            let diagnostics =
                String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|p| p.into_inner()))
                    .trim()
                    .to_string();
            Err(Error::Compile {
                plugin: name.to_string(),
                message: if diagnostics.is_empty() {
                    e.message
                } else {
                    format!("{}\n{diagnostics}", e.message)
                },
            })
        }
    }
}

/// `source` as JavaScript: TypeScript has its types stripped; other
/// languages are `INVALID_INPUT`.
fn to_js(name: &str, language: Language, source: &str) -> Result<String> {
    match language {
        Language::JavaScript => Ok(source.to_string()),
        Language::TypeScript => strip_types(name, source),
        other => Err(Error::InvalidInput {
            plugin: name.to_string(),
            reason: format!("the JavaScript engine runs js and ts, not {other}"),
        }),
    }
}

/// Bake `source` into the engine and pre-initialize it: the returned bytes
/// are a component exporting `run` that calls the script. A syntax error is
/// `COMPILE` with line:column; top-level code must not call capabilities
/// (nothing is granted at build time).
pub async fn build_plugin(
    host: &Host,
    name: &str,
    lang: Language,
    source: &str,
) -> Result<Vec<u8>> {
    bake(host, name, ENGINE, &to_js(name, lang, source)?).await
}

/// The snippet engine: pre-initialized once per host (cached), then a fresh
/// instance per call.
#[derive(Debug, Clone)]
pub struct JsEngine {
    engine: ScriptEngine,
}

impl JsEngine {
    /// Pre-initialize (cached in the host's cache directory) and compile the engine.
    pub async fn new(host: &Host) -> Result<Self> {
        Ok(JsEngine {
            engine: ScriptEngine::pre_initialized(host, "js", ENGINE).await?,
        })
    }

    /// The engine as a plugin (for inspection).
    pub fn plugin(&self) -> &Plugin {
        self.engine.plugin()
    }

    /// A sandbox with these grants and limits; each `exec` is a fresh instance.
    pub fn prepare(&self, policy: Policy) -> Result<JsPrepared> {
        Ok(JsPrepared {
            sandbox: self.engine.prepare(policy)?,
        })
    }
}

/// Snippets under one policy.
#[derive(Debug, Clone)]
pub struct JsPrepared {
    sandbox: ScriptSandbox,
}

impl JsPrepared {
    /// Run `source` with `input` (JSON text) in a fresh instance. Returns the
    /// result as JSON text, or `COMPILE` (line:column), `GUEST_ERROR` (message
    /// and JS stack), `CAPABILITY_DENIED`, `SERIALIZATION`, `TIMEOUT` (also a
    /// promise that can never settle), `MEMORY_LIMIT`, … with the receipt.
    pub async fn exec(&self, lang: Language, source: &str, input: &str) -> Outcome<String> {
        let name = self.sandbox.prepared().plugin().name().to_string();
        match to_js(&name, lang, source) {
            Ok(js) => self.sandbox.eval(&js, input).await,
            Err(e) => Outcome::failed(&name, warden_host::script::SCRIPT_EVAL, e),
        }
    }
}

/// The `js` runtime of the [controller](warden_host::controller): JavaScript
/// and TypeScript snippets on the pre-initialized QuickJS engine, a fresh
/// instance per execution. TypeScript is stripped at compile time (cached
/// with the module), so executions pay for neither stripping nor parsing in
/// the host.
pub mod runtime {
    use warden_host::controller::runtime::{BoxFuture, Complexity, Language, Latency, RuntimeInfo};
    use warden_host::controller::snippet::{SnippetEngine, SnippetRuntime};
    use warden_host::{Host, Outcome, Policy, Result};

    use super::{JsEngine, JsPrepared, to_js};

    /// JavaScript and TypeScript on QuickJS.
    pub type JsRuntime = SnippetRuntime<JsEngine>;

    impl SnippetEngine for JsEngine {
        type Sandbox = JsPrepared;

        fn info() -> RuntimeInfo {
            RuntimeInfo {
                name: "js".into(),
                description:
                    "JavaScript and TypeScript on QuickJS (rquickjs) in a pre-initialized component"
                        .into(),
                languages: vec![Language::JavaScript, Language::TypeScript],
                capabilities: Vec::new(),
                priority: 10,
                latency: Latency::Low,
                complexity: Complexity::Complex,
                max_duration: None,
                typical: "~100 µs per fresh instance".into(),
                enforces_limits: true,
                fuel: false,
            }
        }

        fn not_started() -> String {
            "not started: the first call pre-initializes the engine".into()
        }

        fn make(host: Host) -> BoxFuture<'static, Result<Self>> {
            Box::pin(async move { JsEngine::new(&host).await })
        }

        /// TypeScript is stripped here, once per compile.
        fn prepare_source(&self, language: Language, source: &str) -> Result<String> {
            to_js("snippet", language, source)
        }

        fn sandbox(&self, policy: Policy) -> Result<JsPrepared> {
            self.prepare(policy)
        }

        /// The source is plain JavaScript by now (stripped at compile).
        fn exec<'a>(
            sandbox: &'a JsPrepared,
            source: &'a str,
            input: &'a str,
        ) -> BoxFuture<'a, Outcome<String>> {
            Box::pin(sandbox.exec(Language::JavaScript, source, input))
        }
    }
}
