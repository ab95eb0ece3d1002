//! # warden-bench
//!
//! warden's benchmark suites, each measured in one process, in a binary of
//! their own so that the shipped `warden` does not carry them (nor link
//! wasmtime-wasi for the bare Wasmtime peer):
//!
//! ```text
//! warden-bench                  # core: warden vs bare Wasmtime (make bench)
//! warden-bench controller       # the controller vs direct calls, throughput (make bench)
//! warden-bench js               # warden vs isolated-vm, quickjs-emscripten (make bench-js)
//! warden-bench python           # warden vs python3, pyodide (make bench-python)
//! warden-bench http             # warden serve vs wasmtime serve, /v1/execute (make bench-http)
//! ```
//!
//! Modules: [`core_suite`], [`controller`], [`js`], [`python`], [`http`], and [`common`]
//! (statistics, finding the guests and the npm peers in the repository,
//! running the peers, output). The JS and Python peers are the npm packages
//! in `bench/js` and `bench/python`, run with node.

mod common;
mod controller;
mod core_suite;
mod http;
mod js;
mod python;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::common::{Usage, usage};

/// Benchmark warden in one process: against bare Wasmtime (core), JS and
/// Python peers, or the controller against direct calls.
#[derive(Debug, Parser)]
#[command(
    name = "warden-bench",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "SUITE",
    after_long_help = core_suite::AFTER_HELP
)]
struct Cli {
    /// The suite; without one, `core`.
    #[command(subcommand)]
    suite: Option<Suite>,

    #[command(flatten)]
    core: CoreArgs,
}

#[derive(Debug, Subcommand)]
enum Suite {
    /// warden vs bare Wasmtime (the default).
    #[command(after_long_help = core_suite::AFTER_HELP)]
    Core(CoreArgs),
    /// the controller's overhead against calling each runtime directly, and
    /// its throughput at concurrency 1, 2, 16 and 256.
    Controller(ControllerArgs),
    /// warden vs isolated-vm and quickjs-emscripten (`make bench-js`
    /// installs the peers).
    Js(JsArgs),
    /// warden vs a python3 subprocess and pyodide (`make bench-python`
    /// installs the peer).
    Python(PythonArgs),
    /// `warden serve` vs `wasmtime serve` on a wasi:http component, and
    /// `POST /v1/execute` at concurrency 1, 16 and 256 (`make bench-http`
    /// installs the peer).
    Http(HttpArgs),
}

#[derive(Debug, Args)]
struct HttpArgs {
    /// How long each row is measured, per round.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    duration: std::time::Duration,

    /// Rounds (the servers alternate; medians are reported).
    #[arg(long, value_name = "N", default_value_t = 3)]
    rounds: u32,

    /// Connections for the wasi:http rows.
    #[arg(long, value_name = "N", default_value_t = 16)]
    concurrency: usize,

    /// The wasmtime CLI [default: target/wasmtime-cli/bin/wasmtime].
    #[arg(long, value_name = "PATH")]
    wasmtime: Option<PathBuf>,

    /// Measure warden alone.
    #[arg(long)]
    skip_peer: bool,

    /// Print the numbers as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CoreArgs {
    /// Calls per row, in 20 interleaved batches.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(20..))]
    iterations: u32,

    #[command(flatten)]
    plugin: PluginArg,

    /// Print the numbers as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ControllerArgs {
    /// Calls per row.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 4_000,
          value_parser = clap::value_parser!(u32).range(20..))]
    iterations: u32,

    #[command(flatten)]
    plugin: PluginArg,

    /// Print the numbers as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct JsArgs {
    /// Calls per row.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(20..))]
    iterations: u32,

    /// Print the numbers as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PythonArgs {
    /// Calls per row.
    #[arg(long, short = 'n', value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(20..))]
    iterations: u32,

    /// Print the numbers as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PluginArg {
    /// The plugin to call (must export `run`) [default: the hello guest in
    /// target/guests, found from the executable's or the current directory].
    #[arg(long, value_name = "PATH")]
    plugin: Option<PathBuf>,
}

impl PluginArg {
    fn path(self) -> Result<PathBuf> {
        if let Some(p) = self.plugin {
            return Ok(p);
        }
        let rel = core_suite::HELLO_REL;
        common::find_in_repo(rel, |p| p.is_file()).ok_or_else(|| {
            usage(format!(
                "no --plugin given and {rel} was not found near the warden-bench executable or \
                 the current directory: build the guests first: make guests"
            ))
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli.suite.unwrap_or(Suite::Core(cli.core))).await {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            if e.downcast_ref::<Usage>().is_some() {
                eprintln!("error[USAGE]: {message}");
                ExitCode::from(2)
            } else {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(suite: Suite) -> Result<ExitCode> {
    match suite {
        Suite::Core(a) => core_suite::bench(a.iterations, &a.plugin.path()?, a.json).await,
        Suite::Controller(a) => {
            controller::bench_controller(a.iterations, &a.plugin.path()?, a.json).await
        }
        Suite::Js(a) => js::bench_js(a.iterations, a.json).await,
        Suite::Python(a) => python::bench_python(a.iterations, a.json).await,
        Suite::Http(a) => {
            http::bench_http(http::HttpOptions {
                duration: a.duration,
                rounds: a.rounds,
                concurrency: a.concurrency,
                wasmtime: a.wasmtime,
                skip_peer: a.skip_peer,
                json: a.json,
            })
            .await
        }
    }
}

/// Warnings on stderr, or what `RUST_LOG` asks for.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
