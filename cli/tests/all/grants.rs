//! Grants: directories, environment, host functions, logs, events, kv, and `warden inspect`.

use std::path::Path;

use warden_fixtures as fx;

use crate::support::{Warden, write_file};

#[test]
fn kv_is_denied_without_a_grant() {
    let w = Warden::new();
    let out = w.run_exit(3, &["run", fx::KV_COUNTER, "--input", r#"{"key":"k"}"#]);
    let line = out.error_line();
    assert!(line.starts_with("error[CAPABILITY_DENIED]: "), "{line}");
    assert!(line.contains("warden:plugin/kv"), "{line}");
    assert!(out.stdout.is_empty());
}

#[test]
fn kv_works_when_allowed_and_persists_with_kv_dir() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "run",
        fx::KV_COUNTER,
        "--allow",
        "kv",
        "--input",
        r#"{"key":"k"}"#,
    ]);
    assert!(out.stdout.contains(r#""count":1"#), "{out:#?}");

    let state = tempfile::tempdir().unwrap();
    let kv_dir = state.path().to_str().unwrap();
    for expected in [1, 2] {
        let out = w.run_ok(&[
            "run",
            fx::KV_COUNTER,
            "--trust",
            "medium",
            "--kv-dir",
            kv_dir,
            "--input",
            r#"{"key":"k"}"#,
        ]);
        assert!(
            out.stdout.contains(&format!(r#""count":{expected}"#)),
            "{out:#?}"
        );
    }
}

#[test]
fn allow_dir_grants_a_directory_and_nothing_above_it() {
    let w = Warden::new();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_file(&data, "note.txt", "inside");
    write_file(root.path(), "secret.txt", "outside");
    let data = data.to_str().unwrap();

    let out = w.run_ok(&[
        "run",
        fx::FILE_READER,
        "--allow-dir",
        data,
        "--input",
        r#"{"path":"note.txt"}"#,
    ]);
    assert!(out.stdout.contains("inside"), "{out:#?}");

    let out = w.run_exit(
        5,
        &[
            "run",
            fx::FILE_READER,
            "--allow-dir",
            data,
            "--input",
            r#"{"path":"../secret.txt"}"#,
        ],
    );
    assert!(
        out.error_line().starts_with("error[GUEST_ERROR]: "),
        "{out:#?}"
    );
    assert!(!out.stdout.contains("outside"));

    // Read-only by default; `=GUEST:rw` maps and allows writes.
    let write = r#"{"path":"/out/new.txt","write":"hi"}"#;
    let spec = format!("{data}=/out");
    w.run_exit(
        5,
        &[
            "run",
            fx::FILE_READER,
            "--allow-dir",
            &spec,
            "--input",
            write,
        ],
    );
    let spec = format!("{data}=/out:rw");
    w.run_ok(&[
        "run",
        fx::FILE_READER,
        "--allow-dir",
        &spec,
        "--input",
        write,
    ]);
    assert_eq!(
        std::fs::read_to_string(Path::new(data).join("new.txt")).unwrap(),
        "hi"
    );

    // Without a grant there is no file system at all.
    w.run_exit(
        5,
        &["run", fx::FILE_READER, "--input", r#"{"path":"note.txt"}"#],
    );
}

#[test]
fn env_and_host_functions() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "run",
        fx::ENV_READER,
        "--env",
        "GREETING=hi",
        "--input",
        r#"{"names":["GREETING","PATH"]}"#,
    ]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["GREETING"], "hi");
    assert!(v["PATH"].is_null(), "{v}");

    let echo = r#"{"name":"echo","args":{"a":1}}"#;
    let out = w.run_ok(&[
        "run",
        fx::HOST_CALLBACK,
        "--allow-fn",
        "echo",
        "--input",
        echo,
    ]);
    assert_eq!(out.stdout.trim(), r#"{"a":1}"#);
    let now = r#"{"name":"now","args":{}}"#;
    w.run_exit(
        5,
        &[
            "run",
            fx::HOST_CALLBACK,
            "--allow-fn",
            "echo",
            "--input",
            now,
        ],
    );
    let out = w.run_ok(&["run", fx::HOST_CALLBACK, "--allow", "host", "--input", now]);
    assert!(out.stdout.trim().parse::<u64>().unwrap() > 1_600_000_000_000);
}

#[test]
fn logs_and_events_go_to_stderr() {
    let w = Warden::new();
    let out = w.run_ok(&[
        "run",
        fx::LOGGER,
        "--allow",
        "log",
        "--input",
        r#"{"level":"warn","message":"careful","count":1}"#,
    ]);
    assert!(out.stderr.contains("[guest log warn] careful"), "{out:#?}");

    let out = w.run_ok(&[
        "run",
        fx::EVENT_EMITTER,
        "--allow-topic",
        "orders.*",
        "--input",
        r#"{"topic":"orders.new","payload":{"id":7}}"#,
    ]);
    assert!(
        out.stderr.contains(r#"[guest event orders.new] {"id":7}"#),
        "{out:#?}"
    );
}

#[test]
fn inspect_shows_denied_and_granted_imports() {
    let w = Warden::new();
    let out = w.run_ok(&["inspect", fx::KV_COUNTER]);
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

    let out = w.run_ok(&["inspect", fx::KV_COUNTER, "--allow", "kv", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect JSON");
    assert_eq!(v["kind"], "plugin");
    let kv = v["imports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"].as_str().unwrap().starts_with("warden:plugin/kv"))
        .unwrap();
    assert_eq!(kv["status"], "granted");
    assert_eq!(kv["capability"], "kv");
    assert!(v["policy_error"].is_null(), "{v:#}");
    assert_eq!(v["needs"], serde_json::json!(["kv"]));
    assert!(v["wit"].as_str().unwrap().contains("world root"), "{v:#}");

    let out = w.run_ok(&["inspect", fx::KV_COUNTER, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect JSON");
    assert_eq!(v["policy_error"]["code"], "CAPABILITY_DENIED", "{v:#}");
    assert_eq!(v["policy_error"]["details"]["capability"], "kv", "{v:#}");
}
