//! The `.cwasm` disk cache: compiled components keyed by the content hash of
//! the component and the engine fingerprint (Wasmtime version and codegen
//! settings). Each entry carries a BLAKE3 checksum of its payload, verified
//! before the (unsafe) deserialize, so a corrupt or truncated entry is
//! recompiled, never loaded. Writes go to a temp file and are renamed into
//! place, so concurrent writers and crashes leave whole entries only.

use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;

use crate::engine::WardenEngine;

const MAGIC: &[u8; 8] = b"WARDEN1\0";

pub use warden_api::CacheStatus;

#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        DiskCache { dir }
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub(crate) fn path_for(&self, engine: &WardenEngine, content_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{content_hash}-{}.cwasm", engine.fingerprint()))
    }

    pub(crate) fn raw_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A raw entry whose checksum verifies, or `None`.
    pub(crate) fn load_raw(&self, name: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.raw_path(name)).ok()?;
        verified_payload(&bytes).map(<[u8]>::to_vec)
    }

    /// Load a valid entry, or `Err(reason)` when it is missing/corrupt/stale.
    pub(crate) fn load(&self, engine: &WardenEngine, path: &Path) -> Result<Component, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let payload = verified_payload(&bytes).ok_or("bad header or checksum mismatch")?;
        // SAFETY: the payload is exactly what `Component::serialize` wrote
        // with this engine fingerprint (checked by the checksum and the file
        // name); Wasmtime additionally checks its own header and version.
        unsafe { Component::deserialize(engine.wasmtime(), payload) }.map_err(|e| e.to_string())
    }

    pub(crate) fn store(&self, path: &Path, serialized: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension(format!(
            "tmp{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(blake3::hash(serialized).as_bytes())?;
        f.write_all(serialized)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

/// The payload of an entry whose header and checksum verify.
fn verified_payload(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (sum, payload) = bytes[MAGIC.len()..].split_at(32);
    (blake3::hash(payload).as_bytes() == sum).then_some(payload)
}
