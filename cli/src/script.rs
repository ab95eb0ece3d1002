//! `warden exec` (source given at call time, a fresh sandbox per call) and
//! `warden build` (a script baked into a pre-initialized component), for
//! JavaScript, TypeScript and Python.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use warden_host::{ExecuteRequest, Hints, Input, Language};
use warden_python::BuildOptions;

use crate::args::{CacheArgs, HostOptions, SandboxArgs, build_host};
use crate::report::{self, usage};
use crate::run::{guest_streams_to_stderr, print_receipt, read_source};

pub const EXEC_AFTER_HELP: &str = concat!(
    "The code runs through warden's runtime controller: the language gives the
candidate runtimes, --hint narrows them (a hint no runtime meets is refused
with NO_RUNTIME and the reason, never a silent fallback), --runtime names one,
--explain prints the decision. `warden runtimes` lists the runtimes and
`warden runtimes --decisions` the whole table.

JavaScript/TypeScript (runtime js) — the source is one of:
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

Python (runtime python): the source defines `def run(input)` (or
`async def run`); log, kv, call, emit and the exceptions CapabilityDenied,
LimitExceeded, InvalidArgument and HostError are pre-bound (also importable:
`from warden import kv`). The standard-library modules imported at
pre-initialization are available (json, math, re, datetime, collections,
itertools, functools, statistics, random, decimal, …); others fail with an
error listing what is.

Rust (runtime rust): `fn run(input: &str) -> T` (T: a String of JSON, a
number, a bool, or a Result of those) or a whole program with `fn main()`
reading the JSON input on stdin and printing JSON. Compiled with the pinned
toolchain's rustc to wasm32-wasip2 (std only) and cached by hash: the first
compile of a source takes about a second and says so.

C (runtime ebpf; in this process as root, or through the sidecar with
--ebpf-socket): a bare `int f(void *data, int data_len)` or a full eBPF
program (with SEC(...)) is compiled with clang -target bpf, checked by the
kernel verifier and run once on the --data bytes (or --input: null, a string,
or an array of bytes); the result is {\"retval\", \"duration_ns\", \"maps\"}.
Limits do not apply (the verifier bounds eBPF) and no capability can be
granted.

Wasm (runtime wasm): a component, a WASI preview1 module or WAT. A plugin's
`run` gets --input; a WASI command gets it on stdin and must print JSON;
--invoke 'name(args…)' calls any export with WAVE arguments.

Examples:
  warden exec -e 'async (i) => i.n * 2' --input '{\"n\": 21}'
  warden exec --lang ts script.ts --allow kv --receipt
  warden exec -e 'async () => await call(\"now\", null)' --allow-fn now
  warden exec --lang python -e 'def run(i): return sum(i)' --input '[1, 2, 3]'
  warden exec --lang rust -e 'fn run(i: &str) -> usize { i.len() }' --input '\"abc\"'
  warden exec --lang c filter.c --data packet.bin --hint latency=ultra-low --explain
  warden exec --lang wasm calc.wasm --invoke 'add(1, 2)'

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

    /// js, ts, python, rust, c or wasm [default: from the file's extension
    /// (.js .ts .py .rs .c .wasm .wat), else js].
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,

    /// The JSON input [default: null].
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the JSON input from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// Wasm: call one export with WAVE arguments, e.g. `add(1, 2)`.
    #[arg(long, value_name = "CALL")]
    pub invoke: Option<String>,

    /// C: the bytes the eBPF program runs on (`data`/`data_len`) [default: none].
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// A scheduler hint (repeatable): `latency=ultra-low|low|normal`,
    /// `complexity=simple|moderate|complex`, `expected=50ms`. A hint no
    /// runtime meets is refused (NO_RUNTIME) with the reason.
    #[arg(long, value_name = "KEY=VALUE")]
    pub hint: Vec<String>,

    /// Run on this runtime (see `warden runtimes`); the hints still apply.
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,

    /// Print the scheduler's decision (runtime, reason, the others and why
    /// not) on stderr before running.
    #[arg(long)]
    pub explain: bool,

    /// Print the whole result as JSON on stdout (ok, output or error,
    /// runtime, decision, timings, memory, compile, receipt).
    #[arg(long)]
    pub summary: bool,

    /// C: run through the privileged eBPF sidecar at this Unix socket
    /// (`warden-ebpf-sidecar --socket PATH`, as root) instead of in this
    /// process, which would need root itself.
    #[arg(long, value_name = "PATH", env = "WARDEN_EBPF_SOCKET")]
    pub ebpf_socket: Option<PathBuf>,

    /// Run on the `warden serve` at this URL instead of here (same flags,
    /// same output and exit codes; the server's ceiling applies).
    #[arg(long, value_name = "URL", env = "WARDEN_REMOTE")]
    pub remote: Option<String>,

    /// The bearer token for --remote, in this file (first line).
    #[arg(
        long,
        value_name = "FILE",
        env = "WARDEN_TOKEN_FILE",
        requires = "remote"
    )]
    pub token_file: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

