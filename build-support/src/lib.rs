//! Build-script helpers shared by the crates that compile WebAssembly guests
//! with a nested `cargo build` (the test fixtures, the JS engine): a clean
//! environment, the pinned toolchain, and a failure that shows the inner
//! cargo's stderr. Modelled on Wasmtime's `crates/test-programs/artifacts`.

use anyhow::{Context, Result, bail, ensure};
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `cargo build --release --target-dir <target_dir>` in `guests_dir`, with the
/// environment cleaned of what the outer cargo leaks into build scripts.
pub fn inner_cargo(guests_dir: &Path, target_dir: &Path) -> Result<Command> {
    // The same cargo binary as the outer build (a rustup toolchain's cargo, not the proxy).
    let cargo = env::var_os("CARGO").context("CARGO is not set (not run by cargo?)")?;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guests_dir)
        .args(["build", "--release", "--target-dir"])
        .arg(target_dir);

    // Flags and targets meant for the outer (host) build would break a wasm build
    // (e.g. `-C target-cpu=native`, coverage instrumentation, `--target x86_64-..`).
    // Jobserver fds of the outer cargo are not ours to inherit: the inner cargo
    // runs its own (default) job count. Wrappers set by `cargo clippy` and the
    // outer profile's overrides must not apply to the guests either.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTDOC",
        "RUSTC_LINKER",
    ] {
        cmd.env_remove(var);
    }
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if [
            "CARGO_PROFILE_",
            "CARGO_CFG_",
            "CARGO_FEATURE_",
            "CARGO_PKG_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
        {
            cmd.env_remove(key);
        }
    }

    // Toolchain. Under rustup, the proxy that started the outer cargo sets
    // RUSTUP_TOOLCHAIN (the outer toolchain, which `cargo +other` changes) and
    // cargo sets RUSTC to that toolchain's rustc. Simply removing both is not
    // enough: cargo then runs the `rustc` proxy with the cwd of each package,
    // and for registry crates (~/.cargo/registry/src/..) no rust-toolchain.toml
    // is found, so rustup's default toolchain (maybe without the wasm targets)
    // would be used. So ask rustup which toolchain rust-toolchain.toml pins for
    // guests/rust and set RUSTUP_TOOLCHAIN and RUSTC to it explicitly.
    // Without rustup, RUSTC is the only rustc known to exist: keep it.
    if env::var_os("RUSTUP_TOOLCHAIN").is_some() {
        match pinned_toolchain(guests_dir) {
            Ok((name, rustc)) => {
                cmd.env("RUSTUP_TOOLCHAIN", name)
                    .env("RUSTC", rustc)
                    .env_remove("RUSTUP_TOOLCHAIN_SOURCE")
                    .env_remove("CARGO_BUILD_RUSTC");
            }
            Err(e) => println!(
                "cargo:warning=building the guests with the outer toolchain: \
                 cannot ask rustup for the pinned one: {e:#}"
            ),
        }
    }
    // Under miri, RUSTC and RUSTC_WRAPPER are miri's own.
    if env::var_os("CARGO_CFG_MIRI").is_some() {
        cmd.env_remove("RUSTC_WRAPPER");
    }
    Ok(cmd)
}

/// The toolchain rustup resolves for `dir` when no RUSTUP_TOOLCHAIN overrides it
/// (normally rust-toolchain.toml's): its name and the path of its rustc.
pub fn pinned_toolchain(dir: &Path) -> Result<(String, PathBuf)> {
    let rustup = |args: &[&str]| -> Result<String> {
        let output = Command::new("rustup")
            .args(args)
            .current_dir(dir)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTUP_TOOLCHAIN_SOURCE")
            .output()
            .with_context(|| format!("cannot run `rustup {}`", args.join(" ")))?;
        ensure!(
            output.status.success(),
            "`rustup {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8(output.stdout)
            .context("rustup printed non-UTF-8 output")?
            .trim()
            .to_string())
    };
    // e.g. "1.99.1-x86_64-unknown-linux-gnu (overridden by '/work/main/rust-toolchain.toml')"
    let active = rustup(&["show", "active-toolchain"])?;
    let name = active
        .split_whitespace()
        .next()
        .with_context(|| format!("unexpected `rustup show active-toolchain` output: {active:?}"))?
        .to_string();
    let rustc = PathBuf::from(rustup(&["which", "rustc", "--toolchain", &name])?);
    Ok((name, rustc))
}

/// Runs the inner cargo; on failure, fails this build with its stderr.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("running: {cmd:?}");
    let output = cmd
        .output()
        .with_context(|| format!("failed to spawn the guest build: {cmd:?}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        bail!(
            "building wasm guests failed ({status}): `cargo {args}` in {dir}\n\
             (a \"can't find crate for `core`\" error means the pinned toolchain lacks the \
             target: `rustup target add wasm32-wasip2 wasm32-wasip1`)\n\
             --- inner cargo stderr ---\n{stderr}",
            status = output.status,
            args = args.join(" "),
            dir = cmd
                .get_current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        );
    }
    // Shown by `cargo build -vv`.
    eprintln!("{stderr}");
    Ok(())
}
