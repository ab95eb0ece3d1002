//! `warden-bench python`: a fresh-sandbox Python snippet in warden against a
//! fresh `python3 -c` subprocess per call and pyodide (loaded once, a fresh
//! globals namespace per call), in one run. Two snippets: a small computation
//! and a JSON transformation. Also: engine size, Cranelift compile time,
//! cache-hit load time, and the time to build a plugin.
//!
//! Isolation differs: warden gives each call a new component instance (its
//! own memory, capabilities by grant, hard limits); the subprocess a new OS
//! process with the user's full authority; pyodide only a new namespace in a
//! shared interpreter.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use warden_host::{Host, Policy};
use warden_python::{BuildOptions, ENGINE, PythonEngine};

use crate::common::{fmt_ns, stats};

struct Case {
    name: &'static str,
    source: &'static str,
    input: String,
    expect: String,
}

fn cases() -> Vec<Case> {
    let rows: Vec<Value> = (0..200)
        .map(|i| json!({"name": format!("row{i}"), "a": i % 37, "b": i * 3 % 101}))
        .collect();
    vec![
        Case {
            name: "small-computation",
            source: "def run(i):\n    return sum(x * x for x in range(i['n']))",
            input: r#"{"n": 1000}"#.into(),
            expect: "332833500".into(),
        },
        Case {
            name: "json-transform",
            source: "def run(rows):\n    out = [{'name': r['name'].upper(), 'total': r['a'] + r['b']} for r in rows if r['a'] > 10]\n    out.sort(key=lambda r: (-r['total'], r['name']))\n    return out[:3]",
            input: Value::Array(rows).to_string(),
            expect: String::new(), // checked against the subprocess's answer
        },
    ]
}

fn peers_dir() -> Option<PathBuf> {
    crate::common::find_in_repo("bench/python", |d| d.join("node_modules/pyodide").is_dir())
}

