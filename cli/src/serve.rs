//! `warden serve` (the HTTP and WebSocket API of `warden-server`) and
//! `warden token` (a new bearer token and its tokens-file entry).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use warden_host::api::Ceiling;
use warden_server::{Server, ServerConfig};

use crate::args::{CacheArgs, HostOptions, host_config};
use crate::report::{self, usage};

pub const SERVE_AFTER_HELP: &str =
    "Every request but /health and /ready needs `Authorization: Bearer TOKEN`:
a token listed (by its SHA-256) in --tokens FILE, or an HS256 JWT signed with
the secret in --jwt-secret-file whose claims carry `sub`, `exp` and the
caller's `ceiling`, `plugins` and `rate`. Each request is checked against
the meet of the server's ceiling (--ceiling) and the caller's: above it is
403 OVER_CEILING naming the field, never silently lowered.

Make a token:   warden token --name ci --rate 20/s >> entry.json
Tokens file:    { \"tokens\": [ { \"name\": \"ci\", \"sha256\": \"…\",
                  \"ceiling\": { \"max_trust\": \"low\", \"limits\": { \"timeout\": \"5s\" } },
                  \"plugins\": [\"hello\"], \"rate\": \"20/s\" } ] }

Examples:
  warden serve --tokens tokens.json --plugins ./plugins
  curl -H \"Authorization: Bearer $TOKEN\" localhost:8750/v1/execute \\
       -d '{\"language\":\"js\",\"code\":\"(i) => i.n * 2\",\"input\":{\"n\":21}}'
  curl -N -H \"Authorization: Bearer $TOKEN\" localhost:8750/v1/jobs/ID/events

SIGTERM or Ctrl-C stops accepting, lets in-flight calls and running jobs
finish for up to --drain, and exits 0.";

/// `warden serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8750")]
    pub listen: SocketAddr,

    /// Also serve /metrics, with no token, on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// The tokens file (see below).
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,

    /// Accept HS256 JWTs signed with the secret in this file (32+ bytes).
    #[arg(long, value_name = "FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Accept every caller, unauthenticated (a loopback development server).
    #[arg(long, conflicts_with_all = ["tokens", "jwt_secret_file"])]
    pub no_auth: bool,

    /// Load every NAME.wasm here as plugin NAME, and reload on change.
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,

    /// Serve a wasi:http/proxy component under a path prefix, a fresh
    /// instance per request, with nothing granted (repeatable; `/=app.wasm`
    /// serves every path no other route takes). Routes need no token.
    #[arg(long = "route", value_name = "/PREFIX=FILE", value_parser = warden_server::proxy::parse_route)]
    pub routes: Vec<(String, PathBuf)>,

    /// The server's ceiling, as JSON or @FILE: `{"max_trust":"medium",
    /// "capabilities":["log","kv"],"limits":{"timeout":"10s"}}`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub ceiling: Option<String>,

    /// The largest request body.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// The longest a non-streaming request may take.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// The longest a client may take to send its request head.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// On SIGTERM, how long in-flight calls and running jobs may finish.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub drain: Duration,

    /// The runtimes to register, comma-separated (wasm is always there)
    /// [default: wasm,js,python,rust,ebpf].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub runtimes: Option<Vec<String>>,

    /// Calls running at once (more wait in the queue).
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,

    /// Calls that may wait; beyond it, 503 BUSY with Retry-After.
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,

    /// File-backed kv (sessions' state) in this directory (else in memory).
    #[arg(long, value_name = "DIR")]
    pub kv_dir: Option<PathBuf>,

    /// C through the eBPF sidecar at this socket (else in this process).
    #[arg(long, value_name = "PATH", env = "WARDEN_EBPF_SOCKET")]
    pub ebpf_socket: Option<PathBuf>,

    #[command(flatten)]
    pub cache: CacheArgs,
}

fn parse_size(s: &str) -> Result<usize, String> {
    warden_host::api::units::parse_size(s).map(|b| b as usize)
}

