//! Named plugins: uploaded (`PUT /v1/plugins/{name}`: component bytes, or
//! JS/TS/Python source the server builds) or loaded from a watched
//! directory. Each name holds its current version behind an `Arc`: a new
//! version is loaded off to the side and swapped in at once, so calls in
//! flight finish on the old one; a version that fails to load leaves the
//! old one serving, and the error is kept for `GET /v1/plugins/{name}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use warden_api::{ErrorBody, ErrorCode, Grants, Language, PluginDescription};
use warden_host::{Host, Plugin};

use crate::error::ApiError;

/// One loaded version of a plugin.
#[derive(Debug)]
pub struct Version {
    /// 1, 2, … per name.
    pub number: u64,
    /// The plugin.
    pub plugin: Plugin,
    /// What it is, its WIT and what it needs (computed at load).
    pub description: PluginDescription,
    /// Where it came from: `upload`, `upload:js`, or the file's path.
    pub source: String,
    /// When it was loaded (seconds since 1970).
    pub loaded_at: u64,
}

#[derive(Debug, Default)]
struct Slot {
    current: Option<Arc<Version>>,
    last_error: Option<ErrorBody>,
    versions: u64,
}

/// A plugin's state, as `GET /v1/plugins` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// Its name.
    pub name: String,
    /// The version serving (none: none loaded yet).
    pub version: Option<u64>,
    /// `loaded`, or `failed` when no version loaded.
    pub status: &'static str,
    /// Where the serving version came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The serving version's content hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// When the serving version was loaded (seconds since 1970).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<u64>,
    /// The last load that failed (the old version, if any, kept serving).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ErrorBody>,
}

/// Every named plugin.
#[derive(Debug)]
pub struct Plugins {
    host: Host,
    slots: RwLock<BTreeMap<String, Arc<Mutex<Slot>>>>,
}

/// What a plugin is uploaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// A component, a preview1 module or WAT.
    Wasm,
    /// Source to build into a pre-initialized component.
    Source(Language),
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether `name` may name a plugin (it is a file stem and a URL segment).
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "`{name}` is not a plugin name: use 1 to 64 of a-z, A-Z, 0-9, `-`, `_`, `.` (not first)"
        ))
        .with("field", "name"))
    }
}

impl Plugins {
    /// No plugins yet.
    pub fn new(host: Host) -> Self {
        Plugins {
            host,
            slots: RwLock::default(),
        }
    }

