//! The `rust` runtime: Rust source compiled with the installed toolchain to
//! a wasm32-wasip2 component, cached on disk by a hash of the source, the
//! compiler's version and the flags, then run like any WASI command.
//!
//! The source is one file with no dependencies beyond `std`: a value
//! `main` (`#[no_mangle] pub extern "C" fn main() -> u32`, `fn main() -> T`),
//! a whole program, or a `fn run(input: &str)`; the rules are in
//! [`super::rust_source`].
//!
//! Line numbers in compiler errors are the source's own (`snippet.rs:L:C`).
//! The first compile of a source runs rustc (about a second) and says so in
//! its [`CompileReport`]; later ones load the cached component.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::runtime::{
    BoxFuture, CompileReport, CompiledModule, Complexity, Health, Language, Latency, Runtime,
    RuntimeInfo, source_text,
};
use super::rust_source::program_of;
use super::wasm::WasmRuntime;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::policy::Capability;

/// The target snippets are compiled for.
pub const TARGET: &str = "wasm32-wasip2";

/// Settings of the Rust runtime.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RustOptions {
    /// The compiler command: the program and any leading arguments (e.g.
    /// `["rustup", "run", "1.99.1", "rustc"]`). Default: `["rustc"]`.
    pub rustc: Vec<String>,
    /// `-C opt-level` (default `2`).
    pub opt_level: String,
    /// Where compiled components are kept (default: `rust/` in the host's
    /// cache directory; without one nothing is kept on disk, and each
    /// compile builds in a private temporary directory).
    pub cache_dir: Option<PathBuf>,
}

impl Default for RustOptions {
    fn default() -> Self {
        RustOptions {
            rustc: vec!["rustc".into()],
            opt_level: "2".into(),
            cache_dir: None,
        }
    }
}

/// Compiles Rust with rustc and runs it on the [`WasmRuntime`].
#[derive(Debug)]
pub struct RustRuntime {
    wasm: WasmRuntime,
    shared: Arc<Shared>,
    /// One rustc at a time: it uses every core.
    compiling: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Shared {
    options: RustOptions,
    cache_dir: Option<PathBuf>,
    /// `rustc -V`, once known.
    version: Mutex<Option<String>>,
}

/// Run blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("the compiler thread failed: {e}")))?
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl RustRuntime {
    /// A Rust runtime on `host`.
    pub fn new(host: Host, options: RustOptions) -> Self {
        let cache_dir = options
            .cache_dir
            .clone()
            .or_else(|| host.cache_dir().map(|d| d.join("rust")));
        RustRuntime {
            wasm: WasmRuntime::new(host),
            shared: Arc::new(Shared {
                options,
                cache_dir,
                version: Mutex::new(None),
            }),
            compiling: tokio::sync::Mutex::new(()),
        }
    }
}

impl Shared {
    fn rustc(&self) -> Result<Command> {
        let (program, args) =
            self.options
                .rustc
                .split_first()
                .ok_or_else(|| Error::Unavailable {
                    runtime: "rust".into(),
                    reason: "no compiler command configured".into(),
                })?;
        let mut cmd = Command::new(program);
        cmd.args(args);
        Ok(cmd)
    }

    fn command_line(&self) -> String {
        self.options.rustc.join(" ")
    }

