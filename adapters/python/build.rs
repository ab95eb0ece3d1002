//! Builds the Python engine component with componentize-py (pinned, from the
//! project's `.venv`, made by `make setup`) and points `WARDEN_PYTHON_ENGINE`
//! at it; `WARDEN_COMPONENTIZE_PY` records which componentize-py was used so
//! `warden build plugin.py` can use the same one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

#[path = "src/componentize.rs"]
mod componentize;

fn main() -> Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../..").canonicalize()?;
    for p in ["engine", "warden"] {
        println!("cargo:rerun-if-changed={}", manifest.join(p).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-env-changed=WARDEN_COMPONENTIZE_PY");

    let cpy = componentize_py(&root)?;
    let out_dir = root.join("target/engines");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join("python-engine.wasm");
    let output = componentize::command(
        &cpy,
        &root,
        &[manifest.join("engine"), manifest.clone()],
        &out,
    )
    .output()
    .with_context(|| format!("running {}", cpy.display()))?;
    if !output.status.success() {
        bail!(
            "componentize-py failed building the Python engine:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("cargo:rustc-env=WARDEN_PYTHON_ENGINE={}", out.display());
    println!("cargo:rustc-env=WARDEN_COMPONENTIZE_PY={}", cpy.display());
    Ok(())
}

fn componentize_py(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WARDEN_COMPONENTIZE_PY") {
        return Ok(PathBuf::from(p));
    }
    let venv = root.join(".venv/bin/componentize-py");
    if venv.is_file() {
        return Ok(venv);
    }
    bail!(
        "componentize-py not found at {}: run `make setup` (it installs componentize-py into .venv)",
        venv.display()
    )
}