    fn slot(&self, name: &str) -> Arc<Mutex<Slot>> {
        if let Some(s) = self
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return s.clone();
        }
        self.slots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// The version serving `name`.
    pub fn current(&self, name: &str) -> Result<Arc<Version>, ApiError> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        let slot = slots
            .get(name)
            .ok_or_else(|| ApiError::not_found("plugin", name))?;
        let slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        match (&slot.current, &slot.last_error) {
            (Some(v), _) => Ok(v.clone()),
            (None, Some(e)) => Err(ApiError::from(e.clone())
                .with("plugin", name)
                .with("note", "no version of this plugin has loaded")),
            (None, None) => Err(ApiError::not_found("plugin", name)),
        }
    }

    /// Build (for source) and load `bytes` as a new version of `name`,
    /// then swap it in. On failure the old version keeps serving and the
    /// error is kept (and returned).
    pub async fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        kind: Upload,
        source: String,
    ) -> Result<Arc<Version>, ApiError> {
        check_name(name)?;
        let slot = self.slot(name);
        let loaded = self.load(name, bytes, kind, source).await;
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(mut version) => {
                slot.versions += 1;
                version.number = slot.versions;
                let version = Arc::new(version);
                slot.current = Some(version.clone());
                slot.last_error = None;
                tracing::info!(plugin = name, version = version.number, source = %version.source, "plugin loaded");
                Ok(version)
            }
            Err(e) => {
                tracing::warn!(plugin = name, code = %e.body.code, "plugin failed to load, the old version (if any) keeps serving: {}", e.body.message);
                slot.last_error = Some(e.body.clone());
                Err(e)
            }
        }
    }

    async fn load(
        &self,
        name: &str,
        bytes: Vec<u8>,
        kind: Upload,
        source: String,
    ) -> Result<Version, ApiError> {
        let bytes = match kind {
            Upload::Wasm => bytes,
            Upload::Source(lang) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| ApiError::invalid("the plugin's source is not UTF-8"))?;
                match lang {
                    Language::JavaScript | Language::TypeScript => {
                        warden_js::build_plugin(&self.host, name, lang, &text).await?
                    }
                    Language::Python => {
                        let name = name.to_string();
                        tokio::task::spawn_blocking(move || {
                            warden_python::build_plugin(
                                &name,
                                &text,
                                &warden_python::BuildOptions::default(),
                            )
                        })
                        .await
                        .map_err(|e| {
                            ApiError::new(ErrorCode::Internal, format!("the build failed: {e}"))
                        })??
                    }
                    other => {
                        return Err(ApiError::invalid(format!(
                            "plugins are built from js, ts or python source, not {other}; upload a component"
                        )));
                    }
                }
            }
        };
        let host = self.host.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let plugin = host.load_bytes(&name, &bytes)?;
            let description = plugin.describe(&Grants::none(), Some(&bytes));
            Ok::<_, warden_host::Error>(Version {
                number: 0,
                plugin,
                description,
                source,
                loaded_at: now(),
            })
        })
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the loading thread failed: {e}"),
            )
        })?
        .map_err(ApiError::from)
    }

    /// Forget `name`; calls in flight finish on the version they hold.
    pub fn remove(&self, name: &str) -> Result<(), ApiError> {
        self.slots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found("plugin", name))
    }

    /// The status of `name`.
    pub fn status(&self, name: &str) -> Result<PluginStatus, ApiError> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        let slot = slots
            .get(name)
            .ok_or_else(|| ApiError::not_found("plugin", name))?;
        let slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        let v = slot.current.as_ref();
        Ok(PluginStatus {
            name: name.to_string(),
            version: v.map(|v| v.number),
            status: if v.is_some() { "loaded" } else { "failed" },
            source: v.map(|v| v.source.clone()),
            content_hash: v.map(|v| v.description.content_hash.clone()),
            loaded_at: v.map(|v| v.loaded_at),
            last_error: slot.last_error.clone(),
        })
    }

    /// Every plugin's status, by name.
    pub fn list(&self) -> Vec<PluginStatus> {
        let names: Vec<String> = self
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.iter().filter_map(|n| self.status(n).ok()).collect()
    }
}

/// The plugin a file in the watched directory is (`NAME.wasm` or `NAME.wat`).
fn plugin_of(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?;
    if ext != "wasm" && ext != "wat" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    check_name(stem).ok()?;
    Some(stem.to_string())
}

/// Load every plugin in `dir`, then watch it: a changed file is reloaded
/// (after it has been quiet for 100 ms), a removed one is forgotten. The
/// watcher lives as long as the returned value.
pub async fn watch_dir(
    plugins: Arc<Plugins>,
    dir: PathBuf,
) -> Result<notify::RecommendedWatcher, String> {
    use notify::Watcher as _;
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading the plugins directory {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        reload(&plugins, &entry.path()).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| format!("watching {}: {e}", dir.display()))?;
    watcher
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .map_err(|e| format!("watching {}: {e}", dir.display()))?;
    tokio::spawn(async move {
        let mut pending: BTreeMap<PathBuf, ()> = BTreeMap::new();
        loop {
            // Gather changes until the directory has been quiet for 100 ms.
            let next = if pending.is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                    Ok(p) => p,
                    Err(_) => {
                        for (path, ()) in std::mem::take(&mut pending) {
                            reload(&plugins, &path).await;
                        }
                        continue;
                    }
                }
            };
            match next {
                Some(path) if plugin_of(&path).is_some() => {
                    pending.insert(path, ());
                }
                Some(_) => {}
                None => break,
            }
        }
    });
    Ok(watcher)
}

async fn reload(plugins: &Plugins, path: &Path) {
    let Some(name) = plugin_of(path) else {
        return;
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let _ = plugins
                .put(&name, bytes, Upload::Wasm, path.display().to_string())
                .await;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if plugins.remove(&name).is_ok() {
                tracing::info!(plugin = %name, "plugin file removed; plugin forgotten");
            }
        }
        Err(e) => tracing::warn!(plugin = %name, "reading {}: {e}", path.display()),
    }
}
