//! # warden
//!
//! The command-line front end of [`warden_host`]: run sandboxed WebAssembly
//! components under an explicit capability policy, run code in any language
//! through the runtime controller, bake JS/TS and Python plugins, inspect what
//! plugins import, and warm the compilation cache. (The benchmarks are the
//! separate `warden-bench` binary, crate `bench/`.)
//!
//! ```text
//! warden run hello.wasm --input '{"name":"x"}'
//! warden run kv-counter.wasm --allow kv --input '{"key":"hits"}' --receipt
//! warden run typed-exports.wasm --invoke 'add(1, 2)'
//! warden run command.wasm --stdin notes.txt --arg -v
//! warden exec -e 'async (i) => i.n * 2' --input '{"n": 21}'
//! warden build plugin.py -o plugin.wasm
//! warden inspect kv-counter.wasm --allow kv
//! warden compile *.wasm
//! warden runtimes --start
//! warden serve --tokens tokens.json --plugins ./plugins
//! warden exec --remote http://127.0.0.1:8750 --token-file tok -e '(i) => i'
//! ```
//!
//! Modules: [`args`] (the flags shared by several commands, and how they
//! become a [`warden_host::Policy`] and a [`warden_host::Host`]), [`run`],
//! [`script`] (`exec` and `build`), [`remote`] (`exec --remote`), [`serve`]
//! (`serve` and `token`), [`runtimes`], [`inspect`], [`compile`],
//! [`load`] (loading with a progress spinner) and [`report`] (error lines and
//! the stable exit codes).

/// The exit-code table of `--help`; kept in step with [`report::exit_code`].
macro_rules! exit_codes_help {
    () => {
        "Exit codes (stable):
  0  success
  1  the code did not compile, or warden failed (COMPILE, INTERNAL)
  2  usage or input error (USAGE, INVALID_INPUT, INPUT_TOO_LARGE, NOT_WASM,
     NOT_A_COMPONENT, MISSING_EXPORT, NO_RUNTIME, NOT_FOUND, IO)
  3  capability denied, or a request over its ceiling (CAPABILITY_DENIED,
     OVER_CEILING)
  4  a limit stopped the guest (TIMEOUT, MEMORY_LIMIT, TABLE_LIMIT,
     FUEL_EXHAUSTED, HOST_CALL_LIMIT, OUTPUT_TOO_LARGE)
  5  the guest failed (TRAP, GUEST_ERROR, SERIALIZATION, VERIFIER_REJECTED)
  6  try again later (BUSY, UNAVAILABLE: a runtime is stopped or missing a
     tool or privilege; CANCELLED)
A WASI command that ran to completion exits with its own exit code.

Every error is one line on stderr: `error[CODE]: message` (`-v` adds guest
backtraces)."
    };
}

mod args;
mod compile;
mod inspect;
mod load;
mod remote;
mod report;
mod run;
mod runtimes;
mod script;
mod serve;
mod types;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const LONG_ABOUT: &str = concat!(
    "Run WebAssembly components in a capability sandbox.

Every capability is denied unless a flag grants it (or a --trust preset does),
and every resource has a hard limit. Plugins are components exporting
`run: func(input: string) -> result<string, string>` (JSON in, JSON out), WASI
commands (`wasi:cli/run`), or libraries whose exports you call with --invoke.
WASI preview1 modules and WAT text are adapted on load; compiled code is cached
(see `warden run --help` for --cache-dir).

",
    exit_codes_help!()
);

/// Run WebAssembly components in a capability sandbox.
#[derive(Debug, Parser)]
#[command(name = "warden", version, long_about = LONG_ABOUT, propagate_version = true)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace); overrides RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a plugin, a WASI command, or one export (--invoke) under a policy.
    #[command(after_long_help = run::AFTER_HELP)]
    Run(run::RunArgs),
    /// Show what a plugin is, its WIT world, and which imports the grants cover.
    Inspect(inspect::InspectArgs),
    /// Compile plugins into the cache (`name: hit|miss|replaced (N ms)`).
    Compile(compile::CompileArgs),
    /// Run code given now (js, ts, python, rust, c, wasm) through the
    /// runtime controller, in a fresh sandbox.
    #[command(after_long_help = script::EXEC_AFTER_HELP)]
    Exec(script::ExecArgs),
    /// List the controller's runtimes with their health (or, with
    /// --decisions, the scheduler's table).
    Runtimes(runtimes::RuntimesArgs),
    /// Bake a JS/TS or Python plugin into a pre-initialized component (exports `run`).
    Build(script::BuildArgs),
    /// TypeScript declarations of a component's exports, from its WIT.
    Types(types::TypesArgs),
    /// Serve the HTTP and WebSocket API (execute, jobs with SSE, plugins,
    /// sessions, metrics) with token auth and per-token ceilings.
    #[command(after_long_help = serve::SERVE_AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Make a bearer token for `warden serve`: its tokens-file entry on
    /// stdout, the token itself on stderr (or --token-file).
    Token(serve::TokenArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report::clap_error(e),
    };
    init_tracing(cli.verbose);
    let verbose = cli.verbose > 0;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report::report(
                &anyhow::Error::new(e).context("starting the async runtime"),
                verbose,
            );
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args, verbose).await,
            Command::Inspect(args) => inspect::inspect(args).await,
            Command::Compile(args) => compile::compile(args, verbose).await,
            Command::Exec(args) => script::exec(args, verbose).await,
            Command::Runtimes(args) => runtimes::runtimes(args).await,
            Command::Types(args) => types::types(args),
            Command::Build(args) => script::build(args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Token(args) => serve::token(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => report::report(&e, verbose),
    }
}

/// `-v` levels win over `RUST_LOG`; without either only warnings are shown.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
