//! Profile a fresh-sandbox Python call: `WARDEN_PERFMAP=1 perf record -g
//! cargo run --release -p warden-python --example profile` (the perf map
//! names the engine's functions), or run it plain for per-call timings.

use std::time::{Duration, Instant};

use warden_host::{EngineOptions, Host, Policy};
use warden_python::PythonEngine;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), warden_host::Error> {
    let cache = std::env::temp_dir().join("warden-python-profile-cache");
    let mut options = EngineOptions {
        // `WARDEN_PERFMAP=1`: a perf map so `perf report` names guest functions.
        perfmap: std::env::var_os("WARDEN_PERFMAP").is_some_and(|v| v == "1"),
        ..EngineOptions::default()
    };
    // `KEEP_RESIDENT_MIB=N`: try another resident size for recycled slots.
    if let Some(mib) = std::env::var("KEEP_RESIDENT_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        options.keep_resident_bytes = mib << 20;
    }
    let host = Host::builder().cache_dir(cache).engine(options).build()?;
    let engine = PythonEngine::new(&host)?;
    let sandbox = engine.prepare(Policy::deny_all())?;
    // `CASE=json`: bench python's JSON transform; else its small computation
    // with `N` (default 100).
    let (source, input) = if std::env::var("CASE").as_deref() == Ok("json") {
        let rows: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"name":"row{i}","a":{},"b":{}}}"#, i % 37, i * 3 % 101))
            .collect();
        (
            "def run(rows):\n    out = [{'name': r['name'].upper(), 'total': r['a'] + r['b']} for r in rows if r['a'] > 10]\n    out.sort(key=lambda r: (-r['total'], r['name']))\n    return out[:3]",
            format!("[{}]", rows.join(",")),
        )
    } else {
        let n = std::env::var("N").unwrap_or_else(|_| "100".into());
        (
            "def run(i):\n    return sum(x * x for x in range(i['n']))",
            format!(r#"{{"n": {n}}}"#),
        )
    };
    let input = input.as_str();
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    for _ in 0..50 {
        sandbox.exec(source, input).await.into_result()?;
    }
    let mut total = Vec::with_capacity(calls);
    let mut instantiate = Vec::with_capacity(calls);
    let mut peak = 0;
    for _ in 0..calls {
        let t = Instant::now();
        let outcome = sandbox.exec(source, input).await;
        total.push(t.elapsed());
        instantiate.push(Duration::from_micros(outcome.receipt.instantiate_us));
        peak = peak.max(outcome.receipt.peak_memory_bytes);
        outcome.into_result()?;
    }
    total.sort();
    instantiate.sort();
    println!(
        "{calls} calls: p50 {:?} (instantiate {:?}), p90 {:?}; peak memory {} MiB",
        total[calls / 2],
        instantiate[calls / 2],
        total[calls * 9 / 10],
        peak >> 20
    );
    Ok(())
}
