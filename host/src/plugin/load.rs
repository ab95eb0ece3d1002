//! Loading a plugin: bytes to a component ([`crate::componentize`]),
//! compiled once per host (shared with a plugin of the same bytes that is
//! still alive, or read from the disk cache), then checked and pre-linked.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::{Plugin, PluginInner};
use crate::cache::CacheStatus;
use crate::componentize::to_component;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::lock;

impl Host {
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
        let alive = lock(&self.inner.loaded).get(&hash).and_then(Weak::upgrade);
        let (component, cache) = match alive {
            Some(c) => (c, CacheStatus::Shared),
            None => {
                let (c, status) = self.compile(name, &hash, &component_bytes)?;
                (Arc::new(c), status)
            }
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
            loaded.insert(hash, Arc::downgrade(&plugin.inner.component));
        }
        tracing::debug!(plugin = name, ?cache, elapsed = ?started.elapsed(), "loaded");
        Ok(plugin)
    }
}
