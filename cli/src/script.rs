//! `warden exec` (source given at call time, a fresh sandbox per call) and
//! `warden build` (a script baked into a pre-initialized component).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use warden_js::{JsEngine, Lang};

use crate::args::{CacheArgs, HostOptions, SandboxArgs, build_host};
use crate::report::{self, usage};
use crate::run::{guest_output_to_stderr, print_receipt, read_source};

pub const EXEC_AFTER_HELP: &str = concat!(
    "The source is one of:
  an ES module exporting `run`:   export async function run(input) { … }
                                  (or a default-exported function)
  a function expression:          async (input) => { … }   (\"codemode\")
It is called with the JSON --input (default null); its result, which must be
JSON-able, is printed. Promises are awaited. Capabilities are ES modules:
  import { log } from 'warden:plugin/log'           log(level, message)
  import { get, set, del, listKeys } from 'warden:plugin/kv'
  import { call } from 'warden:plugin/host'         await call(name, args)
  import { emit } from 'warden:plugin/events'       emit(topic, payload)
In function expressions kv, log, call and emit are in scope without imports.
console.* goes to the log capability. An ungranted capability throws a
catchable CapabilityDenied; uncaught, the exit code is 3. TypeScript (--lang ts
or a .ts file) is stripped of its types first, keeping lines and columns.

Examples:
  warden exec -e 'async (i) => i.n * 2' --input '{\"n\": 21}'
  warden exec --lang ts script.ts --allow kv --receipt
  warden exec -e 'async () => await call(\"now\", null)' --allow-fn now

",
    exit_codes_help!()
);

/// `warden exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The source file (`-` for stdin); or use -e.
    #[arg(value_name = "FILE", required_unless_present = "code")]
    pub file: Option<PathBuf>,

    /// The source code itself.
    #[arg(
        short = 'e',
        long = "eval",
        value_name = "CODE",
        conflicts_with = "file"
    )]
    pub code: Option<String>,

    /// js or ts [default: from the file's extension, else js].
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,

    /// The JSON input [default: null].
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the JSON input from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

fn language(lang: Option<&str>, file: Option<&Path>) -> Result<Lang> {
    match (lang, file) {
        (Some(l @ ("python" | "py" | "c" | "rust" | "rs")), _) => Err(usage(format!(
            "language `{l}` is not available in this build of warden (available: js, ts)"
        ))),
        (Some(l), _) => l.parse::<Lang>().map_err(usage),
        (None, Some(f)) => Ok(Lang::of_path(f).unwrap_or(Lang::JavaScript)),
        (None, None) => Ok(Lang::JavaScript),
    }
}

fn source(file: Option<&Path>, code: Option<&str>) -> Result<String> {
    match (code, file) {
        (Some(c), _) => Ok(c.to_string()),
        (None, Some(f)) => String::from_utf8(read_source(f, "the source file")?)
            .map_err(|_| usage(format!("{} is not UTF-8", f.display()))),
        (None, None) => Err(usage("give a source FILE or -e CODE")),
    }
}

pub async fn exec(args: ExecArgs, verbose: bool) -> Result<ExitCode> {
    let policy = args.sandbox.policy()?;
    let lang = language(args.lang.as_deref(), args.file.as_deref())?;
    let code = source(args.file.as_deref(), args.code.as_deref())?;
    let input = match (&args.input, &args.input_file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => String::from_utf8(read_source(f, "the input file")?)
            .map_err(|_| usage(format!("the input file {} is not UTF-8", f.display())))?,
        (None, None) => "null".to_string(),
    };
    let host = args.sandbox.host()?;
    let engine = JsEngine::new(&host).await?;
    let sandbox = engine.prepare(policy)?;
    let outcome = sandbox.exec(lang, &code, &input).await;
    guest_output_to_stderr(&outcome);
    let exit = match &outcome.result {
        Ok(out) => {
            report::stdout_line(out)?;
            ExitCode::SUCCESS
        }
        Err(e) => report::report_warden(e, verbose),
    };
    print_receipt(args.sandbox.receipt, &outcome.receipt)?;
    Ok(exit)
}

/// `warden build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin's source: a .js or .ts ES module exporting `run` (or a function expression).
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// Where to write the component.
    #[arg(short, long, value_name = "OUT.wasm")]
    pub output: PathBuf,

    /// js or ts [default: from the extension].
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,

    #[command(flatten)]
    pub cache: CacheArgs,
}

pub async fn build(args: BuildArgs) -> Result<ExitCode> {
    let lang = language(args.lang.as_deref(), Some(&args.source))?;
    let code = source(Some(&args.source), None)?;
    let name = args
        .source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into());
    let host = build_host(&args.cache, HostOptions::default())?;
    let started = Instant::now();
    let bytes = warden_js::build_plugin(&host, &name, lang, &code).await?;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    report::stdout_line(&format!(
        "built {} from {} ({} KiB, pre-initialized, {:.0} ms)",
        args.output.display(),
        args.source.display(),
        bytes.len() / 1024,
        started.elapsed().as_secs_f64() * 1e3
    ))?;
    Ok(ExitCode::SUCCESS)
}
