//! `warden types`: TypeScript for a component's exports, from its WIT.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::report;

/// `warden types`.
#[derive(Debug, Args)]
pub struct TypesArgs {
    /// The plugin: a component (.wasm), a WASI preview1 module, or WAT text.
    #[arg(value_name = "PLUGIN")]
    pub plugin: PathBuf,

    /// Write the declarations here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn types(args: TypesArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("reading plugin {}", args.plugin.display()))?;
    let name = args
        .plugin
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into());
    let ts = warden_host::typescript_of(&name, &bytes)
        .map_err(|e| report::coded(warden_host::ErrorCode::NotAComponent, e))?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, ts).with_context(|| format!("writing {}", path.display()))?
        }
        None => report::stdout_bytes(ts.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
