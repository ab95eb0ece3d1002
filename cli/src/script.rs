//! `warden exec` (source given at call time, a fresh sandbox per call) and
//! `warden build` (a script baked into a pre-initialized component), for
//! JavaScript, TypeScript and Python.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use warden_js::{JsEngine, Lang};
use warden_python::{BuildOptions, PythonEngine};

use crate::args::{CacheArgs, HostOptions, SandboxArgs, build_host};
use crate::report::{self, usage};
use crate::run::{guest_output_to_stderr, print_receipt, read_source};

pub const EXEC_AFTER_HELP: &str = concat!(
    "JavaScript/TypeScript — the source is one of:
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

C (--lang c or a .c file, needs root): a bare `int f(void *data, int data_len)`
or a full eBPF program (with SEC(...)) is compiled with clang -target bpf,
checked by the kernel verifier and run once on the --data bytes; the result is
{\"retval\", \"duration_ns\", \"maps\"}. Grants and limits do not apply: the
verifier bounds what eBPF can do.

Python (--lang python or a .py file): the source defines `def run(input)` (or
`async def run`); log, kv, call, emit and the exceptions CapabilityDenied,
LimitExceeded, InvalidArgument and HostError are pre-bound (also importable:
`from warden import kv`). The standard-library modules imported at
pre-initialization are available (json, math, re, datetime, collections,
itertools, functools, statistics, random, decimal, …); others fail with an
error listing what is.

Examples:
  warden exec -e 'async (i) => i.n * 2' --input '{\"n\": 21}'
  warden exec --lang ts script.ts --allow kv --receipt
  warden exec -e 'async () => await call(\"now\", null)' --allow-fn now
  warden exec --lang python -e 'def run(i): return sum(i)' --input '[1, 2, 3]'

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

    /// js, ts, python or c [default: from the file's extension, else js].
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,

    /// The JSON input [default: null].
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the JSON input from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// C: the bytes the eBPF program runs on (`data`/`data_len`) [default: none].
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// C: run through the privileged eBPF sidecar at this Unix socket
    /// (`warden-ebpf-sidecar --socket PATH`, as root) instead of in this
    /// process, which would need root itself.
    #[arg(long, value_name = "PATH", env = "WARDEN_EBPF_SOCKET")]
    pub ebpf_socket: Option<PathBuf>,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// The languages `exec` and `build` take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScriptLang {
    Js(Lang),
    Python,
    /// C compiled to eBPF and run in the kernel (warden-ebpf).
    C,
}

fn language(lang: Option<&str>, file: Option<&Path>) -> Result<ScriptLang> {
    let by_name = |l: &str| match l {
        "python" | "py" => Ok(ScriptLang::Python),
        "c" => Ok(ScriptLang::C),
        "rust" | "rs" => Err(usage(format!(
            "language `{l}` is not available in this build of warden (available: js, ts, python, c)"
        ))),
        other => other.parse::<Lang>().map(ScriptLang::Js).map_err(|_| {
            usage(format!(
                "unknown language `{other}` (available: js, ts, python, c)"
            ))
        }),
    };
    match (lang, file) {
        (Some(l), _) => by_name(l),
        (None, Some(f)) => match f.extension().and_then(|e| e.to_str()) {
            Some("py") => Ok(ScriptLang::Python),
            Some("c") => Ok(ScriptLang::C),
            _ => Ok(ScriptLang::Js(Lang::of_path(f).unwrap_or(Lang::JavaScript))),
        },
        (None, None) => Ok(ScriptLang::Js(Lang::JavaScript)),
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
    if lang == ScriptLang::C {
        if args.input.is_some() || args.input_file.is_some() {
            return Err(usage("C programs take bytes: use --data FILE, not --input"));
        }
        let data = match &args.data {
            Some(f) => read_source(f, "the data file")?,
            None => Vec::new(),
        };
        return exec_c(code, data, args.ebpf_socket.as_deref()).await;
    }
    if args.data.is_some() {
        return Err(usage(
            "--data is for C (eBPF) programs; give JS and Python --input JSON",
        ));
    }
    let input = match (&args.input, &args.input_file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => String::from_utf8(read_source(f, "the input file")?)
            .map_err(|_| usage(format!("the input file {} is not UTF-8", f.display())))?,
        (None, None) => "null".to_string(),
    };
    let host = args.sandbox.host()?;
    let outcome = match lang {
        ScriptLang::Js(lang) => {
            let engine = JsEngine::new(&host).await?;
            engine.prepare(policy)?.exec(lang, &code, &input).await
        }
        ScriptLang::C => unreachable!("handled above"),
        ScriptLang::Python => {
            // The first use compiles the engine (about 10 s); later ones hit the cache.
            let h = host.clone();
            let engine = tokio::task::spawn_blocking(move || PythonEngine::new(&h))
                .await
                .context("compiling the Python engine")??;
            engine.prepare(policy)?.exec(&code, &input).await
        }
    };
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

/// Compile, verify and run C in the kernel: through the sidecar at `socket`,
/// or in this process (which then needs root). A source with a `SEC(...)` is
/// a full program; otherwise a bare `int f(void *data, int data_len)`. Prints
/// the return value, the kernel-measured duration and the maps as JSON.
async fn exec_c(code: String, data: Vec<u8>, socket: Option<&Path>) -> Result<ExitCode> {
    use warden_ebpf::sidecar::SidecarClient;
    use warden_ebpf::{Runtime, RuntimeOptions, Source};
    let source = if code.contains("SEC(") {
        Source::Program {
            c: code,
            section_fn: None,
        }
    } else {
        Source::Function(code)
    };
    let result = match socket {
        Some(path) => match SidecarClient::connect(path).await {
            Ok(mut client) => client.run(&source, &data).await,
            Err(e) => Err(e),
        },
        None => tokio::task::spawn_blocking(move || {
            Runtime::new(RuntimeOptions::default()).run(&source, &data)
        })
        .await
        .context("running the eBPF program")?,
    };
    match result {
        Ok(out) => {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let maps: serde_json::Map<String, serde_json::Value> = out
                .maps
                .iter()
                .map(|(name, entries)| {
                    let e: Vec<serde_json::Value> = entries
                        .iter()
                        .map(|(k, v)| serde_json::json!([hex(k), hex(v)]))
                        .collect();
                    (name.clone(), serde_json::Value::Array(e))
                })
                .collect();
            let v = serde_json::json!({
                "retval": out.retval, "duration_ns": out.duration_ns, "maps": maps,
            });
            report::stdout_line(&v.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let exit = match e.code() {
                "INPUT_TOO_LARGE" | "INVALID_SOURCE" | "IO" => 2,
                "NOT_PERMITTED" => 3,
                "SIDECAR" => 1,
                "VERIFIER_REJECTED" => 5,
                _ => 1,
            };
            let text = e.to_string();
            let mut lines = text.lines();
            let mut err = std::io::stderr().lock();
            use std::io::Write as _;
            let _ = writeln!(
                err,
                "error[{}]: {}",
                e.code(),
                lines.next().unwrap_or_default()
            );
            for l in lines {
                let _ = writeln!(err, "  {l}");
            }
            Ok(ExitCode::from(exit))
        }
    }
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
    let lang = language(args.lang.as_deref(), Some(&args.source))?;
    let code = source(Some(&args.source), None)?;
    let name = args
        .source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into());
    let started = Instant::now();
    let bytes = match lang {
        ScriptLang::Js(lang) => {
            if args.vendor.is_some() || args.requirements.is_some() {
                return Err(usage("--vendor and --requirements are for Python plugins"));
            }
            let host = build_host(&args.cache, HostOptions::default())?;
            warden_js::build_plugin(&host, &name, lang, &code).await?
        }
        ScriptLang::C => {
            return Err(usage(
                "C programs are not built into components: run them with `warden exec --lang c FILE --data FILE`",
            ));
        }
        ScriptLang::Python => {
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