fn ceiling_of(spec: &str) -> Result<Ceiling> {
    let text = match spec.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the ceiling file {path}"))?,
        None => spec.to_string(),
    };
    warden_host::api::from_json(&text).map_err(|e| usage(format!("--ceiling: {e}")))
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let mut runtimes = warden_runtimes::RuntimesConfig {
        ebpf: Some(match &args.ebpf_socket {
            Some(p) => warden_runtimes::EbpfMode::Sidecar(p.clone()),
            None => warden_runtimes::EbpfMode::InProcess,
        }),
        ..warden_runtimes::RuntimesConfig::default()
    };
    if let (Some(rust), Ok(rustc)) = (runtimes.rust.as_mut(), std::env::var("WARDEN_RUSTC")) {
        rust.rustc = vec![rustc];
    }
    if let Some(names) = &args.runtimes {
        for name in names {
            if !["wasm", "js", "python", "rust", "ebpf"].contains(&name.as_str()) {
                return Err(usage(format!(
                    "--runtimes: unknown runtime `{name}` (wasm, js, python, rust, ebpf)"
                )));
            }
        }
        let has = |n: &str| names.iter().any(|x| x == n);
        runtimes.js = has("js");
        runtimes.python = has("python");
        if !has("rust") {
            runtimes.rust = None;
        }
        if !has("ebpf") {
            runtimes.ebpf = None;
        }
    }
    if let Some(spec) = &args.ceiling {
        runtimes.controller.ceiling = ceiling_of(spec)?;
    }
    if let Some(n) = args.max_in_flight {
        runtimes.controller.max_in_flight = n;
    }
    if let Some(n) = args.queue {
        runtimes.controller.queue_capacity = n;
    }
    let config = ServerConfig {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        host: host_config(
            &args.cache,
            HostOptions {
                fuel: false,
                kv_dir: args.kv_dir.as_deref(),
            },
        ),
        runtimes,
        tokens: args.tokens,
        jwt_secret_file: args.jwt_secret_file,
        no_auth: args.no_auth,
        body_limit: args.max_body,
        request_timeout: args.request_timeout,
        header_read_timeout: args.header_timeout,
        drain: args.drain,
        plugins_dir: args.plugins,
        warm_up: true,
        http_routes: args.routes,
        http_route_config: Default::default(),
    };
    let server = match Server::bind(config).await {
        Ok(s) => s,
        Err(warden_server::ServerError::Config(m)) => return Err(usage(m)),
        Err(e) => return Err(e.into()),
    };
    // One line on stdout that scripts wait for.
    report::stdout_line(&format!(
        "warden serve: listening on http://{}",
        server.local_addr()
    ))?;
    if let Some(addr) = server.metrics_addr() {
        report::stdout_line(&format!("warden serve: metrics on http://{addr}/metrics"))?;
    }
    let report = server.run(shutdown_signal()).await?;
    eprintln!(
        "warden serve: stopped after draining for {:.1} s ({}{})",
        report.took.as_secs_f64(),
        if report.requests_drained {
            "every request answered"
        } else {
            "requests still open were cut off"
        },
        if report.jobs_left > 0 {
            format!(", {} jobs still running were stopped", report.jobs_left)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("warden serve: shutting down; draining");
}

/// `warden token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's name (what its jobs and sessions belong to).
    #[arg(long)]
    pub name: String,

    /// Its ceiling, as JSON or @FILE (see `warden serve --help`).
    #[arg(long, value_name = "JSON|@FILE")]
    pub ceiling: Option<String>,

    /// The plugins it may use (repeatable; none: all).
    #[arg(long = "plugin", value_name = "NAME")]
    pub plugins: Vec<String>,

    /// Its rate: N/s, N/min or N/h.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,

    /// Write the token itself to this file (mode 600) instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Print a tokens-file entry on stdout; the token goes to stderr or a file.
pub fn token(args: TokenArgs) -> Result<ExitCode> {
    let (token, sha256) = warden_server::auth::new_token();
    let allowance = warden_server::auth::Allowance {
        ceiling: match &args.ceiling {
            Some(spec) => ceiling_of(spec)?,
            None => Ceiling::default(),
        },
        plugins: (!args.plugins.is_empty()).then(|| args.plugins.iter().cloned().collect()),
        rate: match &args.rate {
            Some(r) => Some(r.parse().map_err(usage)?),
            None => None,
        },
    };
    let entry = warden_server::auth::TokenEntry {
        name: args.name,
        sha256,
        allowance,
    };
    match &args.token_file {
        Some(path) => write_secret(path, &token)?,
        None => eprintln!("token (shown once; only its hash is kept): {token}"),
    }
    report::stdout_line(&serde_json::to_string(&entry).context("serializing")?)?;
    Ok(ExitCode::SUCCESS)
}

fn write_secret(path: &std::path::Path, token: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{token}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
