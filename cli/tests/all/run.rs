//! `warden run`: output, input, receipts, limits, errors, `--invoke` and WASI commands.

use std::time::{Duration, Instant};

use warden_fixtures as fx;

use crate::support::{Warden, write_file};

#[test]
fn run_hello_prints_the_output_json() {
    let w = Warden::new();
    let out = w.run_ok(&["run", fx::HELLO, "--input", r#"{"name":"warden"}"#]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON output");
    assert_eq!(v["greeting"], "hello, warden");
    assert!(out.stderr.is_empty(), "{out:#?}");

    // Default input is `{}`.
    let out = w.run_ok(&["run", fx::HELLO]);
    assert!(out.stdout.contains("hello, world"), "{out:#?}");
}

#[test]
fn input_file_and_stdin_input() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "in.json", r#"{"name":"file"}"#);
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
    let out = w.run_ok(&["run", fx::HELLO, "--receipt"]);
    let receipt: serde_json::Value = serde_json::from_str(&out.stderr).expect("receipt JSON");
    assert!(receipt["wall_time_us"].as_u64().is_some(), "{receipt}");
    assert_eq!(receipt["plugin"], "hello");
}

#[test]
fn receipt_is_printed_after_a_failure_too() {
    let w = Warden::new();
    let out = w.run_exit(
        4,
        &["run", fx::INFINITE_LOOP, "--timeout", "100ms", "--receipt"],
    );
    let (first, rest) = out.stderr.split_once('\n').expect("two parts");
    assert!(first.starts_with("error[TIMEOUT]"), "{out:#?}");
    let receipt: serde_json::Value = serde_json::from_str(rest).expect("receipt JSON");
    assert!(
        receipt["wall_time_us"].as_u64().unwrap() >= 100_000,
        "{receipt}"
    );
}

#[test]
fn infinite_loop_times_out() {
    let w = Warden::new();
    // Compile first so the timing below measures the call.
    assert_eq!(w.run(&["compile", fx::INFINITE_LOOP]).code, 0);
    let started = Instant::now();
    let out = w.run_exit(4, &["run", fx::INFINITE_LOOP, "--timeout", "200ms"]);
    assert!(out.error_line().starts_with("error[TIMEOUT]: "), "{out:#?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn other_limits_have_exit_code_4() {
    let w = Warden::new();
    let out = w.run_exit(4, &["run", fx::MEMORY_BOMB, "--memory", "16MiB"]);
    assert!(out.error_line().starts_with("error[MEMORY_LIMIT]: "));
    let out = w.run_exit(4, &["run", fx::INFINITE_LOOP, "--fuel", "100000"]);
    assert!(out.error_line().starts_with("error[FUEL_EXHAUSTED]: "));
}

#[test]
fn not_wasm_is_a_usage_error() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "notes.wasm", "just some text");
    let out = w.run_exit(2, &["run", file.to_str().unwrap()]);
    assert!(
        out.error_line().starts_with("error[NOT_WASM]: "),
        "{out:#?}"
    );

    let out = w.run_exit(2, &["run", "/definitely/not/here.wasm"]);
    assert!(out.error_line().starts_with("error[IO]: "), "{out:#?}");
}

#[test]
fn malformed_input_is_invalid_input() {
    let w = Warden::new();
    let out = w.run_exit(2, &["run", fx::HELLO, "--input", "{"]);
    assert!(
        out.error_line().starts_with("error[INVALID_INPUT]: "),
        "{out:#?}"
    );
}

#[test]
fn guest_failures_have_exit_code_5() {
    let w = Warden::new();
    let out = w.run_exit(5, &["run", fx::PANIC]);
    let last = out.stderr.lines().last().unwrap();
    assert!(last.starts_with("error[TRAP]: "), "{out:#?}");
    assert!(last.contains("guest panicked on purpose"), "{out:#?}");
    assert!(out.stderr.contains("[guest stderr] "), "{out:#?}");
}

#[test]
fn invoke_prints_wave_or_json() {
    let w = Warden::new();
    let out = w.run_ok(&["run", fx::TYPED_EXPORTS, "--invoke", "add(1, 2)"]);
    assert_eq!(out.stdout, "3\n");

    let out = w.run_ok(&[
        "run",
        fx::TYPED_EXPORTS,
        "--invoke",
        r#"calc#greet("x", some(2))"#,
        "--json",
    ]);
    assert_eq!(out.stdout.trim(), r#"["hello, x","hello, x"]"#);

    let out = w.run_exit(2, &["run", fx::TYPED_EXPORTS, "--invoke", "add(1,"]);
    assert!(out.error_line().starts_with("error[INVALID_INPUT]: "));
}

#[test]
fn a_library_without_invoke_lists_its_exports() {
    let w = Warden::new();
    let out = w.run_exit(2, &["run", fx::TYPED_EXPORTS]);
    let line = out.error_line();
    assert!(line.starts_with("error[MISSING_EXPORT]: "), "{line}");
    assert!(line.contains("--invoke"), "{line}");
    assert!(line.contains("add: func(a: s32, b: s32) -> s32"), "{line}");
}

fn check_command(path: &str) {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "stdin.txt", "shout please");
    let out = w.run_ok(&["run", path, "--stdin", file.to_str().unwrap()]);
    assert_eq!(out.stdout, "SHOUT PLEASE");
    assert_eq!(out.stderr, "to stderr");

    // The guest calls `exit(3)`; WASI 0.2's stable `exit` only carries
    // success or failure, so the code arrives (and leaves warden) as 1.
    let out = w.run_stdin(&["run", path, "--stdin", "-"], b"this will fail");
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.stdout, "THIS WILL FAIL");

    // --arg: argv[0] is the plugin's name, then each argument once.
    let name = std::path::Path::new(path)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap();
    let out = w.run_stdin(
        &["run", path, "--stdin", "-", "--arg", "one", "--arg", "-2"],
        b"argv",
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, format!("{name} one -2"));
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
fn types_prints_typescript_for_a_components_exports() {
    let w = Warden::new();
    let out = w.run_ok(&["types", fx::TYPED_EXPORTS]);
    assert!(
        out.stdout.contains("export interface Exports {"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("add(a: number, b: number): number;"),
        "{}",
        out.stdout
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plugin.d.ts");
    w.run_ok(&["types", fx::TYPED_EXPORTS, "-o", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out.stdout);

    let junk = write_file(dir.path(), "junk.wasm", "not wasm at all");
    let out = w.run_exit(2, &["types", junk.to_str().unwrap()]);
    assert!(out.error_line().contains("not"), "{}", out.error_line());
}
