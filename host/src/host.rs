//! [`Host`]: the engine, the one linker with every capability, the shared
//! capability backends (kv, host functions, event sink) and the cache. Load
//! plugins from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use wasmtime::component::{Component, HasSelf, Linker};

use crate::cache::{CacheStatus, DiskCache};
use crate::capabilities::events::{EventSink, TracingEventSink};
use crate::capabilities::host_call::{HostCall, HostFn};
use crate::capabilities::kv::{KvBackend, MemoryKv};
use crate::engine::{EngineOptions, WardenEngine};
use crate::error::{Error, Result};
use crate::lock;
use crate::plugin::{Plugin, PluginInner};
use crate::state::CallState;

/// What every call of every plugin of a host shares.
pub(crate) struct HostShared {
    pub(crate) kv: Arc<dyn KvBackend>,
    pub(crate) host_fns: HashMap<String, HostFn>,
    pub(crate) events: Arc<dyn EventSink>,
}

/// Configure a [`Host`].
pub struct HostBuilder {
    engine: EngineOptions,
    cache_dir: Option<PathBuf>,
    kv: Arc<dyn KvBackend>,
    host_fns: HashMap<String, HostFn>,
    events: Arc<dyn EventSink>,
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
                shared: Arc::new(HostShared {
                    kv: self.kv,
                    host_fns: self.host_fns,
                    events: self.events,
                }),
            }),
        })
    }
}

fn build_linker(engine: &WardenEngine) -> Result<Linker<CallState>> {
    let mut linker = Linker::new(engine.wasmtime());
    let err = |e: wasmtime::Error| Error::internal(format!("linking capabilities: {e}"));
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(err)?;
    crate::bindings::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
        .map_err(err)?;
    record_opened_paths(&mut linker).map_err(err)?;
    Ok(linker)
}

