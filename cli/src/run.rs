//! `warden run`: one call of a plugin, a WASI command, or one export.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use warden_host::{Call, Called, Invoked, LogLine, Outcome, Plugin, PluginKind, Prepared, Receipt};

use crate::args::SandboxArgs;
use crate::report::{self, usage};

pub const AFTER_HELP: &str = concat!(
    "What is called depends on the component:
  plugin   (exports `run`)          run(--input), the JSON result on stdout
  command  (exports `wasi:cli/run`) stdin from --stdin, argv = [name, --arg…];
                                    the guest's stdout/stderr are passed through
                                    and its exit code is warden's
  library  (neither)                needs --invoke
--invoke 'func(args)' calls any export with WAVE arguments, e.g. 'add(1, 2)',
'calc#greet(\"x\", some(2))', and prints each result in WAVE (or JSON with --json).

For plugins the guest's stdout/stderr go to stderr as `[guest stdout] …`, its
log lines as `[guest log LEVEL] …`, its events as `[guest event TOPIC] …`.

Host functions for `warden:plugin/host` (grant with --allow-fn NAME or --allow host):
  echo   returns its arguments
  now    the current unix time in milliseconds

Examples:
  warden run hello.wasm --input '{\"name\":\"x\"}'
  warden run kv-counter.wasm --allow kv --kv-dir ./state --input '{\"key\":\"k\"}'
  warden run file-reader.wasm --allow-dir ./data --input '{\"path\":\"notes.txt\"}'
  warden run slow.wasm --timeout 200ms --memory 16MiB --receipt

",
    exit_codes_help!()
);

/// `warden run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin: a component (.wasm), a WASI preview1 module, or WAT text.
    #[arg(value_name = "PLUGIN")]
    pub plugin: PathBuf,

    /// The JSON input of `run` [default: {}].
    #[arg(long, value_name = "JSON", conflicts_with_all = ["input_file", "invoke"])]
    pub input: Option<String>,

    /// Read the JSON input of `run` from a file (`-` for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "invoke")]
    pub input_file: Option<PathBuf>,

    /// Call one export with WAVE arguments instead: 'add(1, 2)', 'calc#norm({x: 3.0, y: 4.0})'.
    #[arg(long, value_name = "CALL")]
    pub invoke: Option<String>,

    /// With --invoke: print the results as JSON instead of WAVE.
    #[arg(long, requires = "invoke")]
    pub json: bool,

    /// A WASI command's stdin, from a file (`-` for our stdin) [default: empty].
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,

    /// An argument for a WASI command, after argv[0] = the plugin's name (repeatable).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub(crate) fn read_source(path: &Path, what: &str) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {what} from stdin"))?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
    }
}

