//! `warden-bench` end to end: the core suite on the hello guest, a few calls
//! per row, as JSON.

use std::process::Command;

/// Run `warden-bench ARGS --json`: it must succeed; its rows.
fn bench_rows(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_warden-bench"))
        .args(args)
        .arg("--json")
        .env_remove("RUST_LOG")
        .output()
        .expect("spawn warden-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    v["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {v}"))
        .clone()
}

#[test]
fn bench_smoke() {
    let rows = bench_rows(&["--iterations", "40", "--plugin", warden_fixtures::HELLO]);
    assert_eq!(rows.len(), 6);
    for r in rows {
        assert!(r["median_ns"].as_f64().unwrap() > 0.0, "{r}");
    }
}

/// The http suite's machinery on warden alone (the wasmtime peer is
/// installed by `make bench-http` only): `warden serve` starts, serves the
/// wasi:http guest and `/v1/execute`, and every row counts requests.
#[test]
fn bench_http_smoke() {
    let rows = bench_rows(&[
        "http",
        "--duration",
        "300ms",
        "--rounds",
        "1",
        "--concurrency",
        "4",
        "--skip-peer",
    ]);
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in rows {
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["rss_mib"].as_f64().unwrap() > 1.0, "{r}");
    }
}
