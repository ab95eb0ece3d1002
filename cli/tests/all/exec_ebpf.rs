//! `warden exec --lang c`: eBPF in the kernel and through the sidecar (needs root).

use crate::support::{Warden, ebpf_unavailable, start_sidecar, write_file};

#[test]
fn exec_c_runs_in_the_kernel() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "packet.bin", [7u8; 20]);
    let src = write_file(
        dir.path(),
        "len.c",
        "int packet_len(void *data, int data_len) {\n    return data_len;\n}\n",
    );
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
    let out = w.run_exit(
        1,
        &[
            "exec",
            "--lang",
            "c",
            "-e",
            "int f(void *data, int data_len) {\n    return data_len +;\n}",
        ],
    );
    assert!(
        out.stderr.starts_with("error[COMPILE]") && out.stderr.contains(":2:"),
        "{out:#?}"
    );
    // An unchecked read is rejected by the verifier.
    let out = w.run_exit(5, &[
        "exec", "--lang", "c", "-e",
        "int f(void *data, int data_len) {\n    unsigned char *p = data;\n    return p[data_len * 4096];\n}",
    ]);
    assert!(
        out.stderr.starts_with("error[VERIFIER_REJECTED]"),
        "{out:#?}"
    );
    // JSON input is bytes too: a string's UTF-8; an object is INVALID_INPUT.
    let out = w.run_ok(&["exec", src.to_str().unwrap(), "--input", r#""hello""#]);
    assert!(out.stdout.contains(r#""retval":5"#), "{out:#?}");
    let out = w.run_exit(2, &["exec", src.to_str().unwrap(), "--input", "{}"]);
    assert!(out.stderr.starts_with("error[INVALID_INPUT]"), "{out:#?}");
    // Ultra-low latency goes to eBPF; the decision is printed on request.
    let out = w.run_ok(&[
        "exec",
        src.to_str().unwrap(),
        "--hint",
        "latency=ultra-low",
        "--hint",
        "complexity=simple",
        "--explain",
    ]);
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

    let Some(mut child) = start_sidecar(&sock) else {
        return;
    };
    let data = write_file(dir.path(), "d.bin", [1u8; 30]);
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
