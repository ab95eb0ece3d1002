//! One runtime for every script engine that runs source given at call time,
//! JSON in and out (warden-js's QuickJS and warden-python's CPython):
//! [`SnippetRuntime`] over a [`SnippetEngine`]. The engine is made once (on
//! start or first use) and dropped at stop; compiling a snippet prepares its
//! source; every execution is a fresh instance of the engine.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use warden_api::interfaces::WARDEN_INTERFACES;

use super::runtime::{
    BoxFuture, CompileReport, CompiledModule, Health, Input, Language, ModuleInstance, RunOutcome,
    Runtime, RuntimeInfo, json_input, parse_output, source_text,
};
use crate::error::Result;
use crate::host::Host;
use crate::plugin::Outcome;
use crate::policy::{Capability, Policy};

/// A script engine the controller can run snippets on.
pub trait SnippetEngine: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Snippets under one policy.
    type Sandbox: Send + Sync + std::fmt::Debug + 'static;

    /// The runtime's metadata, less what [`SnippetRuntime`] fills in (the
    /// capabilities: warden's own interfaces, which every engine imports;
    /// and whether fuel is on).
    fn info() -> RuntimeInfo;

    /// What health reports before the engine is made.
    fn not_started() -> String;

    /// Make the engine on `host` (compile or load it from the cache).
    fn make(host: Host) -> BoxFuture<'static, Result<Self>>;

    /// Turn source in `language` into what [`SnippetEngine::exec`] runs
    /// (TypeScript stripped, …); done once per compile, not per call.
    fn prepare_source(&self, language: Language, source: &str) -> Result<String>;

    /// A sandbox with these grants and limits.
    fn sandbox(&self, policy: Policy) -> Result<Self::Sandbox>;

    /// Run `source` on `input` (JSON text) in a fresh instance: JSON text.
    fn exec<'a>(
        sandbox: &'a Self::Sandbox,
        source: &'a str,
        input: &'a str,
    ) -> BoxFuture<'a, Outcome<String>>;
}

/// A [`Runtime`] over a script engine.
#[derive(Debug)]
pub struct SnippetRuntime<E> {
    host: Host,
    engine: WarmCell<E>,
}

impl<E: SnippetEngine> SnippetRuntime<E> {
    /// A runtime on `host`; the engine is made on start or first use.
    pub fn new(host: Host) -> Self {
        SnippetRuntime {
            host,
            engine: WarmCell::default(),
        }
    }

    async fn engine(&self) -> Result<E> {
        self.engine.get_or_make(|| E::make(self.host.clone())).await
    }
}

impl<E: SnippetEngine> Runtime for SnippetRuntime<E> {
    fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            capabilities: WARDEN_INTERFACES
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<Capability>>(),
            fuel: self.host.engine().options().fuel,
            ..E::info()
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.engine().await.map(|_| ()) })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.engine.clear() })
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            match self.engine.get() {
                Some(_) => Health::Healthy,
                None => Health::Degraded(E::not_started()),
            }
        })
    }

    fn compile<'a>(
        &'a self,
        language: Language,
        code: &'a [u8],
    ) -> BoxFuture<'a, Result<(Arc<dyn CompiledModule>, CompileReport)>> {
        Box::pin(async move {
            let started = Instant::now();
            let name = runtime_name::<E>();
            let text = source_text(&name, code)?;
            let engine = self.engine().await?;
            let source = engine.prepare_source(language, &text)?;
            let module = SnippetModule {
                runtime: name,
                engine,
                source: source.into(),
            };
            Ok((
                Arc::new(module) as Arc<dyn CompiledModule>,
                CompileReport::timed(started, false),
            ))
        })
    }
}

fn runtime_name<E: SnippetEngine>() -> Arc<str> {
    E::info().name.into()
}

/// Prepared source and the engine it runs on.
#[derive(Debug)]
struct SnippetModule<E> {
    runtime: Arc<str>,
    engine: E,
    source: Arc<str>,
}

impl<E: SnippetEngine> CompiledModule for SnippetModule<E> {
    fn instantiate(&self, policy: &Policy) -> Result<Arc<dyn ModuleInstance>> {
        Ok(Arc::new(SnippetInstance::<E> {
            runtime: self.runtime.clone(),
            sandbox: self.engine.sandbox(policy.clone())?,
            source: self.source.clone(),
        }))
    }
}

#[derive(Debug)]
struct SnippetInstance<E: SnippetEngine> {
    runtime: Arc<str>,
    sandbox: E::Sandbox,
    source: Arc<str>,
}

impl<E: SnippetEngine> ModuleInstance for SnippetInstance<E> {
    fn execute<'a>(&'a self, input: &'a Input) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async move {
            match json_input(&self.runtime, input) {
                Ok(json) => E::exec(&self.sandbox, &self.source, json)
                    .await
                    .map(|out| parse_output(&self.runtime, &out))
                    .into(),
                Err(e) => RunOutcome::failed(&self.runtime, crate::script::SCRIPT_EVAL, e),
            }
        })
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
