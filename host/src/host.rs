//! [`Host`]: the engine, the one linker with every capability, the shared
//! capability backends (kv, host functions, event sink) and the cache. Load
//! plugins from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use wasmtime::component::{Component, Linker};

use crate::cache::{CacheStatus, DiskCache};
use crate::capabilities::Backends;
use crate::capabilities::events::{EventSink, TracingEventSink};
use crate::capabilities::host_call::{HostCall, HostFn};
use crate::capabilities::kv::{KvBackend, MemoryKv};
use crate::capabilities::log::LogSink;
use crate::engine::{EngineOptions, WardenEngine};
use crate::error::{Error, Result};
use crate::state::CallState;

/// Configure a [`Host`].
pub struct HostBuilder {
    engine: EngineOptions,
    cache_dir: Option<PathBuf>,
    kv: Arc<dyn KvBackend>,
    host_fns: HashMap<String, HostFn>,
    events: Arc<dyn EventSink>,
    logs: Option<Arc<dyn LogSink>>,
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("engine", &self.engine)
            .field("cache_dir", &self.cache_dir)
            .field("host_fns", &self.host_fns.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            engine: EngineOptions::default(),
            cache_dir: None,
            kv: Arc::new(MemoryKv::new()),
            host_fns: HashMap::new(),
            events: Arc::new(TracingEventSink),
            logs: None,
        }
    }
}

impl HostBuilder {
    /// Engine options (fuel, pool sizes, epoch tick).
    pub fn engine(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Cache compiled components (`.cwasm`) in `dir`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The kv backend (default: in memory).
    pub fn kv(mut self, kv: impl KvBackend + 'static) -> Self {
        self.kv = Arc::new(kv);
        self
    }

    /// Where guest events go (default: `tracing`).
    pub fn event_sink(mut self, sink: impl EventSink + 'static) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// Also send guest log lines here as they are written (they always go
    /// to `tracing` and into the call's outcome).
    pub fn log_sink(mut self, sink: impl LogSink + 'static) -> Self {
        self.logs = Some(Arc::new(sink));
        self
    }

    /// Register an async host function guests can call through
    /// `warden:plugin/host.call` when their grants name it.
    pub fn host_fn<F, Fut>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<serde_json::Value, String>> + Send + 'static,
    {
        let f: HostFn = Arc::new(move |call| Box::pin(f(call)));
        self.host_fns.insert(name.into(), f);
        self
    }

    /// Build the host: engine, epoch ticker, linker.
    pub fn build(self) -> Result<Host> {
        let engine = WardenEngine::new(self.engine)?;
        let linker = build_linker(&engine)?;
        Ok(Host {
            inner: Arc::new(HostInner {
                engine,
                linker,
                cache: self.cache_dir.map(DiskCache::new),
                loaded: Mutex::new(HashMap::new()),
                backends: Backends {
                    kv: self.kv,
                    host_fns: Arc::new(self.host_fns),
                    events: self.events,
                    logs: self.logs,
                },
            }),
        })
    }
}

fn build_linker(engine: &WardenEngine) -> Result<Linker<CallState>> {
    let mut linker = Linker::new(engine.wasmtime());
    crate::capabilities::add_to_linker(&mut linker)
        .map_err(|e| Error::internal(format!("linking capabilities: {e}")))?;
    Ok(linker)
}

pub(crate) struct HostInner {
    pub(crate) engine: WardenEngine,
    pub(crate) linker: Linker<CallState>,
    cache: Option<DiskCache>,
    /// Plugins alive, by component hash: loading the same bytes again
    /// shares their compiled code and memory images (one copy in memory and
    /// in the CPU's caches, and the pool's slots stay warm for both).
    pub(crate) loaded: Mutex<HashMap<String, Weak<Component>>>,
    pub(crate) backends: Backends,
}

impl HostInner {
    /// A checksummed raw entry (e.g. a pre-initialized component) from the cache.
    pub(crate) fn cache_get_raw(&self, key: &str) -> Option<Vec<u8>> {
        self.cache.as_ref()?.load_raw(&format!("{key}.wasm"))
    }

    pub(crate) fn cache_put_raw(&self, key: &str, bytes: &[u8]) {
        if let Some(cache) = &self.cache
            && let Err(e) = cache.store(&cache.raw_path(&format!("{key}.wasm")), bytes)
        {
            tracing::warn!("cannot write cache entry {key}: {e}");
        }
    }
}

/// An embeddable warden host. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Start configuring a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The engine.
    pub fn engine(&self) -> &WardenEngine {
        &self.inner.engine
    }

    /// The kv backend every call's `warden:plugin/kv` reads and writes
    /// (an embedder reads a namespace's state through it: a server's
    /// session state).
    pub fn kv(&self) -> &Arc<dyn KvBackend> {
        &self.inner.backends.kv
    }

    /// The cache directory, when caching is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.as_ref().map(|c| c.dir())
    }

    pub(crate) fn compile(
        &self,
        name: &str,
        hash: &str,
        bytes: &[u8],
    ) -> Result<(Component, CacheStatus)> {
        let engine = &self.inner.engine;
        let compile = || {
            Component::new(engine.wasmtime(), bytes).map_err(|e| Error::Compile {
                plugin: name.to_string(),
                message: crate::engine::with_pool_hint(format!("{e:#}")),
            })
        };
        let Some(cache) = &self.inner.cache else {
            return Ok((compile()?, CacheStatus::Disabled));
        };
        let path = cache.path_for(engine, hash);
        let status = if path.exists() {
            match cache.load(engine, &path) {
                Ok(c) => return Ok((c, CacheStatus::Hit)),
                Err(reason) => {
                    tracing::warn!(plugin = name, path = %path.display(), "recompiling: cache entry unusable: {reason}");
                    CacheStatus::Replaced
                }
            }
        } else {
            CacheStatus::Miss
        };
        let component = compile()?;
        match component.serialize() {
            Ok(ser) => {
                if let Err(e) = cache.store(&path, &ser) {
                    tracing::warn!(path = %path.display(), "cannot write cache entry: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialize component: {e}"),
        }
        Ok((component, status))
    }
}
