//! # warden-python
//!
//! Python on warden through componentize-py (CPython inside a WebAssembly
//! component, pre-initialized at build time). The engine component
//! (`engine/app.py` + the `warden` SDK in `warden/`) implements the
//! `warden:plugin/script-engine` world and is embedded in this crate.
//!
//! - **Snippets** ([`PythonEngine::prepare`] + [`PySandbox::exec`]): source
//!   given at call time defines `run(input)` (or `async def run`) and runs in
//!   a fresh instance of the engine, under the call's grants and limits.
//! - **Plugins** ([`build_plugin`]): a `plugin.py` defining `run(input)`,
//!   with pure-Python dependencies bundled, becomes a component exporting
//!   `run`; a dependency with native code is refused with a clear error.
//!
//! The standard library modules generated code commonly uses are imported at
//! pre-initialization (see `engine/app.py` for the list); importing anything
//! else fails with an error that lists what is available.

use std::path::{Path, PathBuf};
use std::process::Command;

mod componentize;

use warden_host::script::{ScriptEngine, ScriptSandbox};
use warden_host::{Error, Host, Outcome, Plugin, Policy, Result};

/// The engine component as built by componentize-py.
pub static ENGINE: &[u8] = include_bytes!(env!("WARDEN_PYTHON_ENGINE"));

/// The componentize-py this crate was built with (used by [`build_plugin`]).
pub const COMPONENTIZE_PY: &str = env!("WARDEN_COMPONENTIZE_PY");

const APP_PY: &str = include_str!("../engine/app.py");
const SANDBOX_PY: &str = include_str!("../engine/_warden_sandbox.py");
const SDK_PY: &str = include_str!("../warden/__init__.py");
const WIT: &[(&str, &str)] = &[
    ("plugin.wit", include_str!("../../../wit/plugin.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
];

/// The snippet engine: compiled once per host (the `.cwasm` is cached), then
/// a fresh instance per call.
#[derive(Debug, Clone)]
pub struct PythonEngine {
    engine: ScriptEngine,
}

impl PythonEngine {
    /// Compile (or load from the cache) the engine.
    pub fn new(host: &Host) -> Result<Self> {
        Ok(PythonEngine {
            engine: ScriptEngine::new(host.load_bytes("python", ENGINE)?)?,
        })
    }

    /// The engine as a plugin.
    pub fn plugin(&self) -> &Plugin {
        self.engine.plugin()
    }

    /// A sandbox with these grants and limits; each `exec` is a fresh instance.
    pub fn prepare(&self, policy: Policy) -> Result<PySandbox> {
        Ok(PySandbox {
            sandbox: self.engine.prepare(policy)?,
        })
    }
}

/// Python snippets under one policy.
#[derive(Debug, Clone)]
pub struct PySandbox {
    sandbox: ScriptSandbox,
}

impl PySandbox {
    /// Run `source` (defining `run(input)`) with `input` (JSON text) in a
    /// fresh instance: the JSON result, or `COMPILE` (SyntaxError with the
    /// line), `GUEST_ERROR` (the traceback; also an import of a module that
    /// is not in the snapshot, naming what is), `CAPABILITY_DENIED`,
    /// `SERIALIZATION`, `TIMEOUT`, `MEMORY_LIMIT`, … with the receipt.
    pub async fn exec(&self, source: &str, input: &str) -> Outcome<String> {
        self.sandbox.eval(source, input).await
    }
}

/// What to bundle with a plugin.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// A directory of pure-Python packages to bundle as they are.
    pub vendor: Option<PathBuf>,
    /// A requirements file: installed with pip into a temporary directory and
    /// bundled; packages with native code are refused.
    pub requirements: Option<PathBuf>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Build `source` (a module defining `run(input)`) into a plugin component.
/// Blocking: runs componentize-py (and pip for `requirements`).
pub fn build_plugin(name: &str, source: &str, options: &BuildOptions) -> Result<Vec<u8>> {
    let tmp = tempfile::tempdir().map_err(io("creating a build directory".into()))?;
    let dir = tmp.path();
    let write = |rel: &str, text: &str| -> Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))
    };
    for (rel, text) in WIT {
        write(&format!("wit/{rel}"), text)?;
    }
    write("engine/app.py", APP_PY)?;
    write("engine/_warden_sandbox.py", SANDBOX_PY)?;
    write("sdk/warden/__init__.py", SDK_PY)?;
    write("plugin/warden_plugin.py", source)?;

    let mut paths = vec![dir.join("engine"), dir.join("sdk"), dir.join("plugin")];
    if let Some(vendor) = &options.vendor {
        refuse_native(name, vendor)?;
        paths.push(vendor.clone());
    }
    if let Some(req) = &options.requirements {
        let target = dir.join("vendor");
        let pip = Path::new(COMPONENTIZE_PY).with_file_name("pip");
        let out = Command::new(&pip)
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--target",
            ])
            .arg(&target)
            .arg("-r")
            .arg(req)
            .output()
            .map_err(io(format!("running {}", pip.display())))?;
        if !out.status.success() {
            return Err(Error::Compile {
                plugin: name.to_string(),
                message: format!(
                    "installing {} failed: {}",
                    req.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        refuse_native(name, &target)?;
        paths.push(target);
    }

    let out = dir.join("plugin.wasm");
    let cmd = &mut componentize::command(Path::new(COMPONENTIZE_PY), dir, &paths, &out);
    let result = cmd.output().map_err(io(format!(
        "running {COMPONENTIZE_PY} (make setup installs it)"
    )))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        // The plugin is imported at build time: a SyntaxError shows up here.
        let detail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::Compile {
            plugin: name.to_string(),
            message: detail.join("\n").replace(&dir.display().to_string(), "."),
        });
    }
    std::fs::read(&out).map_err(io(format!("reading {}", out.display())))
}