/// The interpreter itself, not a launcher shim (pyenv's `python3` is a shell
/// script that would add ~100 ms to every call).
fn python3() -> Result<String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("running python3")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The same snippet in a fresh `python3 -c` process.
fn subprocess(python: &str, source: &str, input: &str) -> Result<String> {
    let program = format!(
        "import json, sys\n{source}\nsys.stdout.write(json.dumps(run(json.loads(sys.argv[1]))))"
    );
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(program)
        .arg(input)
        .output()
        .context("running python3")?;
    if !out.status.success() {
        bail!("python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub async fn bench_python(iterations: u32, as_json: bool) -> Result<ExitCode> {
    let progress = |m: &str| eprintln!("bench python: {m}");
    let cache = tempfile::tempdir().context("creating a temporary cache directory")?;
    let host = Host::builder().cache_dir(cache.path()).build()?;

    progress("compiling the engine (Cranelift, no cache)");
    let t = Instant::now();
    let engine = {
        let h = host.clone();
        tokio::task::spawn_blocking(move || PythonEngine::new(&h)).await??
    };
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    // A second host on the same cache: in `host` the engine is loaded, so a
    // load there would share it instead of reading the cache.
    let load_host = Host::builder().cache_dir(cache.path()).build()?;
    let mut loads = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let p = load_host.load_bytes("python", ENGINE)?;
        if p.cache_status() != warden_host::CacheStatus::Hit {
            bail!("expected a cache hit, got {:?}", p.cache_status());
        }
        black_box(p);
        loads.push(t.elapsed().as_nanos() as u64);
    }
    let load = stats(loads);
    let sandbox = engine.prepare(Policy::deny_all())?;

    let python = python3()?;
    let mut cases = cases();
    let mut rows = Vec::new();
    for c in &mut cases {
        let reference = subprocess(&python, c.source, &c.input)?;
        if c.expect.is_empty() {
            c.expect = reference.clone();
        }
        let ours = sandbox.exec(c.source, &c.input).await.into_result()?;
        let same =
            serde_json::from_str::<Value>(&ours)? == serde_json::from_str::<Value>(&c.expect)?;
        if !same {
            bail!("warden answered {ours} to {}, python3 {}", c.name, c.expect);
        }
        progress(&format!("{}: warden ({iterations} calls)", c.name));
        for _ in 0..(iterations / 4).max(50) {
            black_box(sandbox.exec(c.source, &c.input).await);
        }
        let mut ns = Vec::new();
        let mut inst = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let o = sandbox.exec(c.source, &c.input).await;
            ns.push(t.elapsed().as_nanos() as u64);
            inst.push(o.receipt.instantiate_us * 1000);
            o.result?;
        }
        let warden = stats(ns);
        progress(&format!(
            "{}: warden median {} of which instantiation {}",
            c.name,
            fmt_ns(warden.median),
            fmt_ns(stats(inst).median)
        ));
        let n_sub = (iterations / 10).clamp(10, 50);
        progress(&format!(
            "{}: python3 -c subprocess ({n_sub} calls)",
            c.name
        ));
        let mut ns = Vec::new();
        for _ in 0..n_sub {
            let t = Instant::now();
            black_box(subprocess(&python, c.source, &c.input)?);
            ns.push(t.elapsed().as_nanos() as u64);
        }
        rows.push((warden, stats(ns)));
    }

    let pyodide = match peers_dir() {
        Some(dir) => {
            progress("pyodide (node bench/python/peers.mjs)");
            let spec: Vec<Value> = cases
                .iter()
                .map(|c| json!({"name": c.name, "source": c.source, "input": c.input, "iterations": iterations}))
                .collect();
            Some(crate::common::run_node_peers(&dir, &Value::Array(spec))?)
        }
        None => {
            progress(
                "pyodide not installed: run `make bench-python` (npm ci in bench/python) to compare",
            );
            None
        }
    };

    progress("plugin build (componentize-py), 3 builds");
    let mut builds = Vec::new();
    for i in 0..3 {
        let src = format!("def run(i):\n    return i['n'] + {i}\n");
        let t = Instant::now();
        tokio::task::spawn_blocking(move || {
            warden_python::build_plugin("bench", &src, &BuildOptions::default())
        })
        .await??;
        builds.push(t.elapsed().as_nanos() as u64);
    }
    let build = stats(builds);

    if as_json {
        let v = json!({
            "cases": cases.iter().zip(&rows).map(|(c, (w, s))| json!({
                "case": c.name, "warden_median_ns": w.median, "warden_p90_ns": w.p90,
                "subprocess_median_ns": s.median,
                "pyodide": pyodide.as_ref().map(|p| p[c.name]["pyodide"].clone()),
            })).collect::<Vec<_>>(),
            "engine_bytes": ENGINE.len(), "compile_ms": compile_ms,
            "cache_hit_load_median_ns": load.median, "build_median_ns": build.median,
        });
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("\nfresh sandbox per call; medians (p90) — ratio = peer median / warden median");
    println!(
        "{:<18} {:>22} {:>30} {:>30}",
        "case", "warden", "python3 -c subprocess", "pyodide (new namespace)"
    );
    for (c, (w, s)) in cases.iter().zip(&rows) {
        let py = match pyodide.as_ref().map(|p| &p[c.name]["pyodide"]) {
            Some(v) if v.is_object() => {
                let m = v["median_ns"].as_f64().unwrap_or(f64::NAN);
                format!(
                    "{} ({}) {:.1}x",
                    fmt_ns(m),
                    fmt_ns(v["p90_ns"].as_f64().unwrap_or(f64::NAN)),
                    m / w.median
                )
            }
            _ => "-".into(),
        };
        println!(
            "{:<18} {:>22} {:>30} {:>30}",
            c.name,
            format!("{} ({})", fmt_ns(w.median), fmt_ns(w.p90)),
            format!(
                "{} ({}) {:.1}x",
                fmt_ns(s.median),
                fmt_ns(s.p90),
                s.median / w.median
            ),
            py
        );
    }
    println!(
        "\nengine component {:.1} MiB; Cranelift compile {compile_ms:.0} ms; cache-hit load median {}; plugin build median {}",
        ENGINE.len() as f64 / (1 << 20) as f64,
        fmt_ns(load.median),
        fmt_ns(build.median)
    );
    println!(
        "isolation: warden = a new component instance per call (own memory, granted capabilities, limits);"
    );
    println!(
        "           subprocess = a new OS process with the caller's authority; pyodide = a new namespace only."
    );
    Ok(ExitCode::SUCCESS)
}
