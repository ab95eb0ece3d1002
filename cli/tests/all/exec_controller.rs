//! `warden exec` over the controller: Rust, Wasm, hints, and `warden runtimes`.

use warden_fixtures as fx;

use crate::support::Warden;

#[test]
fn exec_rust_source() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "exec",
        "--lang",
        "rust",
        "-e",
        "fn run(i: &str) -> usize { i.len() }",
        "--input",
        r#""abc""#,
    ]);
    assert_eq!(out.stdout.trim(), "5");
    // The first compile of a source says so.
    assert!(out.stderr.contains("note: compiled with rustc"), "{out:#?}");
    // Compiler errors keep their lines and point into the source.
    let out = w.run_exit(
        1,
        &[
            "exec",
            "--lang",
            "rust",
            "-e",
            "fn run(i: &str) -> i64 {\n    nope\n}",
        ],
    );
    assert!(out.stderr.starts_with("error[COMPILE]"), "{out:#?}");
    assert!(out.stderr.contains("snippet.rs:2:"), "{out:#?}");
}

#[test]
fn exec_wasm_invoke_hints_runtime_and_summary() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "exec",
        "--lang",
        "wasm",
        fx::TYPED_EXPORTS,
        "--invoke",
        "calc#add(40, 2)",
    ]);
    assert_eq!(out.stdout.trim(), "42");
    // A hint no runtime meets: NO_RUNTIME with the reason, exit 2.
    let out = w.run_exit(
        2,
        &[
            "exec",
            "--lang",
            "python",
            "-e",
            "def run(i): return i",
            "--hint",
            "latency=low",
        ],
    );
    assert!(
        out.stderr.starts_with("error[NO_RUNTIME]") && out.stderr.contains("~2 ms"),
        "{out:#?}"
    );
    let out = w.run_exit(2, &["exec", "-e", "() => 1", "--hint", "speed=fast"]);
    assert!(out.stderr.contains("unknown hint"), "{out:#?}");
    // An explicit runtime that does not run the language.
    let out = w.run_exit(2, &["exec", "-e", "() => 1", "--runtime", "wasm"]);
    assert!(out.stderr.contains("does not run js"), "{out:#?}");
    // --summary: the whole result as JSON.
    let out = w.run_ok(&["exec", "-e", "(i) => i + 1", "--input", "1", "--summary"]);
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
    let out = w.run_ok(&["runtimes", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wasm", "rust", "js", "python", "ebpf"]);
    assert!(v[0]["health"]["state"].is_string(), "{v}");
    let out = w.run_ok(&["runtimes", "--decisions"]);
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
