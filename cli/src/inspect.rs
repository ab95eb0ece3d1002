//! `warden inspect`: what a plugin is, its WIT world, and which of its imports
//! the given grants cover.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use warden_host::policy::{ImportClass, classify_import};
use warden_host::{Grants, Plugin};

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

/// One import and what it needs.
struct ImportRow {
    name: String,
    /// `kv`, `http`, … or `-` (base) or `?` (unknown).
    needs: String,
    /// `granted`, `denied`, `base`, `unknown`.
    status: &'static str,
    /// Display form of the status (with a mark and the scope).
    shown: String,
}

fn classify(name: &str, grants: &Grants) -> ImportRow {
    let (needs, status, shown) = match classify_import(name) {
        ImportClass::Capability(cap) if grants.has(cap) => {
            (cap.name().to_string(), "granted", "✔ granted".to_string())
        }
        ImportClass::Capability(cap) => (cap.name().to_string(), "denied", "✘ denied".to_string()),
        ImportClass::Base | ImportClass::Types => (
            "-".to_string(),
            "base",
            format!("base{}", base_scope(name, grants)),
        ),
        ImportClass::Unknown => (
            "?".to_string(),
            "unknown",
            "✘ unknown (warden does not provide it)".to_string(),
        ),
    };
    ImportRow {
        name: name.to_string(),
        needs,
        status,
        shown,
    }
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

/// The component's world as WIT (for WAT and preview1 input, of the
/// component warden made from it).
fn world_wit(plugin: &Plugin, path: &std::path::Path) -> Result<Option<String>> {
    let raw = std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?;
    let (bytes, _) = match warden_host::componentize(plugin.name(), &raw) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("cannot re-read the component: {e}");
            return Ok(None);
        }
    };
    let decoded = match wit_component::decode(&bytes) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("cannot decode the component's WIT: {e:#}");
            return Ok(None);
        }
    };
    // The component's own world, then the non-WASI packages it uses (warden's
    // and the component's own interfaces) with their definitions.
    let resolve = decoded.resolve();
    let main = decoded.package();
    let nested: Vec<_> = resolve
        .packages
        .iter()
        .filter(|(id, p)| *id != main && p.name.namespace != "wasi")
        .map(|(id, _)| id)
        .collect();
    let print = |id, is_main| -> Result<String> {
        let mut printer = wit_component::WitPrinter::default();
        printer.emit_docs(false);
        printer.print_package(resolve, id, is_main)?;
        Ok(printer.output.to_string().trim_end().to_string())
    };
    let mut parts = Vec::with_capacity(nested.len() + 1);
    for (id, is_main) in
        std::iter::once((main, true)).chain(nested.into_iter().map(|id| (id, false)))
    {
        match print(id, is_main) {
            Ok(text) => parts.push(text),
            Err(e) => {
                tracing::warn!("cannot print the component's WIT: {e:#}");
                return Ok(None);
            }
        }
    }
    Ok(Some(parts.join("\n\n")))
}

/// The imports and exports from the compiled component, WIT-like, for input
/// that was not a component binary (WAT, adapted preview1 modules).
fn world_listing(plugin: &Plugin) -> String {
    let mut s = String::from("world root {\n");
    for i in plugin.imports() {
        s.push_str(&format!("  import {i};\n"));
    }
    let mut instances: Vec<&str> = Vec::new();
    for f in plugin.exports() {
        match &f.instance {
            None => s.push_str(&format!("  export {}: {};\n", f.name, f.signature)),
            Some(i) if !instances.contains(&i.as_str()) => instances.push(i),
            Some(_) => {}
        }
    }
    for i in instances {
        s.push_str(&format!("  export {i};\n"));
        for f in plugin
            .exports()
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
    let wit = world_wit(&plugin, &args.plugin)?;
    let rows: Vec<ImportRow> = plugin
        .imports()
        .iter()
        .map(|i| classify(i, &policy.grants))
        .collect();
    let granted: Vec<&str> = policy.grants.granted().iter().map(|c| c.name()).collect();
    let check = plugin.prepare(policy.clone()).map(|_| ());

    if args.json {
        let value = json!({
            "name": plugin.name(),
            "kind": plugin.kind(),
            "source_kind": plugin.source_kind(),
            "content_hash": plugin.content_hash(),
            "cache": plugin.cache_status(),
            "load_ms": load_time.as_secs_f64() * 1e3,
            "wit": wit,
            "imports": rows.iter().map(|r| json!({
                "name": r.name,
                "capability": (r.needs != "-" && r.needs != "?").then_some(&r.needs),
                "status": r.status,
            })).collect::<Vec<_>>(),
            "exports": plugin.exports(),
            "granted": granted,
            "policy_check": match &check {
                Ok(()) => json!({ "ok": true }),
                Err(e) => json!({ "ok": false, "code": e.code(), "message": e.to_string() }),
            },
        });
        let text = serde_json::to_string_pretty(&value).context("serializing the report")?;
        report::stdout_line(&text)?;
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| out.push_str(&format!("{k:<14}{v}\n"));
    field(&mut out, "plugin", plugin.name());
    field(&mut out, "kind", plugin.kind().as_str());
    field(&mut out, "source", plugin.source_kind().as_str());
    field(&mut out, "content hash", plugin.content_hash());
    field(
        &mut out,
        "cache",
        &format!(
            "{} ({:.1} ms)",
            plugin.cache_status().as_str(),
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
        &match &check {
            Ok(()) => "ok: the grants cover every import".to_string(),
            Err(e) => format!("error[{}]: {e}", e.code()),
        },
    );

    out.push('\n');
    match &wit {
        Some(_) => out.push_str("world (WIT, decoded from the component):\n"),
        None => {
            out.push_str("world (from the compiled component; its WIT could not be decoded):\n")
        }
    }
    let body = wit.unwrap_or_else(|| world_listing(&plugin));
    for line in body.trim_end().lines() {
        if !line.trim().is_empty() {
            out.push_str("  ");
            out.push_str(line);
        }
        out.push('\n');
    }

    out.push('\n');
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(6);
    out.push_str(&format!(
        "{:<width$}  {:<10}  {}\n",
        "import", "needs", "status"
    ));
    for r in &rows {
        out.push_str(&format!(
            "{:<width$}  {:<10}  {}\n",
            r.name, r.needs, r.shown
        ));
    }
    if rows.is_empty() {
        out.push_str("(no imports)\n");
    }

    out.push_str("\nexports\n");
    for f in plugin.exports() {
        out.push_str(&format!("  {}: {}\n", f.path(), f.signature));
    }
    if plugin.exports().is_empty() {
        out.push_str("  (none)\n");
    }
    report::stdout_bytes(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
