//! `warden compile`: load plugins to warm the `.cwasm` cache.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use warden_host::CacheStatus;

use crate::args::{CacheArgs, HostOptions, build_host};
use crate::report;

/// `warden compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Plugins to compile (components, WASI preview1 modules, WAT).
    #[arg(value_name = "PLUGIN", required = true)]
    pub plugins: Vec<PathBuf>,

    /// Compile for a fuel-metering engine (what `warden run --fuel` uses).
    #[arg(long)]
    pub fuel: bool,

    #[command(flatten)]
    pub cache: CacheArgs,
}

fn status_name(s: CacheStatus) -> &'static str {
    match s {
        CacheStatus::Hit => "hit",
        CacheStatus::Miss => "miss",
        CacheStatus::Replaced => "replaced",
        CacheStatus::Disabled => "compiled (cache disabled)",
        CacheStatus::Shared => "shared (already loaded)",
    }
}

/// Prints `name: hit|miss|replaced (N ms)` per plugin. A plugin that fails
/// prints its error line and the others still compile; the exit code is the
/// first failure's.
pub async fn compile(args: CompileArgs, verbose: bool) -> Result<ExitCode> {
    if args.cache.dir().is_none() {
        tracing::warn!("no cache directory: compiling without storing the result");
    }
    let host = build_host(
        &args.cache,
        HostOptions {
            fuel: args.fuel,
            kv_dir: None,
        },
    )?;
    let mut code = ExitCode::SUCCESS;
    let mut failed = false;
    for path in &args.plugins {
        match crate::load::load(&host, path).await {
            Ok((plugin, took)) => report::stdout_line(&format!(
                "{}: {} ({} ms)",
                plugin.name(),
                status_name(plugin.cache_status()),
                took.as_millis()
            ))?,
            Err(e) => {
                let c = report::report(&e, verbose);
                if !failed {
                    failed = true;
                    code = c;
                }
            }
        }
    }
    Ok(code)
}
