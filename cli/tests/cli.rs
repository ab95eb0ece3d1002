//! End-to-end tests of the `warden` binary against the guest fixtures.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warden_fixtures as fx;

const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The only stderr line, asserting there is exactly one.
    fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        lines[0]
    }
}

/// Runs warden with a private cache directory (after the subcommand's own
/// arguments) and optional stdin.
struct Warden {
    cache: tempfile::TempDir,
}

impl Warden {
    fn new() -> Self {
        Warden {
            cache: tempfile::tempdir().expect("temp cache dir"),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, b"")
    }

    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut cmd = Command::new(WARDEN);
        cmd.args(args);
        if matches!(
            args.first(),
            Some(&("run" | "inspect" | "compile" | "exec" | "build" | "runtimes"))
        ) {
            cmd.arg("--cache-dir").arg(self.cache.path());
        }
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn warden");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait for warden");
        Out {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[test]
fn run_hello_prints_the_output_json() {
    let w = Warden::new();
    let out = w.run(&["run", fx::HELLO, "--input", r#"{"name":"warden"}"#]);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON output");
    assert_eq!(v["greeting"], "hello, warden");
    assert!(out.stderr.is_empty(), "{out:#?}");

    // Default input is `{}`.
    let out = w.run(&["run", fx::HELLO]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("hello, world"), "{out:#?}");
}

#[test]
fn input_file_and_stdin_input() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.json");
    std::fs::write(&file, r#"{"name":"file"}"#).unwrap();
    let out = w.run(&["run", fx::HELLO, "--input-file", file.to_str().unwrap()]);
    assert!(out.stdout.contains("hello, file"), "{out:#?}");
    let out = w.run_stdin(
        &["run", fx::HELLO, "--input-file", "-"],
        br#"{"name":"pipe"}"#,
    );
    assert!(out.stdout.contains("hello, pipe"), "{out:#?}");
}

#[test]
fn receipt_is_json_on_stderr() {
    let w = Warden::new();
    let out = w.run(&["run", fx::HELLO, "--receipt"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let receipt: serde_json::Value = serde_json::from_str(&out.stderr).expect("receipt JSON");
    assert!(receipt["wall_time_us"].as_u64().is_some(), "{receipt}");
    assert_eq!(receipt["plugin"], "hello");
}

#[test]
fn receipt_is_printed_after_a_failure_too() {
    let w = Warden::new();
    let out = w.run(&["run", fx::INFINITE_LOOP, "--timeout", "100ms", "--receipt"]);
    assert_eq!(out.code, 4, "{out:#?}");
    let (first, rest) = out.stderr.split_once('\n').expect("two parts");
    assert!(first.starts_with("error[TIMEOUT]"), "{out:#?}");
    let receipt: serde_json::Value = serde_json::from_str(rest).expect("receipt JSON");
    assert!(
        receipt["wall_time_us"].as_u64().unwrap() >= 100_000,
        "{receipt}"
    );
}

#[test]
fn kv_is_denied_without_a_grant() {
    let w = Warden::new();
    let out = w.run(&["run", fx::KV_COUNTER, "--input", r#"{"key":"k"}"#]);
    assert_eq!(out.code, 3, "{out:#?}");
    let line = out.error_line();
    assert!(line.starts_with("error[CAPABILITY_DENIED]: "), "{line}");
    assert!(line.contains("warden:plugin/kv"), "{line}");
    assert!(out.stdout.is_empty());
}

#[test]
fn kv_works_when_allowed_and_persists_with_kv_dir() {
    let w = Warden::new();
    let out = w.run(&[
        "run",
        fx::KV_COUNTER,
        "--allow",
        "kv",
        "--input",
        r#"{"key":"k"}"#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains(r#""count":1"#), "{out:#?}");

    let state = tempfile::tempdir().unwrap();
    let kv_dir = state.path().to_str().unwrap();
    for expected in [1, 2] {
        let out = w.run(&[
            "run",
            fx::KV_COUNTER,
            "--trust",
            "medium",
            "--kv-dir",
            kv_dir,
            "--input",
            r#"{"key":"k"}"#,
        ]);
        assert_eq!(out.code, 0, "{out:#?}");
        assert!(
            out.stdout.contains(&format!(r#""count":{expected}"#)),
            "{out:#?}"
        );
    }
}

#[test]
fn infinite_loop_times_out() {
    let w = Warden::new();
    // Compile first so the timing below measures the call.
    assert_eq!(w.run(&["compile", fx::INFINITE_LOOP]).code, 0);
    let started = Instant::now();
    let out = w.run(&["run", fx::INFINITE_LOOP, "--timeout", "200ms"]);
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(out.error_line().starts_with("error[TIMEOUT]: "), "{out:#?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn other_limits_have_exit_code_4() {
    let w = Warden::new();
    let out = w.run(&["run", fx::MEMORY_BOMB, "--memory", "16MiB"]);
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(out.error_line().starts_with("error[MEMORY_LIMIT]: "));
    let out = w.run(&["run", fx::INFINITE_LOOP, "--fuel", "100000"]);
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(out.error_line().starts_with("error[FUEL_EXHAUSTED]: "));
}

#[test]
fn not_wasm_is_a_usage_error() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.wasm");
    std::fs::write(&file, "just some text").unwrap();
    let out = w.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.error_line().starts_with("error[NOT_WASM]: "),
        "{out:#?}"
    );

    let out = w.run(&["run", "/definitely/not/here.wasm"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.error_line().starts_with("error[IO]: "), "{out:#?}");
}

#[test]
fn malformed_input_is_invalid_input() {
    let w = Warden::new();
    let out = w.run(&["run", fx::HELLO, "--input", "{"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.error_line().starts_with("error[INVALID_INPUT]: "),
        "{out:#?}"
    );
}

#[test]
fn guest_failures_have_exit_code_5() {
    let w = Warden::new();
    let out = w.run(&["run", fx::PANIC]);
    assert_eq!(out.code, 5, "{out:#?}");
    let last = out.stderr.lines().last().unwrap();
    assert!(last.starts_with("error[TRAP]: "), "{out:#?}");
    assert!(last.contains("guest panicked on purpose"), "{out:#?}");
    assert!(out.stderr.contains("[guest stderr] "), "{out:#?}");
}

#[test]
fn invoke_prints_wave_or_json() {
    let w = Warden::new();
    let out = w.run(&["run", fx::TYPED_EXPORTS, "--invoke", "add(1, 2)"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "3\n");

    let out = w.run(&[
        "run",
        fx::TYPED_EXPORTS,
        "--invoke",
        r#"calc#greet("x", some(2))"#,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), r#"["hello, x","hello, x"]"#);

    let out = w.run(&["run", fx::TYPED_EXPORTS, "--invoke", "add(1,"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.error_line().starts_with("error[INVALID_INPUT]: "));
}

#[test]
fn a_library_without_invoke_lists_its_exports() {
    let w = Warden::new();
    let out = w.run(&["run", fx::TYPED_EXPORTS]);
    assert_eq!(out.code, 2, "{out:#?}");
    let line = out.error_line();
    assert!(line.starts_with("error[MISSING_EXPORT]: "), "{line}");
    assert!(line.contains("--invoke"), "{line}");
    assert!(line.contains("add: func(a: s32, b: s32) -> s32"), "{line}");
}

fn check_command(path: &str) {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stdin.txt");
    std::fs::write(&file, "shout please").unwrap();
    let out = w.run(&["run", path, "--stdin", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "SHOUT PLEASE");
    assert_eq!(out.stderr, "to stderr");

    // The guest calls `exit(3)`; WASI 0.2's stable `exit` only carries
    // success or failure, so the code arrives (and leaves warden) as 1.
    let out = w.run_stdin(&["run", path, "--stdin", "-"], b"this will fail");
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.stdout, "THIS WILL FAIL");
}

#[test]
fn wasi_command_passes_stdio_and_exit_code_through() {
    check_command(fx::COMMAND);
}

#[test]
fn preview1_command_is_adapted() {
    check_command(fx::P1_COMMAND);
    let w = Warden::new();
    let out = w.run(&["inspect", fx::P1_COMMAND]);
    assert!(out.stdout.contains("preview1-command"), "{out:#?}");
}

#[test]
fn allow_dir_grants_a_directory_and_nothing_above_it() {
    let w = Warden::new();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("note.txt"), "inside").unwrap();
    std::fs::write(root.path().join("secret.txt"), "outside").unwrap();
    let data = data.to_str().unwrap();

    let out = w.run(&[
        "run",
        fx::FILE_READER,
        "--allow-dir",
        data,
        "--input",
        r#"{"path":"note.txt"}"#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("inside"), "{out:#?}");

    let out = w.run(&[
        "run",
        fx::FILE_READER,
        "--allow-dir",
        data,
        "--input",
        r#"{"path":"../secret.txt"}"#,
    ]);
    assert_eq!(out.code, 5, "{out:#?}");
    assert!(
        out.error_line().starts_with("error[GUEST_ERROR]: "),
        "{out:#?}"
    );
    assert!(!out.stdout.contains("outside"));

    // Read-only by default; `=GUEST:rw` maps and allows writes.
    let write = r#"{"path":"/out/new.txt","write":"hi"}"#;
    let spec = format!("{data}=/out");
    let out = w.run(&[
        "run",
        fx::FILE_READER,
        "--allow-dir",
        &spec,
        "--input",
        write,
    ]);
    assert_eq!(out.code, 5, "{out:#?}");
    let spec = format!("{data}=/out:rw");
    let out = w.run(&[
        "run",
        fx::FILE_READER,
        "--allow-dir",
        &spec,
        "--input",
        write,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        std::fs::read_to_string(Path::new(data).join("new.txt")).unwrap(),
        "hi"
    );

    // Without a grant there is no file system at all.
    let out = w.run(&["run", fx::FILE_READER, "--input", r#"{"path":"note.txt"}"#]);
    assert_eq!(out.code, 5, "{out:#?}");
}

#[test]
fn env_and_host_functions() {
    let w = Warden::new();
    let out = w.run(&[
        "run",
        fx::ENV_READER,
        "--env",
        "GREETING=hi",
        "--input",
        r#"{"names":["GREETING","PATH"]}"#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["GREETING"], "hi");
    assert!(v["PATH"].is_null(), "{v}");

    let echo = r#"{"name":"echo","args":{"a":1}}"#;
    let out = w.run(&[
        "run",
        fx::HOST_CALLBACK,
        "--allow-fn",
        "echo",
        "--input",
        echo,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), r#"{"a":1}"#);
    let now = r#"{"name":"now","args":{}}"#;
    let out = w.run(&[
        "run",
        fx::HOST_CALLBACK,
        "--allow-fn",
        "echo",
        "--input",
        now,
    ]);
    assert_eq!(out.code, 5, "{out:#?}");
    let out = w.run(&["run", fx::HOST_CALLBACK, "--allow", "host", "--input", now]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.trim().parse::<u64>().unwrap() > 1_600_000_000_000);
}

#[test]
fn logs_and_events_go_to_stderr() {
    let w = Warden::new();
    let out = w.run(&[
        "run",
        fx::LOGGER,
        "--allow",
        "log",
        "--input",
        r#"{"level":"warn","message":"careful","count":1}"#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("[guest log warn] careful"), "{out:#?}");

    let out = w.run(&[
        "run",
        fx::EVENT_EMITTER,
        "--allow-topic",
        "orders.*",
        "--input",
        r#"{"topic":"orders.new","payload":{"id":7}}"#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(r#"[guest event orders.new] {"id":7}"#),
        "{out:#?}"
    );
}

#[test]
fn bad_flags_are_one_line_usage_errors() {
    let w = Warden::new();
    for args in [
        &["run", fx::HELLO, "--allow", "http"][..],
        &["run", fx::HELLO, "--memory", "lots"],
        &["run", fx::HELLO, "--timeout", "5"],
        &["run", fx::HELLO, "--kv-quota", "1KiB"],
        &["run", fx::HELLO, "--stdin", "-"],
        &["run", fx::COMMAND, "--input", "{}"],
        &["frobnicate"],
    ] {
        let out = w.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
        assert!(
            out.error_line().starts_with("error[USAGE]: "),
            "{args:?}: {out:#?}"
        );
    }
    let out = w.run(&["run", fx::HELLO, "--allow", "http"]);
    assert!(out.stderr.contains("--allow-host"), "{out:#?}");
}

#[test]
fn inspect_shows_denied_and_granted_imports() {
    let w = Warden::new();
    let out = w.run(&["inspect", fx::KV_COUNTER]);
    assert_eq!(out.code, 0, "{out:#?}");
    let kv = out
        .stdout
        .lines()
        .find(|l| l.starts_with("warden:plugin/kv"))
        .unwrap_or_else(|| panic!("no kv import row: {}", out.stdout));
    assert!(kv.contains("denied"), "{kv}");
    assert!(out.stdout.contains("world root"), "{}", out.stdout);
    assert!(
        out.stdout.contains("export run: func(input: string)"),
        "{}",
        out.stdout
    );

    let out = w.run(&["inspect", fx::KV_COUNTER, "--allow", "kv", "--json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect JSON");
    assert_eq!(v["kind"], "plugin");
    let kv = v["imports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"].as_str().unwrap().starts_with("warden:plugin/kv"))
        .unwrap();
    assert_eq!(kv["status"], "granted");
    assert_eq!(v["policy_check"]["ok"], true);
}

#[test]
fn compile_twice_hits_the_cache() {
    let w = Warden::new();
    let out = w.run(&["compile", fx::HELLO, fx::TYPED_EXPORTS]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("hello: miss ("), "{out:#?}");
    let out = w.run(&["compile", fx::HELLO, fx::TYPED_EXPORTS]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("hello: hit ("), "{out:#?}");
    assert!(out.stdout.contains("typed_exports: hit ("), "{out:#?}");
}

#[test]
fn help_documents_exit_codes_and_version_works() {
    let w = Warden::new();
    let out = w.run(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Exit codes"), "{}", out.stdout);
    let out = w.run(&["help", "run"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--allow-dir"), "{}", out.stdout);
    let out = w.run(&["--version"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("warden "), "{}", out.stdout);
}

#[test]
fn bench_smoke() {
    let w = Warden::new();
    let out = w.run(&[
        "bench",
        "--iterations",
        "40",
        "--plugin",
        fx::HELLO,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("bench JSON");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for r in rows {
        assert!(r["median_ns"].as_f64().unwrap() > 0.0, "{r}");
    }
}

// ---- warden exec / warden build (JavaScript and TypeScript) --------------

#[test]
fn exec_js_and_ts_snippets() {
    let w = Warden::new();
    let out = w.run(&[
        "exec",
        "-e",
        "async (i) => i.n * 2",
        "--input",
        r#"{"n": 21}"#,
    ]);
    assert_eq!((out.code, out.stdout.trim()), (0, "42"), "{out:#?}");

    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("double.ts");
    std::fs::write(
        &ts,
        "type In = { n: number };\nexport function run(i: In): number { return i.n * 2 }\n",
    )
    .unwrap();
    let out = w.run(&["exec", ts.to_str().unwrap(), "--input", r#"{"n": 4}"#]);
    assert_eq!((out.code, out.stdout.trim()), (0, "8"), "{out:#?}");
}

#[test]
fn exec_errors_have_codes_and_exit_codes() {
    let w = Warden::new();
    let out = w.run(&["exec", "-e", "export function run() {\n  return 1 +;\n}"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.starts_with("error[COMPILE]") && out.stderr.contains("2:"),
        "{out:#?}"
    );
    let out = w.run(&["exec", "-e", "() => kv.get('x')"]);
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(
        out.stderr.contains("error[CAPABILITY_DENIED]") && out.stderr.contains("`kv`"),
        "{out:#?}"
    );
    let out = w.run(&[
        "exec",
        "-e",
        "() => { while (true) {} }",
        "--timeout",
        "200ms",
    ]);
    assert_eq!(out.code, 4, "{out:#?}");
    let out = w.run(&["exec", "-e", "() => { throw new Error('boom') }"]);
    assert_eq!(out.code, 5, "{out:#?}");
    assert!(out.stderr.contains("Error: boom"), "{out:#?}");
    let out = w.run(&["exec", "--lang", "cobol", "-e", "1"]);
    assert_eq!(out.code, 2, "{out:#?}");
}

#[test]
fn exec_with_grants_and_receipt() {
    let w = Warden::new();
    let out = w.run(&[
        "exec", "-e", "async () => { kv.set('k', 'v'); log('info', 'hey'); return await call('echo', {x: kv.get('k')}) }",
        "--allow", "kv", "--allow", "log", "--allow-fn", "echo", "--receipt",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), r#"{"x":"v"}"#);
    assert!(out.stderr.contains("[guest log info] hey"), "{out:#?}");
    let json_start = out.stderr.find('{').expect("receipt");
    let receipt: serde_json::Value =
        serde_json::from_str(&out.stderr[json_start..]).expect("receipt JSON");
    assert_eq!(receipt["host_calls"]["kv"], 2);
    assert_eq!(receipt["host_calls"]["host"], 1);
}

#[test]
fn build_then_run_a_js_plugin() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("greet.js");
    std::fs::write(&src, "import { log } from 'warden:plugin/log';\nexport function run(i) { log('info', 'greeting ' + i.name); return { hello: i.name } }\n").unwrap();
    let wasm = dir.path().join("greet.wasm");
    let out = w.run(&["build", src.to_str().unwrap(), "-o", wasm.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("pre-initialized"), "{out:#?}");
    let out = w.run(&[
        "run",
        wasm.to_str().unwrap(),
        "--allow",
        "log",
        "--input",
        r#"{"name":"js"}"#,
    ]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, r#"{"hello":"js"}"#),
        "{out:#?}"
    );
    // The same plugin without the log grant: a typed denial.
    let out = w.run(&["run", wasm.to_str().unwrap(), "--input", r#"{"name":"js"}"#]);
    assert_eq!(out.code, 3, "{out:#?}");

    let bad = dir.path().join("bad.js");
    std::fs::write(&bad, "export function run() {\n  return (;\n}\n").unwrap();
    let out = w.run(&[
        "build",
        bad.to_str().unwrap(),
        "-o",
        dir.path().join("bad.wasm").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.starts_with("error[COMPILE]") && out.stderr.contains("2:"),
        "{out:#?}"
    );
}

// ---- warden exec over the controller: rust, wasm, hints, runtimes --------

#[test]
fn exec_rust_source() {
    let w = Warden::new();
    let out = w.run(&[
        "exec",
        "--lang",
        "rust",
        "-e",
        "fn run(i: &str) -> usize { i.len() }",
        "--input",
        r#""abc""#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "5");
    // The first compile of a source says so.
    assert!(out.stderr.contains("note: compiled with rustc"), "{out:#?}");
    // Compiler errors keep their lines and point into the source.
    let out = w.run(&[
        "exec",
        "--lang",
        "rust",
        "-e",
        "fn run(i: &str) -> i64 {\n    nope\n}",
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.starts_with("error[COMPILE]"), "{out:#?}");
    assert!(out.stderr.contains("snippet.rs:2:"), "{out:#?}");
}

#[test]
fn exec_wasm_invoke_hints_runtime_and_summary() {
    let w = Warden::new();
    let out = w.run(&[
        "exec",
        "--lang",
        "wasm",
        fx::TYPED_EXPORTS,
        "--invoke",
        "calc#add(40, 2)",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "42");
    // A hint no runtime meets: NO_RUNTIME with the reason, exit 2.
    let out = w.run(&[
        "exec",
        "--lang",
        "python",
        "-e",
        "def run(i): return i",
        "--hint",
        "latency=low",
    ]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.starts_with("error[NO_RUNTIME]") && out.stderr.contains("~2 ms"),
        "{out:#?}"
    );
    let out = w.run(&["exec", "-e", "() => 1", "--hint", "speed=fast"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("unknown hint"), "{out:#?}");
    // An explicit runtime that does not run the language.
    let out = w.run(&["exec", "-e", "() => 1", "--runtime", "wasm"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("does not run js"), "{out:#?}");
    // --summary: the whole result as JSON.
    let out = w.run(&["exec", "-e", "(i) => i + 1", "--input", "1", "--summary"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON summary");
    assert_eq!(
        (v["ok"].clone(), v["output"].clone(), v["runtime"].clone()),
        (true.into(), 2.into(), "js".into())
    );
    assert!(
        v["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("js runs js"),
        "{v}"
    );
    assert!(v["receipt"]["wall_time_us"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn runtimes_lists_the_registry_and_the_decision_table() {
    let w = Warden::new();
    let out = w.run(&["runtimes", "--json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wasm", "rust", "js", "python", "ebpf"]);
    assert!(v[0]["health"]["state"].is_string(), "{v}");
    let out = w.run(&["runtimes", "--decisions"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("python  low"))
        .unwrap();
    assert!(line.contains("refused"), "{line}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("c       ultra-low  simple"))
        .unwrap();
    assert!(line.ends_with("ebpf"), "{line}");
}

// ---- warden exec --lang c (eBPF in the kernel; needs root) ----------------

/// eBPF needs root: skip visibly without it, unless REQUIRE_EBPF=1 (CI).
fn ebpf_unavailable(out: &Out) -> bool {
    if out.stderr.contains("error[UNAVAILABLE]") && out.stderr.contains("not permitted") {
        assert!(
            std::env::var("REQUIRE_EBPF").as_deref() != Ok("1"),
            "REQUIRE_EBPF=1 but eBPF is unavailable: {out:#?}"
        );
        eprintln!("SKIP: eBPF unavailable ({})", out.stderr.trim());
        return true;
    }
    false
}

#[test]
fn exec_c_runs_in_the_kernel() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("packet.bin");
    std::fs::write(&data, [7u8; 20]).unwrap();
    let src = dir.path().join("len.c");
    std::fs::write(
        &src,
        "int packet_len(void *data, int data_len) {\n    return data_len;\n}\n",
    )
    .unwrap();
    let out = w.run(&[
        "exec",
        src.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    if ebpf_unavailable(&out) {
        return;
    }
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON result");
    assert_eq!(v["retval"], 20, "{v}");
    assert!(v["duration_ns"].as_u64().is_some(), "{v}");

    // A syntax error is COMPILE with the line.
    let out = w.run(&[
        "exec",
        "--lang",
        "c",
        "-e",
        "int f(void *data, int data_len) {\n    return data_len +;\n}",
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.starts_with("error[COMPILE]") && out.stderr.contains(":2:"),
        "{out:#?}"
    );
    // An unchecked read is rejected by the verifier.
    let out = w.run(&[
        "exec", "--lang", "c", "-e",
        "int f(void *data, int data_len) {\n    unsigned char *p = data;\n    return p[data_len * 4096];\n}",
    ]);
    assert_eq!(out.code, 5, "{out:#?}");
    assert!(
        out.stderr.starts_with("error[VERIFIER_REJECTED]"),
        "{out:#?}"
    );
    // JSON input is bytes too: a string's UTF-8; an object is INVALID_INPUT.
    let out = w.run(&["exec", src.to_str().unwrap(), "--input", r#""hello""#]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains(r#""retval":5"#), "{out:#?}");
    let out = w.run(&["exec", src.to_str().unwrap(), "--input", "{}"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.starts_with("error[INVALID_INPUT]"), "{out:#?}");
    // Ultra-low latency goes to eBPF; the decision is printed on request.
    let out = w.run(&[
        "exec",
        src.to_str().unwrap(),
        "--hint",
        "latency=ultra-low",
        "--hint",
        "complexity=simple",
        "--explain",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stderr.starts_with("runtime: ebpf — "), "{out:#?}");
}

#[test]
fn exec_c_through_the_sidecar() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ebpf.sock");
    let src = "int f(void *data, int data_len) {\n    return data_len * 2;\n}";
    // No sidecar running: a clear error saying how to start it.
    let out = w.run(&[
        "exec",
        "--lang",
        "c",
        "-e",
        src,
        "--ebpf-socket",
        sock.to_str().unwrap(),
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains("warden-ebpf-sidecar --socket"),
        "{out:#?}"
    );

    // The sidecar binary sits next to warden.
    let sidecar = std::path::Path::new(WARDEN).with_file_name("warden-ebpf-sidecar");
    assert!(
        sidecar.is_file(),
        "{} is built with the workspace",
        sidecar.display()
    );
    let mut child = Command::new(&sidecar)
        .args(["--socket", sock.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the sidecar");
    for _ in 0..200 {
        if sock.exists() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    if let Some(status) = child.try_wait().unwrap() {
        let mut msg = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut msg).unwrap();
        assert!(
            std::env::var("REQUIRE_EBPF").as_deref() != Ok("1"),
            "REQUIRE_EBPF=1 but the sidecar exited ({status}): {msg}"
        );
        eprintln!("SKIP: eBPF unavailable (the sidecar exited: {msg})");
        return;
    }
    let data = dir.path().join("d.bin");
    std::fs::write(&data, [1u8; 30]).unwrap();
    let out = w.run(&[
        "exec",
        "--lang",
        "c",
        "-e",
        src,
        "--data",
        data.to_str().unwrap(),
        "--ebpf-socket",
        sock.to_str().unwrap(),
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.code, 0, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON result");
    assert_eq!(v["retval"], 60, "{v}");
}
