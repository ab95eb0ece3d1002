//! `warden inspect`: what a plugin is, its WIT world, and which of its imports
//! the given grants cover.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use warden_host::Grants;
use warden_host::api::{ImportInfo, ImportStatus, PluginDescription};

use crate::args::{CacheArgs, GrantArgs, HostOptions, build_host};
use crate::report;

/// `warden inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The plugin: a component (.wasm), a WASI preview1 module, or WAT text.
    #[arg(value_name = "PLUGIN")]
    pub plugin: PathBuf,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub grants: GrantArgs,

    #[command(flatten)]
    pub cache: CacheArgs,
}

/// How an import's row shows: what it needs and its status with a mark.
fn row(i: &ImportInfo, grants: &Grants) -> (String, String) {
    let needs = match (i.capability, i.status) {
        (Some(cap), _) => cap.name().to_string(),
        (None, ImportStatus::Unknown) => "?".to_string(),
        (None, _) => "-".to_string(),
    };
    let shown = match i.status {
        ImportStatus::Granted => "✔ granted".to_string(),
        ImportStatus::Denied => "✘ denied".to_string(),
        ImportStatus::Base => format!("base{}", base_scope(&i.name, grants)),
        ImportStatus::Unknown => "✘ unknown (warden does not provide it)".to_string(),
    };
    (needs, shown)
}

/// For base imports whose contents the grants decide, what is granted.
fn base_scope(name: &str, grants: &Grants) -> String {
    let count = |n: usize, what: &str| match n {
        0 => format!(" (no {what} granted)"),
        n => format!(" ({n} {what} granted)"),
    };
    if name.starts_with("wasi:filesystem/preopens") {
        count(grants.dirs.len(), "directories")
    } else if name.starts_with("wasi:cli/environment") {
        count(grants.env.len(), "variables")
    } else if name.starts_with("wasi:sockets/") {
        count(grants.socket_addrs.len(), "addresses")
    } else {
        String::new()
    }
}

/// The imports and exports from the compiled component, WIT-like, for input
/// that was not a component binary (WAT, adapted preview1 modules).
fn world_listing(d: &PluginDescription) -> String {
    let mut s = String::from("world root {\n");
    for i in &d.imports {
        s.push_str(&format!("  import {};\n", i.name));
    }
    let mut instances: Vec<&str> = Vec::new();
    for f in &d.exports {
        match &f.instance {
            None => s.push_str(&format!("  export {}: {};\n", f.name, f.signature)),
            Some(i) if !instances.contains(&i.as_str()) => instances.push(i),
            Some(_) => {}
        }
    }
    for i in instances {
        s.push_str(&format!("  export {i};\n"));
        for f in d
            .exports
            .iter()
            .filter(|f| f.instance.as_deref() == Some(i))
        {
            s.push_str(&format!("    // {}: {}\n", f.name, f.signature));
        }
    }
    s.push('}');
    s
}

pub async fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let policy = args.grants.policy()?;
    let host = build_host(&args.cache, HostOptions::default())?;
    let (plugin, load_time) = crate::load::load(&host, &args.plugin).await?;
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("reading plugin {}", args.plugin.display()))?;
    let d = plugin.describe(&policy.grants, Some(&bytes));

    if args.json {
        let mut report = serde_json::to_value(&d).context("serializing the report")?;
        report["load_ms"] = (load_time.as_secs_f64() * 1e3).into();
        let text = serde_json::to_string_pretty(&report).context("serializing the report")?;
        report::stdout_line(&text)?;
        return Ok(ExitCode::SUCCESS);
    }

    let granted: Vec<&str> = d.granted.iter().map(|c| c.name()).collect();
    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| out.push_str(&format!("{k:<14}{v}\n"));
    field(&mut out, "plugin", &d.name);
    field(&mut out, "kind", d.kind.as_str());
    field(&mut out, "source", d.source_kind.as_str());
    field(&mut out, "content hash", &d.content_hash);
    field(
        &mut out,
        "cache",
        &format!(
            "{} ({:.1} ms)",
            d.cache.as_str(),
            load_time.as_secs_f64() * 1e3
        ),
    );
    field(
        &mut out,
        "granted",
        &if granted.is_empty() {
            "nothing".to_string()
        } else {
            granted.join(", ")
        },
    );
    field(
        &mut out,
        "policy check",
        &match &d.policy_error {
            None => "ok: the grants cover every import".to_string(),
            Some(e) => format!("error[{}]: {}", e.code, e.message),
        },
    );

    out.push('\n');
    match &d.wit {
        Some(_) => out.push_str("world (WIT, decoded from the component):\n"),
        None => {
            out.push_str("world (from the compiled component; its WIT could not be decoded):\n")
        }
    }
    let body = d.wit.clone().unwrap_or_else(|| world_listing(&d));
    for line in body.trim_end().lines() {
        if !line.trim().is_empty() {
            out.push_str("  ");
            out.push_str(line);
        }
        out.push('\n');
    }

    out.push('\n');
    let width = d
        .imports
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    out.push_str(&format!(
        "{:<width$}  {:<10}  {}\n",
        "import", "needs", "status"
    ));
    for i in &d.imports {
        let (needs, shown) = row(i, &policy.grants);
        out.push_str(&format!("{:<width$}  {needs:<10}  {shown}\n", i.name));
    }
    if d.imports.is_empty() {
        out.push_str("(no imports)\n");
    }

    out.push_str("\nexports\n");
    for f in &d.exports {
        out.push_str(&format!("  {}: {}\n", f.path(), f.signature));
    }
    if d.exports.is_empty() {
        out.push_str("  (none)\n");
    }
    report::stdout_bytes(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
