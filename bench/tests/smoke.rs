//! `warden-bench` end to end: the core suite on the hello guest, a few calls
//! per row, as JSON.

use std::process::Command;

#[test]
fn bench_smoke() {
    let out = Command::new(env!("CARGO_BIN_EXE_warden-bench"))
        .args([
            "--iterations",
            "40",
            "--plugin",
            warden_fixtures::HELLO,
            "--json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("spawn warden-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    let rows = v["rows"].as_array().unwrap();
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
    let out = Command::new(env!("CARGO_BIN_EXE_warden-bench"))
        .args([
            "http",
            "--duration",
            "300ms",
            "--rounds",
            "1",
            "--concurrency",
            "4",
            "--skip-peer",
            "--json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("spawn warden-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{v}");
    for r in rows {
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["rss_mib"].as_f64().unwrap() > 1.0, "{r}");
    }
}