/// Wrap `descriptor.open-at` so the receipt lists the paths a guest opened;
/// the real work is wasmtime-wasi's own implementation (cap-std underneath).
fn record_opened_paths(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::filesystem::types::{
        DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
    };
    type Args = (
        Resource<Descriptor>,
        PathFlags,
        String,
        OpenFlags,
        DescriptorFlags,
    );

    linker.allow_shadowing(true);
    let mut types = linker.instance("wasi:filesystem/types@0.2.12")?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store, (fd, path_flags, path, oflags, flags): Args| {
            Box::new(async move {
                let state: &mut CallState = store.data_mut();
                if state.receipt.paths.len() < 256 {
                    state.receipt.paths.insert(path.clone());
                }
                let opened = HostDescriptor::open_at(
                    &mut state.filesystem(),
                    fd,
                    path_flags,
                    path,
                    oflags,
                    flags,
                )
                .await;
                let result: Result<Resource<Descriptor>, ErrorCode> = match opened {
                    Ok(d) => Ok(d),
                    Err(e) => Err(e.downcast()?),
                };
                Ok((result,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

pub(crate) struct HostInner {
    pub(crate) engine: WardenEngine,
    pub(crate) linker: Linker<CallState>,
    cache: Option<DiskCache>,
    /// Plugins alive, by component hash: loading the same bytes again
    /// shares their compiled code and memory images (one copy in memory and
    /// in the CPU's caches, and the pool's slots stay warm for both).
    loaded: Mutex<HashMap<String, Weak<PluginInner>>>,
    pub(crate) shared: Arc<HostShared>,
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

impl SourceKind {
    /// `component`, `wat`, `preview1-command` or `preview1-reactor`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Component => "component",
            SourceKind::Wat => "wat",
            SourceKind::Preview1Command => "preview1-command",
            SourceKind::Preview1Reactor => "preview1-reactor",
        }
    }
}

/// What kind of Wasm was given, before it became a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A component binary.
    Component,
    /// WAT text (of a component or a module).
    Wat,
    /// A WASI preview1 command module, adapted.
    Preview1Command,
    /// A WASI preview1 reactor module, adapted.
    Preview1Reactor,
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

    /// The cache directory, when caching is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.as_ref().map(|c| c.dir())
    }

    /// Load a plugin from a file (component, WAT, or WASI preview1 module).
    /// The plugin's name is the file stem.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Plugin> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("reading plugin {}", path.display()), e))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        self.load_bytes(&name, &bytes)
    }

    /// Load a plugin from bytes (component, WAT, or WASI preview1 module).
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Plugin> {
        let started = Instant::now();
        let (component_bytes, source) = to_component(name, bytes)?;
        let hash = blake3::hash(&component_bytes).to_hex()[..32].to_string();
        let alive = lock(&self.inner.loaded)
            .get(&hash)
            .and_then(Weak::upgrade)
            .map(Plugin::from_arc);
        let (component, cache) = match &alive {
            Some(p) => (p.component().clone(), CacheStatus::Shared),
            None => self.compile(name, &hash, &component_bytes)?,
        };
        let plugin = Plugin::from_inner(PluginInner::new(
            self.clone(),
            name,
            component,
            source,
            hash.clone(),
            cache,
        )?);
        {
            let mut loaded = lock(&self.inner.loaded);
            loaded.retain(|_, w| w.strong_count() > 0);
            loaded.insert(hash, plugin.downgrade());
        }
        tracing::debug!(plugin = name, ?cache, elapsed = ?started.elapsed(), "loaded");
        Ok(plugin)
    }

    fn compile(&self, name: &str, hash: &str, bytes: &[u8]) -> Result<(Component, CacheStatus)> {
        let engine = &self.inner.engine;
        let compile = || {
            Component::new(engine.wasmtime(), bytes).map_err(|e| Error::Compile {
                plugin: name.to_string(),
                message: format!("{e:#}"),
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

/// Turn what a plugin file holds — a component, WAT text, or a WASI
/// preview1 core module (adapted with the preview1 adapter) — into component
/// bytes, as [`Host::load_bytes`] does before compiling. `name` is only used
/// in errors.
pub fn componentize(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, SourceKind)> {
    to_component(name, bytes)
}

fn to_component(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, SourceKind)> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok((bytes.to_vec(), SourceKind::Component));
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return adapt_core_module(name, bytes);
    }
    if bytes.starts_with(b"\0asm") {
        return Err(Error::NotWasm {
            plugin: name.into(),
            detail: "unsupported WebAssembly version or layer in the header".into(),
        });
    }
    // Text? Try WAT.
    match std::str::from_utf8(bytes) {
        Ok(text) if looks_like_wat(text) => {
            let parsed = wat::parse_str(text).map_err(|e| Error::NotWasm {
                plugin: name.into(),
                detail: format!("invalid WAT: {e}"),
            })?;
            if wasmparser::Parser::is_component(&parsed) {
                Ok((parsed, SourceKind::Wat))
            } else {
                adapt_core_module(name, &parsed).map(|(b, _)| (b, SourceKind::Wat))
            }
        }
        _ => {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(Error::NotWasm {
                plugin: name.into(),
                detail: format!(
                    "expected the `\\0asm` magic or WAT text, found bytes [{}] ({} bytes in all)",
                    head.join(" "),
                    bytes.len()
                ),
            })
        }
    }
}

fn looks_like_wat(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('(') || t.starts_with(";;")
}

/// Adapt a WASI preview1 core module into a component with the adapter from
/// `wasi-preview1-component-adapter-provider`.
fn adapt_core_module(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, SourceKind)> {
    let mut imports_wasi = false;
    let mut has_start = false;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                for imp in reader.into_imports().flatten() {
                    if imp.module == "wasi_snapshot_preview1" {
                        imports_wasi = true;
                    }
                }
            }
            Ok(wasmparser::Payload::ExportSection(reader)) => {
                for exp in reader.into_iter().flatten() {
                    if exp.name == "_start" {
                        has_start = true;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Error::NotWasm {
                    plugin: name.into(),
                    detail: format!("malformed core module: {e}"),
                });
            }
        }
    }
    if !imports_wasi {
        return Err(Error::NotAComponent {
            plugin: name.into(),
            detail: "this is a core WebAssembly module without WASI preview1 imports; warden runs \
                     components: build for wasm32-wasip2, or for wasm32-wasip1 so warden can adapt it"
                .into(),
        });
    }
    let (adapter, kind) = if has_start {
        (
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            SourceKind::Preview1Command,
        )
    } else {
        (
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            SourceKind::Preview1Reactor,
        )
    };
    let encoded = wit_component::ComponentEncoder::default()
        .module(bytes)
        .and_then(|e| e.adapter("wasi_snapshot_preview1", adapter))
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| Error::NotAComponent {
            plugin: name.into(),
            detail: format!("adapting the preview1 module failed: {e:#}"),
        })?;
    Ok((encoded, kind))
}
