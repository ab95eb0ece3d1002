//! [`HostConfig`]: a host as data. The library reads no environment
//! variables: the CLI maps its flags and environment to this struct, a
//! server reads it from a TOML file, the Node binding from an options
//! object; then [`HostConfig::builder`] makes the host (embedder code adds
//! its own host functions and event sink to the builder).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::capabilities::kv::FileKv;
use crate::engine::EngineOptions;
use crate::error::Result;
use crate::host::{Host, HostBuilder};

/// Where kv state lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KvConfig {
    /// In memory, for the life of the host (the default).
    #[default]
    Memory,
    /// In files under `path`, one per namespace.
    Dir {
        /// The directory.
        path: PathBuf,
    },
}

/// Host functions warden ships, which a config may turn on by name (an
/// embedder registers its own with [`HostBuilder::host_fn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltinFn {
    /// `echo`: returns its arguments.
    Echo,
    /// `now`: Unix time in milliseconds.
    Now,
}

impl BuiltinFn {
    /// The name guests call it by.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinFn::Echo => "echo",
            BuiltinFn::Now => "now",
        }
    }
}

/// A host as data: the compile cache, the engine, the kv backend and the
/// built-in host functions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Cache compiled components (`.cwasm`) here (none: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// How the engine is built.
    pub engine: EngineOptions,
    /// Where kv state lives.
    pub kv: KvConfig,
    /// Built-in host functions to register.
    pub host_fns: Vec<BuiltinFn>,
}

impl HostConfig {
    /// A builder with everything this config says; add embedder functions
    /// and an event sink, then [`HostBuilder::build`].
    pub fn builder(&self) -> Result<HostBuilder> {
        let mut b = Host::builder().engine(self.engine.clone());
        if let Some(dir) = &self.cache_dir {
            b = b.cache_dir(dir.clone());
        }
        if let KvConfig::Dir { path } = &self.kv {
            b = b.kv(FileKv::open(path)?);
        }
        for f in &self.host_fns {
            b = match f {
                BuiltinFn::Echo => b.host_fn("echo", |call| async move { Ok(call.args) }),
                BuiltinFn::Now => b.host_fn("now", |_call| async move {
                    let ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_err(|e| format!("the system clock is before 1970: {e}"))?
                        .as_millis();
                    Ok(serde_json::json!(ms as u64))
                }),
            };
        }
        Ok(b)
    }

    /// The host itself.
    pub fn build(&self) -> Result<Host> {
        self.builder()?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_config_reads_from_json_with_units_and_refuses_unknown_fields() {
        let c: HostConfig = serde_json::from_str(
            r#"{"cache_dir": "/tmp/c", "engine": {"fuel": true, "epoch_tick": "10ms",
                "max_memory_size": "256MiB"}, "kv": {"backend": "dir", "path": "/tmp/kv"},
                "host_fns": ["echo", "now"]}"#,
        )
        .unwrap();
        assert!(c.engine.fuel);
        assert_eq!(c.engine.epoch_tick, std::time::Duration::from_millis(10));
        assert_eq!(c.engine.max_memory_size, 256 << 20);
        assert_eq!(
            c.engine.max_instances,
            EngineOptions::default().max_instances
        );
        assert_eq!(
            c.kv,
            KvConfig::Dir {
                path: "/tmp/kv".into()
            }
        );
        assert_eq!(c.host_fns, [BuiltinFn::Echo, BuiltinFn::Now]);
        let e = serde_json::from_str::<HostConfig>(r#"{"engine": {"fule": true}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `fule`"), "{e}");
        let back: HostConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
