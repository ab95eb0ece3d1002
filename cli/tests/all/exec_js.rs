//! `warden exec` and `warden build` for JavaScript and TypeScript.

use crate::support::{Warden, write_file};

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
    let ts = write_file(
        dir.path(),
        "double.ts",
        "type In = { n: number };\nexport function run(i: In): number { return i.n * 2 }\n",
    );
    let out = w.run(&["exec", ts.to_str().unwrap(), "--input", r#"{"n": 4}"#]);
    assert_eq!((out.code, out.stdout.trim()), (0, "8"), "{out:#?}");
}

#[test]
fn exec_errors_have_codes_and_exit_codes() {
    let w = Warden::new();
    let out = w.run_exit(
        1,
        &["exec", "-e", "export function run() {\n  return 1 +;\n}"],
    );
    assert!(
        out.stderr.starts_with("error[COMPILE]") && out.stderr.contains("2:"),
        "{out:#?}"
    );
    let out = w.run_exit(3, &["exec", "-e", "() => kv.get('x')"]);
    assert!(
        out.stderr.contains("error[CAPABILITY_DENIED]") && out.stderr.contains("`kv`"),
        "{out:#?}"
    );
    w.run_exit(
        4,
        &[
            "exec",
            "-e",
            "() => { while (true) {} }",
            "--timeout",
            "200ms",
        ],
    );
    let out = w.run_exit(5, &["exec", "-e", "() => { throw new Error('boom') }"]);
    assert!(out.stderr.contains("Error: boom"), "{out:#?}");
    w.run_exit(2, &["exec", "--lang", "cobol", "-e", "1"]);
}

#[test]
fn exec_with_grants_and_receipt() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "exec", "-e", "async () => { kv.set('k', 'v'); log('info', 'hey'); return await call('echo', {x: kv.get('k')}) }",
        "--allow", "kv", "--allow", "log", "--allow-fn", "echo", "--receipt",
    ]);
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
    let src = write_file(
        dir.path(),
        "greet.js",
        "import { log } from 'warden:plugin/log';\nexport function run(i) { log('info', 'greeting ' + i.name); return { hello: i.name } }\n",
    );
    let wasm = dir.path().join("greet.wasm");
    let out = w.run_ok(&["build", src.to_str().unwrap(), "-o", wasm.to_str().unwrap()]);
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
    w.run_exit(
        3,
        &["run", wasm.to_str().unwrap(), "--input", r#"{"name":"js"}"#],
    );

    let bad = write_file(
        dir.path(),
        "bad.js",
        "export function run() {\n  return (;\n}\n",
    );
    let out = w.run_exit(
        1,
        &[
            "build",
            bad.to_str().unwrap(),
            "-o",
            dir.path().join("bad.wasm").to_str().unwrap(),
        ],
    );
    assert!(
        out.stderr.starts_with("error[COMPILE]") && out.stderr.contains("2:"),
        "{out:#?}"
    );
}

/// Grant flags add to a `--trust` preset: an event topic and a kv quota
/// given beside a trust level are granted (they were once dropped).
#[test]
fn grant_flags_add_to_a_trust_preset() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "exec",
        "-e",
        "() => { emit('t', {n: 1}); log('info', 'still low'); return 1 }",
        "--trust",
        "low",
        "--allow-topic",
        "t",
    ]);
    assert!(
        out.stderr.contains(r#"[guest event t] {"n":1}"#),
        "{out:#?}"
    );
    assert!(out.stderr.contains("still low"), "{out:#?}");

    // 1.5 MB in kv: over the medium preset's 1 MiB quota, within 16 MiB.
    let big = "() => { kv.set('big', 'x'.repeat(1500000)); return kv.get('big').length }";
    let out = w.run(&["exec", "-e", big, "--trust", "medium"]);
    assert_ne!(out.code, 0, "{out:#?}");
    let out = w.run_ok(&[
        "exec",
        "-e",
        big,
        "--trust",
        "medium",
        "--kv-quota",
        "16MiB",
    ]);
    assert_eq!(out.stdout.trim(), "1500000", "{out:#?}");
}
