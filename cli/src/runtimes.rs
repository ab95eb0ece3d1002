//! `warden runtimes`: the controller's registry, with health, and the
//! scheduler's decision table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use warden_host::controller::runtime::Complexity;
use warden_host::{ExecConfig, Hints, Language, Latency};
use warden_runtimes::EbpfMode;

use crate::args::{CacheArgs, HostOptions, build_host};
use crate::report;

/// `warden runtimes`.
#[derive(Debug, Args)]
pub struct RuntimesArgs {
    /// Start (pre-warm) every runtime first, so the health shown is after
    /// start: engines compiled, compilers and privileges checked.
    #[arg(long)]
    pub start: bool,

    /// Print the scheduler's choice for every language, latency and
    /// complexity instead.
    #[arg(long)]
    pub decisions: bool,

    /// JSON output.
    #[arg(long)]
    pub json: bool,

    /// Use the eBPF sidecar at this socket (else eBPF runs in this process).
    #[arg(long, value_name = "PATH", env = "WARDEN_EBPF_SOCKET")]
    pub ebpf_socket: Option<PathBuf>,

    #[command(flatten)]
    pub cache: CacheArgs,
}

/// The CLI's controller: every runtime, eBPF through the sidecar at
/// `ebpf_socket` or else in this process.
pub fn controller(
    host: &warden_host::Host,
    ebpf_socket: Option<&std::path::Path>,
) -> Result<warden_host::Controller> {
    let mut options = warden_runtimes::RuntimesConfig {
        ebpf: Some(match ebpf_socket {
            Some(p) => EbpfMode::Sidecar(p.to_path_buf()),
            None => EbpfMode::InProcess,
        }),
        ..warden_runtimes::RuntimesConfig::default()
    };
    // The compiler of the rust runtime: `WARDEN_RUSTC`, else the pinned one.
    if let (Some(rust), Ok(rustc)) = (options.rust.as_mut(), std::env::var("WARDEN_RUSTC")) {
        rust.rustc = vec![rustc];
    }
    Ok(warden_runtimes::controller(host, options)?)
}

pub async fn runtimes(args: RuntimesArgs) -> Result<ExitCode> {
    let host = build_host(&args.cache, HostOptions::default())?;
    let controller = controller(&host, args.ebpf_socket.as_deref())?;
    if args.decisions {
        return decisions(&controller, args.json);
    }
    if args.start {
        controller.start().await;
    }
    let list = controller.runtimes().await;
    if args.json {
        report::stdout_line(&serde_json::to_string_pretty(&list).context("serializing")?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "{:<8} {:<8} {:<10} {:<10} {:<9} {:>3}  {:<12} {}\n",
        "NAME", "STATE", "HEALTH", "LANGUAGES", "LATENCY", "PRI", "COMPLEXITY", "GRANTS"
    ));
    for r in &list {
        let i = &r.info;
        let health = match &r.health {
            warden_host::controller::Health::Healthy => "healthy",
            warden_host::controller::Health::Degraded(_) => "degraded",
            warden_host::controller::Health::Unavailable(_) => "unavailable",
        };
        let langs: Vec<&str> = i.languages.iter().map(|l| l.as_str()).collect();
        let caps: Vec<&str> = i.capabilities.iter().map(|c| c.name()).collect();
        out.push_str(&format!(
            "{:<8} {:<8} {:<10} {:<10} {:<9} {:>3}  {:<12} {}\n",
            i.name,
            r.state.as_str(),
            health,
            langs.join(","),
            i.latency.as_str(),
            i.priority,
            format!("≤{}", i.complexity.as_str()),
            if caps.is_empty() {
                "none".to_string()
            } else {
                caps.join(",")
            }
        ));
        out.push_str(&format!("         {} ({})\n", i.description, i.typical));
        match &r.health {
            warden_host::controller::Health::Degraded(why)
            | warden_host::controller::Health::Unavailable(why) => {
                out.push_str(&format!("         health: {why}\n"));
            }
            warden_host::controller::Health::Healthy => {}
        }
    }
    report::stdout_bytes(out.as_bytes()).context("writing stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The decision for each language × latency × complexity.
fn decisions(controller: &warden_host::Controller, json: bool) -> Result<ExitCode> {
    let latencies = [Latency::UltraLow, Latency::Low, Latency::Normal];
    let complexities = [
        Complexity::Simple,
        Complexity::Moderate,
        Complexity::Complex,
    ];
    let mut rows = Vec::new();
    for language in Language::ALL {
        for latency in latencies {
            for complexity in complexities {
                let hints = Hints {
                    latency: Some(latency),
                    complexity: Some(complexity),
                    expected_duration: None,
                };
                let d = controller.decide(language, &hints, &ExecConfig::default(), None);
                rows.push(serde_json::json!({
                    "language": language.as_str(),
                    "latency": latency.as_str(),
                    "complexity": complexity.as_str(),
                    "runtime": d.as_ref().ok().map(|d| d.runtime.clone()),
                    "reason": match &d {
                        Ok(d) => d.reason.clone(),
                        Err(e) => e.to_string(),
                    },
                }));
            }
        }
    }
    if json {
        report::stdout_line(&serde_json::to_string_pretty(&rows).context("serializing")?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{:<7} {:<10} {:<10} {}\n",
        "LANG", "LATENCY", "COMPLEXITY", "RUNTIME"
    );
    for r in &rows {
        let runtime = match r["runtime"].as_str() {
            Some(rt) => rt.to_string(),
            None => format!(
                "refused: {}",
                r["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .split_once(": ")
                    .map(|(_, why)| why)
                    .unwrap_or_default()
            ),
        };
        out.push_str(&format!(
            "{:<7} {:<10} {:<10} {}\n",
            r["language"].as_str().unwrap_or_default(),
            r["latency"].as_str().unwrap_or_default(),
            r["complexity"].as_str().unwrap_or_default(),
            runtime
        ));
    }
    report::stdout_bytes(out.as_bytes()).context("writing stdout")?;
    Ok(ExitCode::SUCCESS)
}