fn source(file: Option<&Path>, code: Option<&str>) -> Result<String> {
    match (code, file) {
        (Some(c), _) => Ok(c.to_string()),
        (None, Some(f)) => String::from_utf8(read_source(f, "the source file")?)
            .map_err(|_| usage(format!("{} is not UTF-8", f.display()))),
        (None, None) => Err(usage("give a source FILE or -e CODE")),
    }
}

/// Parse `--hint KEY=VALUE`s: `latency=ultra-low|low|normal`,
/// `complexity=simple|moderate|complex`, `expected=DURATION` (`50ms`, `2s`).
fn hints(specs: &[String]) -> Result<Hints> {
    let mut hints = Hints::default();
    for spec in specs {
        let (key, value) = spec.split_once('=').ok_or_else(|| {
            usage(format!(
                "--hint {spec}: expected KEY=VALUE (latency=…, complexity=… or expected=…)"
            ))
        })?;
        match key {
            "latency" => hints.latency = Some(value.parse().map_err(usage)?),
            "complexity" => hints.complexity = Some(value.parse().map_err(usage)?),
            "expected" | "expected-duration" => {
                hints.expected_duration = Some(
                    warden_host::api::units::parse_duration(value)
                        .map_err(|e| usage(format!("--hint expected={value}: {e}")))?,
                )
            }
            other => {
                return Err(usage(format!(
                    "--hint {other}: unknown hint (expected latency, complexity or expected)"
                )));
            }
        }
    }
    Ok(hints)
}

/// The language of `exec`: --lang, else the file's extension, else js.
fn exec_language(lang: Option<&str>, file: Option<&Path>) -> Result<Language> {
    match (lang, file) {
        (Some(l), _) => l.parse().map_err(usage),
        (None, Some(f)) => Ok(Language::of_path(f).unwrap_or(Language::JavaScript)),
        (None, None) => Ok(Language::JavaScript),
    }
}

/// Await `fut`; when it takes longer than 300 ms and stderr is a terminal,
/// show a spinner with `message` meanwhile.
async fn with_spinner<T>(message: String, fut: impl std::future::Future<Output = T>) -> T {
    use std::io::IsTerminal;
    tokio::pin!(fut);
    if let Ok(v) = tokio::time::timeout(Duration::from_millis(300), &mut fut).await {
        return v;
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(80));
        bar
    });
    let v = fut.await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    v
}

