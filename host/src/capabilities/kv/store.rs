//! The stores behind `warden:plugin/kv`, shared by all plugins of a host
//! and partitioned by namespace.
//!
//! Two backends: [`MemoryKv`] and [`FileKv`], which keeps one file per
//! namespace and replaces it atomically (write, fsync, rename) on every
//! change, so state survives a restart and a crash never leaves half a file.

use crate::lock;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Errors of a kv backend.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The write would take the namespace over its quota.
    #[error("namespace `{namespace}` would hold {wanted} bytes, over its quota of {quota}")]
    QuotaExceeded {
        /// The namespace.
        namespace: String,
        /// Bytes it would hold.
        wanted: u64,
        /// The quota.
        quota: u64,
    },
    /// Storage failed.
    #[error("kv storage: {0}")]
    Storage(String),
}

/// A key-value store shared by all plugins of a host, partitioned by namespace.
pub trait KvBackend: Send + Sync + Debug {
    /// Read a key.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Write a key, refusing if the namespace would pass `quota` bytes.
    fn set(&self, namespace: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KvError>;
    /// Delete a key; true if it existed.
    fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError>;
    /// Keys starting with `prefix`, sorted.
    fn list(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, KvError>;
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Namespace {
    entries: BTreeMap<String, Vec<u8>>,
    #[serde(skip)]
    bytes: u64,
}

impl Namespace {
    fn recount(&mut self) {
        self.bytes = self
            .entries
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
    }

    fn set(&mut self, ns: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KvError> {
        let old = self
            .entries
            .get(key)
            .map(|v| (key.len() + v.len()) as u64)
            .unwrap_or(0);
        let wanted = self.bytes - old + (key.len() + value.len()) as u64;
        if wanted > quota {
            return Err(KvError::QuotaExceeded {
                namespace: ns.to_string(),
                wanted,
                quota,
            });
        }
        self.entries.insert(key.to_string(), value.to_vec());
        self.bytes = wanted;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(v) => {
                self.bytes -= (key.len() + v.len()) as u64;
                true
            }
            None => false,
        }
    }

    fn list(&self, prefix: &str) -> Vec<String> {
        self.entries
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// In-memory backend: state lives as long as the host.
#[derive(Debug, Default)]
pub struct MemoryKv {
    namespaces: Mutex<HashMap<String, Namespace>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvBackend for MemoryKv {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(lock(&self.namespaces)
            .get(ns)
            .and_then(|n| n.entries.get(key).cloned()))
    }
    fn set(&self, ns: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KvError> {
        lock(&self.namespaces)
            .entry(ns.to_string())
            .or_default()
            .set(ns, key, value, quota)
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        Ok(lock(&self.namespaces)
            .get_mut(ns)
            .is_some_and(|n| n.delete(key)))
    }
    fn list(&self, ns: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        Ok(lock(&self.namespaces)
            .get(ns)
            .map(|n| n.list(prefix))
            .unwrap_or_default())
    }
}

/// File-backed backend: `<dir>/<hex(namespace)>.json`, replaced atomically on
/// every change. Reads are served from memory after the first load.
#[derive(Debug)]
pub struct FileKv {
    dir: PathBuf,
    namespaces: Mutex<HashMap<String, Namespace>>,
}

impl FileKv {
    /// Open (creating) the directory.
    pub fn open(dir: impl Into<PathBuf>) -> crate::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::Error::io(format!("creating kv directory {}", dir.display()), e))?;
        Ok(FileKv {
            dir,
            namespaces: Mutex::default(),
        })
    }

    fn path(&self, ns: &str) -> PathBuf {
        let hex: String = ns.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    fn with_ns<R>(&self, ns: &str, f: impl FnOnce(&mut Namespace) -> R) -> Result<R, KvError> {
        let mut map = lock(&self.namespaces);
        if !map.contains_key(ns) {
            let loaded = load(&self.path(ns))?;
            map.insert(ns.to_string(), loaded);
        }
        let n = map
            .get_mut(ns)
            .ok_or_else(|| KvError::Storage("namespace vanished".into()))?;
        Ok(f(n))
    }

    fn persist(&self, ns: &str, n: &Namespace) -> Result<(), KvError> {
        let path = self.path(ns);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            serde_json::to_writer(&mut f, n)?;
            f.flush()?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| KvError::Storage(format!("writing {}: {e}", path.display())))
    }
}

fn load(path: &Path) -> Result<Namespace, KvError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mut n: Namespace = serde_json::from_slice(&bytes).map_err(|e| {
                KvError::Storage(format!("{} is not a kv file: {e}", path.display()))
            })?;
            n.recount();
            Ok(n)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Namespace::default()),
        Err(e) => Err(KvError::Storage(format!("reading {}: {e}", path.display()))),
    }
}

impl KvBackend for FileKv {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.with_ns(ns, |n| n.entries.get(key).cloned())
    }
    fn set(&self, ns: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KvError> {
        // Hold the lock across the write so concurrent writers serialize.
        let mut map = lock(&self.namespaces);
        if !map.contains_key(ns) {
            map.insert(ns.to_string(), load(&self.path(ns))?);
        }
        let n = map
            .get_mut(ns)
            .ok_or_else(|| KvError::Storage("namespace vanished".into()))?;
        let previous = n.entries.get(key).cloned();
        n.set(ns, key, value, quota)?;
        if let Err(e) = self.persist(ns, n) {
            // Roll back so memory matches disk.
            match previous {
                Some(v) => {
                    let _ = n.set(ns, key, &v, u64::MAX);
                }
                None => {
                    n.delete(key);
                }
            }
            return Err(e);
        }
        Ok(())
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        let mut map = lock(&self.namespaces);
        if !map.contains_key(ns) {
            map.insert(ns.to_string(), load(&self.path(ns))?);
        }
        let Some(n) = map.get_mut(ns) else {
            return Ok(false);
        };
        let existed = n.delete(key);
        if existed {
            self.persist(ns, n)?;
        }
        Ok(existed)
    }
    fn list(&self, ns: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        self.with_ns(ns, |n| n.list(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(kv: &dyn KvBackend) {
        kv.set("a", "k1", b"hello", 100).unwrap();
        kv.set("b", "k1", b"other", 100).unwrap();
        assert_eq!(kv.get("a", "k1").unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(kv.get("b", "k1").unwrap().as_deref(), Some(&b"other"[..]));
        assert_eq!(kv.get("a", "nope").unwrap(), None);
        // Quota: "k2" + 10 bytes = 12, plus 7 already held = 19 > 15.
        let err = kv.set("a", "k2", &[0; 10], 15).unwrap_err();
        assert!(
            matches!(err, KvError::QuotaExceeded { wanted: 19, .. }),
            "{err}"
        );
        // Overwriting counts the new size, not old + new.
        kv.set("a", "k1", b"hellohello", 15).unwrap();
        kv.set("a", "k2", b"", 15).unwrap();
        assert_eq!(kv.list("a", "k").unwrap(), vec!["k1", "k2"]);
        assert!(kv.delete("a", "k1").unwrap());
        assert!(!kv.delete("a", "k1").unwrap());
        assert_eq!(kv.list("a", "").unwrap(), vec!["k2"]);
    }

    #[test]
    fn memory_backend() {
        exercise(&MemoryKv::new());
    }

    #[test]
    fn file_backend_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let kv = FileKv::open(dir.path()).unwrap();
            exercise(&kv);
            kv.set("a/../weird ns", "x", b"1", 100).unwrap();
        }
        let kv = FileKv::open(dir.path()).unwrap();
        assert_eq!(kv.list("a", "").unwrap(), vec!["k2"]);
        assert_eq!(kv.get("b", "k1").unwrap().as_deref(), Some(&b"other"[..]));
        assert_eq!(
            kv.get("a/../weird ns", "x").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        // The quota is still enforced from the reloaded byte count.
        assert!(kv.set("b", "big", &[0; 100], 100).is_err());
        // No stray temp files.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(name.ends_with(".json"), "{name}");
        }
    }

    #[test]
    fn corrupt_file_is_a_storage_error() {
        let dir = tempfile::tempdir().unwrap();
        let kv = FileKv::open(dir.path()).unwrap();
        std::fs::write(kv.path("c"), b"not json").unwrap();
        let err = kv.get("c", "k").unwrap_err();
        assert!(matches!(err, KvError::Storage(_)), "{err}");
    }
}