    /// Check the compiler and the target; the version (`rustc 1.99.1 …`).
    fn probe(&self) -> Result<String> {
        let unavailable = |reason: String| Error::Unavailable {
            runtime: "rust".into(),
            reason,
        };
        let out = self
            .rustc()?
            .arg("-V")
            .output()
            .map_err(|e| unavailable(format!("cannot run `{}`: {e}", self.command_line())))?;
        if !out.status.success() {
            return Err(unavailable(format!(
                "`{} -V` failed: {}",
                self.command_line(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = self
            .rustc()?
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .map_err(|e| unavailable(format!("cannot run `{}`: {e}", self.command_line())))?;
        let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !out.status.success() || !libdir.join("libstd.rlib").exists() && !has_std(&libdir) {
            return Err(unavailable(format!(
                "{version} has no {TARGET} standard library: run `rustup target add {TARGET}`"
            )));
        }
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = Some(version.clone());
        Ok(version)
    }

    fn known_version(&self) -> Result<String> {
        if let Some(v) = self
            .version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(v);
        }
        self.probe()
    }

    /// Compile `source` (blocking): the component bytes, and whether they
    /// came from the disk cache.
    fn build(&self, source: &str) -> Result<(Vec<u8>, bool, String)> {
        let version = self.known_version()?;
        let program = program_of(source)?;
        let mut h = blake3::Hasher::new();
        for part in [&version, &self.options.opt_level, TARGET, &program] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        let hash = h.finalize().to_hex()[..32].to_string();
        let Some(cache_dir) = &self.cache_dir else {
            // No cache: a private directory of our own, removed afterwards.
            let work = private_dir(&hash)?;
            let result = self.rustc_in(&work, &program, &hash);
            let _ = std::fs::remove_dir_all(&work);
            return result.map(|bytes| (bytes, false, version));
        };
        // An entry is the BLAKE3 digest of the component, then the component:
        // a damaged entry is rebuilt, not loaded.
        let path = cache_dir.join(format!("{hash}.wasm"));
        if let Ok(entry) = std::fs::read(&path)
            && entry.len() > 32
            && blake3::hash(&entry[32..]).as_bytes()[..] == entry[..32]
        {
            return Ok((entry[32..].to_vec(), true, version));
        }
        std::fs::create_dir_all(cache_dir)
            .map_err(io(format!("creating {}", cache_dir.display())))?;
        let work = cache_dir.join(format!("build-{hash}-{}", std::process::id()));
        std::fs::create_dir_all(&work).map_err(io(format!("creating {}", work.display())))?;
        let bytes = match self.rustc_in(&work, &program, &hash) {
            Ok(b) => b,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&work);
                return Err(e);
            }
        };
        // Atomic publish: write beside, then rename within one directory.
        let tmp = work.join("entry");
        let mut entry = blake3::hash(&bytes).as_bytes().to_vec();
        entry.extend_from_slice(&bytes);
        let publish = std::fs::write(&tmp, &entry).and_then(|()| std::fs::rename(&tmp, &path));
        let _ = std::fs::remove_dir_all(&work);
        publish.map_err(io(format!("writing {}", path.display())))?;
        Ok((bytes, false, version))
    }

    fn rustc_in(&self, work: &Path, program: &str, hash: &str) -> Result<Vec<u8>> {
        std::fs::write(work.join("snippet.rs"), program)
            .map_err(io(format!("writing {}", work.display())))?;
        let out = self
            .rustc()?
            .current_dir(work)
            .args([
                "--edition",
                "2024",
                "--target",
                TARGET,
                "--crate-type",
                "bin",
            ])
            .args([
                "--crate-name",
                "snippet",
                "-C",
                "debuginfo=0",
                "-C",
                "strip=debuginfo",
            ])
            .arg("-C")
            .arg(format!("opt-level={}", self.options.opt_level))
            .args(["--error-format", "human", "-o", "out.wasm", "snippet.rs"])
            .env_remove("RUSTFLAGS")
            .output()
            .map_err(|e| Error::Unavailable {
                runtime: "rust".into(),
                reason: format!("cannot run `{}`: {e}", self.command_line()),
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Drop the trailing "aborting due to…"/"For more information…" noise.
            let message: Vec<&str> = stderr
                .lines()
                .filter(|l| {
                    !l.starts_with("error: aborting due to")
                        && !l.starts_with("For more information about")
                        && !l.starts_with("Some errors have detailed explanations")
                })
                .collect();
            return Err(Error::Compile {
                plugin: format!("rust snippet {}", &hash[..8]),
                message: message.join("\n").trim().to_string(),
            });
        }
        std::fs::read(work.join("out.wasm")).map_err(io(format!(
            "reading the compiled snippet in {}",
            work.display()
        )))
    }
}

/// A new directory only this user can enter, under the system's temporary
/// directory (never reused: created, not opened).
fn private_dir(hash: &str) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "warden-rust-{}-{n}-{nanos}-{}",
        std::process::id(),
        &hash[..8]
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Whether the target directory holds a `libstd-*.rlib`.
fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir)
        .map(|rd| {
            rd.flatten().any(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("libstd-") && n.ends_with(".rlib")
            })
        })
        .unwrap_or(false)
}

impl Runtime for RustRuntime {
    fn info(&self) -> RuntimeInfo {
        let wasm = self.wasm.info();
        let command_line = self.shared.command_line();
        RuntimeInfo {
            name: "rust".into(),
            description: format!(
                "Rust source compiled with `{command_line}` to {TARGET} (cached by hash), run as a WASI command"
            ),
            languages: vec![Language::Rust],
            capabilities: Capability::ALL.to_vec(),
            priority: 0,
            latency: Latency::Low,
            complexity: Complexity::Complex,
            max_duration: None,
            typical: "~40 µs per fresh instance once compiled; first compile ~1 s".into(),
            enforces_limits: true,
            fuel: wasm.fuel,
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let shared = self.shared.clone();
            let version = blocking(move || shared.probe()).await?;
            tracing::debug!(%version, "rust runtime ready");
            Ok(())
        })
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async move {
            let shared = self.shared.clone();
            match blocking(move || shared.probe()).await {
                Ok(v) => {
                    Health::Degraded(format!("{v}; a new source takes about a second to compile"))
                }
                Err(e) => Health::Unavailable(match e {
                    Error::Unavailable { reason, .. } => reason,
                    other => other.to_string(),
                }),
            }
        })
    }

    fn compile<'a>(
        &'a self,
        _language: Language,
        code: &'a [u8],
    ) -> BoxFuture<'a, Result<(Arc<dyn CompiledModule>, CompileReport)>> {
        Box::pin(async move {
            let source = source_text("rust", code)?;
            let started = Instant::now();
            let (bytes, cached, version) = {
                let _one_at_a_time = self.compiling.lock().await;
                let shared = self.shared.clone();
                let source = source.to_string();
                blocking(move || shared.build(&source)).await?
            };
            let rustc_micros = started.elapsed().as_micros() as u64;
            let (module, load) = self.wasm.load("rust-snippet", bytes).await?;
            let note = (!cached).then(|| {
                format!(
                    "compiled with {version} in {} ms (rustc) + {} ms (Cranelift); cached by hash for next time",
                    rustc_micros / 1000,
                    load.micros / 1000
                )
            });
            Ok((
                Arc::new(module) as Arc<dyn CompiledModule>,
                CompileReport::timed(started, cached && load.cached).with_note(note),
            ))
        })
    }
}
