//! Latency of `Runtime::run`: warm (cached) in-process calls against a raw
//! aya `test_run` on the same loaded program, interleaved, and cold runs of
//! new sources (compile + verify + run).
//!
//! `cargo run --release -p warden-ebpf --example bench` (as root).

use std::time::{Duration, Instant};

use aya::programs::{Program, TestRun, TestRunOptions};
use warden_ebpf::{Runtime, RuntimeOptions, Source};

const WARM_RUNS: usize = 20_000;
const COLD_RUNS: usize = 20;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(idx).copied().unwrap_or_default()
}

fn report(name: &str, samples: &mut [Duration]) {
    let p50 = percentile(samples, 0.5);
    let p90 = percentile(samples, 0.9);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<34} n={:<6} p50={:>10.3?} p90={:>10.3?} p99={:>10.3?}",
        samples.len(),
        p50,
        p90,
        p99
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(RuntimeOptions {
        cache_capacity: 64,
        ..RuntimeOptions::default()
    });
    let source = Source::Function(
        "int sum4(void *data, int data_len)\n{\n    unsigned char *p = data;\n    \
         if (data_len < 4)\n        return 0;\n    return p[0] + p[1] + p[2] + p[3];\n}\n"
            .into(),
    );
    let data = [1u8; 64];
    // Load once; the wrapped program expects the length in XDP metadata, so
    // the raw run passes the same input layout the runtime builds.
    let first = rt.run(&source, &data)?;
    println!(
        "first run (cold): retval={} kernel={}ns",
        first.retval, first.duration_ns
    );

    let mut raw_in = Vec::with_capacity(4 + data.len());
    raw_in.extend_from_slice(&(data.len() as u32).to_ne_bytes());
    raw_in.extend_from_slice(&data);
    let mut ctx = [0u8; 24];
    ctx[..4].copy_from_slice(&4u32.to_ne_bytes());
    ctx[4..8].copy_from_slice(&(raw_in.len() as u32).to_ne_bytes());

    let mut warm = Vec::with_capacity(WARM_RUNS);
    let mut raw = Vec::with_capacity(WARM_RUNS);
    let mut kernel = Vec::with_capacity(WARM_RUNS);
    for _ in 0..WARM_RUNS {
        let t = Instant::now();
        let out = rt.run(&source, &data)?;
        warm.push(t.elapsed());
        kernel.push(Duration::from_nanos(out.duration_ns));
        assert!(out.cached && out.retval == 4);

        let elapsed = rt.with_program(&source, |p| {
            let Program::Xdp(xdp) = p else {
                return Err("not an XDP program".to_string());
            };
            let opts = TestRunOptions {
                data_in: Some(&raw_in),
                ctx_in: Some(&ctx),
                ..TestRunOptions::new()
            };
            let t = Instant::now();
            let r = xdp.test_run(opts).map_err(|e| e.to_string())?;
            let elapsed = t.elapsed();
            if r.return_value != 4 {
                return Err(format!("raw retval {}", r.return_value));
            }
            Ok(elapsed)
        })??;
        raw.push(elapsed);
    }

    let mut cold = Vec::with_capacity(COLD_RUNS);
    for i in 0..COLD_RUNS {
        let s = Source::Function(format!(
            "// variant {i}\nint v(void *data, int data_len) {{ return data_len + {i}; }}\n"
        ));
        let t = Instant::now();
        let out = rt.run(&s, &data)?;
        cold.push(t.elapsed());
        assert!(!out.cached);
    }

    println!();
    report("warm Runtime::run (cached)", &mut warm);
    report("raw aya test_run (same program)", &mut raw);
    report("kernel-measured duration", &mut kernel);
    report("cold run (new source)", &mut cold);
    println!();
    println!(
        "goals: warm p50 <= 2us: {}; new source p50 <= 100ms: {}",
        if percentile(&mut warm, 0.5) <= Duration::from_micros(2) {
            "met"
        } else {
            "MISSED"
        },
        if percentile(&mut cold, 0.5) <= Duration::from_millis(100) {
            "met"
        } else {
            "MISSED"
        },
    );
    Ok(())
}
