//! Latency of `Kernel::run`: warm (cached) in-process calls against a raw
//! aya `test_run` on the same loaded program, interleaved, and cold runs of
//! new sources (compile + verify + run), plus warm runs over the sidecar
//! socket (an in-process server on a temporary socket, one client).
//!
//! `cargo run --release -p warden-ebpf --example bench` (as root).

use std::time::{Duration, Instant};

use aya::programs::{Program, TestRun, TestRunOptions};
use std::sync::Arc;

use warden_ebpf::sidecar::{SidecarClient, bind, serve};
use warden_ebpf::{Kernel, KernelOptions, Source};

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

/// Warm runs of `source` through a sidecar served in-process on a temporary
/// socket, one client, the program already cached.
fn sidecar_runs(
    rt: Arc<Kernel>,
    source: &Source,
    data: &[u8],
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("ebpf.sock");
        let server = tokio::spawn(serve(bind(&path).await?, rt));
        let mut client = SidecarClient::connect(&path).await?;
        // Warm up the connection and threads.
        for _ in 0..1000 {
            client.run(source, data).await?;
        }
        let mut samples = Vec::with_capacity(WARM_RUNS);
        for _ in 0..WARM_RUNS {
            let t = Instant::now();
            let out = client.run(source, data).await?;
            samples.push(t.elapsed());
            assert!(out.cached && out.retval == 4);
        }
        server.abort();
        Ok(samples)
    })
}

/// A blocking 64-byte echo over a std `UnixStream` pair, no protocol and no
/// polling: what a round trip costs when each side sleeps until woken (on an
/// idle VM, mostly the wake-up). The sidecar polls briefly instead.
fn socket_floor() -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    use std::io::{Read, Write};
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair()?;
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while b.read_exact(&mut buf).is_ok() {
            if b.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut buf = [0u8; 64];
    let mut samples = Vec::with_capacity(WARM_RUNS);
    for _ in 0..WARM_RUNS {
        let t = Instant::now();
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
        samples.push(t.elapsed());
    }
    drop(a);
    let _ = echo.join();
    Ok(samples)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Arc::new(Kernel::new(KernelOptions {
        cache_capacity: 64,
        ..KernelOptions::default()
    }));
    let source = Source::Function(
        "int sum4(void *data, int data_len)\n{\n    unsigned char *p = data;\n    \
         if (data_len < 4)\n        return 0;\n    return p[0] + p[1] + p[2] + p[3];\n}\n"
            .into(),
    );
    let data = [1u8; 64];
    // Load once; the wrapped program expects the length in XDP metadata, so
    // the raw run passes the same input layout `Kernel::run` builds.
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

    let mut sidecar = sidecar_runs(Arc::clone(&rt), &source, &data)?;
    let mut floor = socket_floor()?;

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

    let mut looping = Vec::new();
    for i in 0..5 {
        let s = Source::Function(format!(
            "// variant {i}\nint spin(void *data, int data_len)\n{{\n    volatile int s = 0;\n    \
             for (int i = 0; i < data_len * 1000000 + {i}; i++)\n        s += i;\n    return s;\n}}\n"
        ));
        let t = Instant::now();
        let err = rt.run(&s, &data).expect_err("a long loop is rejected");
        looping.push(t.elapsed());
        assert_eq!(err.code(), "VERIFIER_REJECTED");
    }

    println!();
    report("warm Kernel::run (cached)", &mut warm);
    report("raw aya test_run (same program)", &mut raw);
    report("kernel-measured duration", &mut kernel);
    report("warm over the sidecar socket", &mut sidecar);
    report("  peer: blocking unix echo", &mut floor);
    report("cold run (new source)", &mut cold);
    report("long loop rejected", &mut looping);
    println!();
    println!(
        "goals: warm p50 <= 2us: {}; sidecar p50 <= 20us: {}; new source p50 <= 100ms: {}; \
         long loop rejected p50 < 1s: {}",
        if percentile(&mut warm, 0.5) <= Duration::from_micros(2) {
            "met"
        } else {
            "MISSED"
        },
        if percentile(&mut sidecar, 0.5) <= Duration::from_micros(20) {
            "met"
        } else {
            "MISSED"
        },
        if percentile(&mut cold, 0.5) <= Duration::from_millis(100) {
            "met"
        } else {
            "MISSED"
        },
        if percentile(&mut looping, 0.5) < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        },
    );
    Ok(())
}
