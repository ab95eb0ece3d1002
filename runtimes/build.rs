//! Records the rustc of the pinned toolchain (rust-toolchain.toml), which has
//! the wasm32-wasip2 target, as the `rust` runtime's default compiler.

fn main() -> anyhow::Result<()> {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    println!(
        "cargo:rerun-if-changed={}",
        root.join("rust-toolchain.toml").display()
    );
    let rustc = match warden_build_support::pinned_toolchain(&root) {
        Ok((_, rustc)) => rustc.display().to_string(),
        // No rustup: whatever `rustc` is on PATH at run time.
        Err(_) => "rustc".to_string(),
    };
    println!("cargo:rustc-env=WARDEN_DEFAULT_RUSTC={rustc}");
    Ok(())
}