/// Packages with compiled extensions cannot run in the sandbox: name them.
fn refuse_native(name: &str, dir: &Path) -> Result<()> {
    let mut native = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(io(format!("reading {}", d.display())))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "so" || x == "pyd" || x == "dylib")
            {
                // The top-level package below `dir` names the distribution.
                let pkg = p
                    .strip_prefix(dir)
                    .ok()
                    .and_then(|r| r.components().next())
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.display().to_string());
                if !native.contains(&pkg) {
                    native.push(pkg);
                }
            }
        }
    }
    if native.is_empty() {
        return Ok(());
    }
    native.sort();
    Err(Error::Compile {
        plugin: name.to_string(),
        message: native
            .iter()
            .map(|p| {
                format!("{p} needs a WASI build, which is not available (it contains native code)")
            })
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// The `python` runtime of the [controller](warden_host::controller):
/// snippets defining `run(input)` on the componentize-py engine, a fresh
/// instance per execution. Starting it compiles the engine (about 10 s the
/// first time; a cache hit later).
pub mod runtime {
    use warden_host::controller::runtime::{BoxFuture, Complexity, Language, Latency, RuntimeInfo};
    use warden_host::controller::snippet::{SnippetEngine, SnippetRuntime};
    use warden_host::{Error, Host, Outcome, Policy, Result};

    use super::{PySandbox, PythonEngine};

    /// Python on CPython (componentize-py).
    pub type PythonRuntime = SnippetRuntime<PythonEngine>;

    impl SnippetEngine for PythonEngine {
        type Sandbox = PySandbox;

        fn info() -> RuntimeInfo {
            RuntimeInfo {
                name: "python".into(),
                description:
                    "Python 3 on CPython (componentize-py), pre-initialized standard library".into(),
                languages: vec![Language::Python],
                capabilities: Vec::new(),
                priority: 10,
                latency: Latency::Normal,
                complexity: Complexity::Complex,
                max_duration: None,
                typical: "~2 ms per fresh instance".into(),
                enforces_limits: true,
                fuel: false,
            }
        }

        fn not_started() -> String {
            "not started: the first call compiles the engine (~10 s uncached)".into()
        }

        /// Compiling (or loading) the engine is CPU work: on the blocking pool.
        fn make(host: Host) -> BoxFuture<'static, Result<Self>> {
            Box::pin(async move {
                tokio::task::spawn_blocking(move || PythonEngine::new(&host))
                    .await
                    .map_err(|e| Error::Internal {
                        message: format!("the engine compile thread failed: {e}"),
                    })?
            })
        }

        fn prepare_source(&self, _language: Language, source: &str) -> Result<String> {
            Ok(source.to_string())
        }

        fn sandbox(&self, policy: Policy) -> Result<PySandbox> {
            self.prepare(policy)
        }

        fn exec<'a>(
            sandbox: &'a PySandbox,
            source: &'a str,
            input: &'a str,
        ) -> BoxFuture<'a, Outcome<String>> {
            Box::pin(sandbox.exec(source, input))
        }
    }
}