pub async fn exec(args: ExecArgs, verbose: bool) -> Result<ExitCode> {
    let language = exec_language(args.lang.as_deref(), args.file.as_deref())?;
    let hints = hints(&args.hint)?;
    let code: Vec<u8> = match (&args.code, &args.file) {
        (Some(c), _) => c.clone().into_bytes(),
        (None, Some(f)) => read_source(f, "the source file")?,
        (None, None) => return Err(usage("give a source FILE or -e CODE")),
    };
    let input = match (&args.input, &args.input_file, &args.invoke, &args.data) {
        (Some(s), None, None, None) => Input::Json(s.clone()),
        (None, Some(f), None, None) => Input::Json(
            String::from_utf8(read_source(f, "the input file")?)
                .map_err(|_| usage(format!("the input file {} is not UTF-8", f.display())))?,
        ),
        (None, None, Some(call), None) => {
            if language != Language::Wasm {
                return Err(usage("--invoke calls an export of Wasm (--lang wasm)"));
            }
            Input::Invoke(call.clone())
        }
        (None, None, None, Some(f)) => {
            if language != Language::C {
                return Err(usage(
                    "--data is for C (eBPF) programs; give other languages --input JSON",
                ));
            }
            Input::Bytes(read_source(f, "the data file")?)
        }
        (None, None, None, None) => Input::null(),
        _ => {
            return Err(usage(
                "give one of --input, --input-file, --invoke and --data",
            ));
        }
    };
    // The flags as a config; the controller lowers it (a bare --trust asks
    // for nothing by name, so eBPF, which grants nothing, still qualifies).
    let config = args.sandbox.config()?;
    if let Some(url) = &args.remote {
        let mut request = ExecuteRequest::new(language, &code)
            .input(input)
            .config(config)
            .hints(hints);
        request.runtime = args.runtime.clone();
        let answer = with_spinner(
            format!("running {language} on {url}…"),
            crate::remote::execute(url, args.token_file.as_deref(), &request),
        )
        .await?;
        return crate::remote::print(answer, args.summary, args.explain, args.sandbox.receipt);
    }
    let host = args.sandbox.host()?;
    let controller = crate::runtimes::controller(&host, args.ebpf_socket.as_deref())?;
    if args.explain {
        match controller.decide(language, &hints, &config, args.runtime.as_deref()) {
            Ok(d) => report::print_decision(&d),
            Err(e) => return Ok(report::report_warden(&e, verbose)),
        }
    }
    let mut request = ExecuteRequest::new(language, &code)
        .input(input)
        .config(config)
        .hints(hints);
    request.runtime = args.runtime.clone();
    let execution = with_spinner(
        format!("compiling and running {language}…"),
        controller.execute(request),
    )
    .await;
    if let Some(note) = execution.compile.as_ref().and_then(|c| c.note.as_deref()) {
        let _ = writeln!(std::io::stderr().lock(), "note: {note}");
    }
    guest_streams_to_stderr(&execution.stdout, &execution.stderr, &execution.logs);
    let exit = if args.summary {
        report::stdout_line(
            &serde_json::to_string_pretty(&execution.report()).context("serializing")?,
        )?;
        match &execution.result {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => ExitCode::from(report::exit_code(e.code())),
        }
    } else {
        match &execution.result {
            Ok(out) => {
                report::stdout_line(&out.to_string())?;
                ExitCode::SUCCESS
            }
            Err(e) => report::report_warden(e, verbose),
        }
    };
    print_receipt(args.sandbox.receipt, &execution.receipt)?;
    Ok(exit)
}

/// `warden build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin's source: a .js or .ts ES module exporting `run` (or a
    /// function expression), or a .py module defining `run(input)`.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// Where to write the component.
    #[arg(short, long, value_name = "OUT.wasm")]
    pub output: PathBuf,

    /// js, ts or python [default: from the extension].
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,

    /// Python: a directory of pure-Python packages to bundle.
    #[arg(long, value_name = "DIR", conflicts_with = "requirements")]
    pub vendor: Option<PathBuf>,

    /// Python: a requirements file to install (pure-Python only) and bundle.
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,

    #[command(flatten)]
    pub cache: CacheArgs,
}

pub async fn build(args: BuildArgs) -> Result<ExitCode> {
    let lang = exec_language(args.lang.as_deref(), Some(&args.source))?;
    let code = source(Some(&args.source), None)?;
    let name = args
        .source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into());
    let started = Instant::now();
    let bytes = match lang {
        Language::JavaScript | Language::TypeScript => {
            if args.vendor.is_some() || args.requirements.is_some() {
                return Err(usage("--vendor and --requirements are for Python plugins"));
            }
            let host = build_host(&args.cache, HostOptions::default())?;
            warden_js::build_plugin(&host, &name, lang, &code).await?
        }
        Language::C => {
            return Err(usage(
                "C programs are not built into components: run them with `warden exec --lang c FILE --data FILE`",
            ));
        }
        Language::Rust | Language::Wasm => {
            return Err(usage(format!(
                "`warden build` makes components from js, ts or python, not {lang} (build Rust guests with cargo; run C with `warden exec`)"
            )));
        }
        Language::Python => {
            let options = BuildOptions {
                vendor: args.vendor.clone(),
                requirements: args.requirements.clone(),
            };
            tokio::task::spawn_blocking(move || warden_python::build_plugin(&name, &code, &options))
                .await
                .context("building the Python plugin")??
        }
    };
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