pub async fn run(args: RunArgs, verbose: bool) -> Result<ExitCode> {
    // Everything about the command line is checked before loading.
    let policy = args.sandbox.policy()?;
    let input = match (&args.input, &args.input_file) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(f)) => {
            let bytes = read_source(f, "the input file")?;
            Some(
                String::from_utf8(bytes)
                    .map_err(|_| usage(format!("the input file {} is not UTF-8", f.display())))?,
            )
        }
        (None, None) => None,
    };

    let host = args.sandbox.host()?;
    let (plugin, _) = crate::load::load(&host, &args.plugin).await?;
    let kind = plugin.kind();

    // Which call the flags make; the host decides what each means for
    // each kind of component (`Prepared::call`).
    let command_flags = args.stdin.is_some() || !args.args.is_empty();
    let call = match (&args.invoke, kind) {
        (Some(_), _) if command_flags => {
            return Err(usage(
                "--stdin and --arg are for WASI commands; --invoke takes its arguments in the call",
            ));
        }
        (Some(text), _) => Call::Invoke(text.clone()),
        (None, PluginKind::Command) if input.is_some() => {
            return Err(usage(format!(
                "`{}` is a WASI command: give it --stdin FILE and --arg ARG, not --input",
                plugin.name()
            )));
        }
        (None, PluginKind::Command) => Call::Command {
            stdin: match &args.stdin {
                Some(f) => read_source(f, "stdin file")?,
                None => Vec::new(),
            },
            args: args.args.clone(),
        },
        (None, PluginKind::Plugin) if command_flags => {
            return Err(usage(format!(
                "`{}` is a plugin (it exports `run`): give it --input JSON; --stdin and --arg are for WASI commands",
                plugin.name()
            )));
        }
        (None, _) => Call::Json(input.unwrap_or_else(|| "{}".into())),
    };
    let prepared = plugin.prepare(policy)?;
    let outcome = prepared.call(&call).await;
    let code = match (&outcome.result, kind) {
        (Ok(Called::Exit(exit)), _) => {
            // A command's own streams pass through.
            report::stdout_bytes(&outcome.stdout).context("writing stdout")?;
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&outcome.stderr);
            let _ = err.flush();
            guest_streams_to_stderr(&[], &[], &outcome.logs);
            ExitCode::from(u8::try_from(*exit).unwrap_or(1))
        }
        (Ok(Called::Json(out)), _) => {
            guest_output_to_stderr(&outcome);
            report::stdout_line(out)?;
            ExitCode::SUCCESS
        }
        (Ok(Called::Invoked(inv)), _) => {
            guest_output_to_stderr(&outcome);
            print_invoked(&prepared, inv, args.json, verbose)?
        }
        (Err(e), PluginKind::Library) if e.code() == warden_host::ErrorCode::MissingExport => {
            return Err(library_hint(&plugin));
        }
        (Err(e), _) => {
            guest_output_to_stderr(&outcome);
            report::report_warden(e, verbose)
        }
    };
    print_receipt(args.sandbox.receipt, &outcome.receipt)?;
    Ok(code)
}

/// A library called without --invoke: its exports, and how to call one.
fn library_hint(plugin: &Plugin) -> anyhow::Error {
    let exports = plugin.exports();
    let listed: Vec<String> = exports
        .iter()
        .map(|f| format!("{}: {}", f.path(), f.signature))
        .collect();
    let example = match exports.first() {
        Some(f) if f.signature.starts_with("func()") => format!(", e.g. --invoke '{}()'", f.name),
        Some(f) => format!(", e.g. --invoke '{}(…)'", f.name),
        None => String::new(),
    };
    report::coded(
        warden_host::ErrorCode::MissingExport,
        format!(
            "plugin `{}` is a library (no `run` export, not a WASI command): call one of its exports with --invoke{example}; exports: {}",
            plugin.name(),
            if listed.is_empty() {
                "(none)".to_string()
            } else {
                listed.join(", ")
            }
        ),
    )
}

/// An invoke's results: WAVE, one per line, or JSON with --json.
fn print_invoked(
    prepared: &Prepared,
    inv: &Invoked,
    json: bool,
    verbose: bool,
) -> Result<ExitCode> {
    if !json {
        for line in &inv.wave {
            report::stdout_line(line)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    Ok(match &inv.json {
        Some(v) => {
            report::stdout_line(&v.to_string())?;
            ExitCode::SUCCESS
        }
        None => report::report_warden(
            &warden_host::Error::Serialization {
                plugin: prepared.plugin().name().to_string(),
                reason: format!(
                    "the result has no JSON form; without --json it is: {}",
                    inv.wave.join(", ")
                ),
            },
            verbose,
        ),
    })
}

/// A plugin's captured stdout/stderr and log lines, prefixed, on our stderr.
pub(crate) fn guest_output_to_stderr<T>(outcome: &Outcome<T>) {
    guest_streams_to_stderr(&outcome.stdout, &outcome.stderr, &outcome.logs);
}

/// Captured stdout/stderr and log lines, prefixed, on our stderr.
pub(crate) fn guest_streams_to_stderr(stdout: &[u8], stderr: &[u8], logs: &[LogLine]) {
    let mut err = std::io::stderr().lock();
    for (label, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        if bytes.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        for line in text.trim_matches(['\n', '\r']).lines() {
            let _ = writeln!(err, "[guest {label}] {line}");
        }
    }
    for l in logs {
        let _ = writeln!(err, "[guest log {}] {}", l.level, l.message);
    }
}

pub(crate) fn print_receipt(enabled: bool, receipt: &Receipt) -> Result<()> {
    if enabled {
        let text = serde_json::to_string_pretty(receipt).context("serializing the receipt")?;
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
    Ok(())
}
