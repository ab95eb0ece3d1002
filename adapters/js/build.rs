//! Builds the QuickJS engine guest (`engine/`, its own cargo workspace) for
//! wasm32-wasip2 with Debian's clang and wasi-libc, and points
//! `WARDEN_JS_ENGINE` at the component so the crate can embed it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use warden_build_support::{inner_cargo, run};

fn main() -> Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let engine_dir = manifest.join("engine");
    let root = manifest.join("../..").canonicalize()?;
    let target_dir = root.join("target/engines");
    for p in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", engine_dir.join(p).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    // QuickJS's C, cross-compiled with Debian clang (no wasi-sdk download).
    let ar = ["llvm-ar", "llvm-ar-16", "llvm-ar-15", "llvm-ar-14"]
        .into_iter()
        .find(|a| which(a))
        .context("llvm-ar not found: `apt-get install llvm` (make setup does)")?;
    anyhow::ensure!(
        which("clang"),
        "clang not found: `apt-get install clang wasi-libc libclang-dev` (make setup does)"
    );
    let mut cmd = inner_cargo(&engine_dir, &target_dir)?;
    cmd.args(["--target", "wasm32-wasip2"])
        .env("RQUICKJS_SYS_NO_WASI_SDK", "1")
        .env("CC_wasm32_wasip2", "clang")
        .env("AR_wasm32_wasip2", ar)
        .env("CFLAGS_wasm32_wasip2", "--target=wasm32-wasi")
        .env(
            "BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip2",
            "--target=wasm32-wasi",
        );
    run(&mut cmd)?;

    let wasm = target_dir.join("wasm32-wasip2/release/warden_js_engine.wasm");
    anyhow::ensure!(
        wasm.is_file(),
        "the engine build produced no {}",
        wasm.display()
    );
    println!("cargo:rustc-env=WARDEN_JS_ENGINE={}", wasm.display());
    Ok(())
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(bin).is_file()))
}
