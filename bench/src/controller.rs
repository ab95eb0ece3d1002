//! `warden-bench controller`: what the runtime controller adds to a call,
//! measured against calling the same runtime directly in the same run, and
//! its throughput at several concurrency levels.
//!
//! Overhead pairs are measured interleaved: the two sides of a pair
//! alternate call by call, in 20 batches with the pairs' order rotated; each
//! side is warmed up first, with the same code, input and policy:
//!
//! | pair | controller | direct |
//! |---|---|---|
//! | wasm instance | `execute_instance(id)` | `Prepared::run` |
//! | wasm one-shot | `execute(bytes)` (hash + cache hit + instantiate) | `Plugin::prepare` + `run` on the loaded plugin |
//! | js instance | `execute_instance(id)` | `JsPrepared::exec` |
//! | js one-shot | `execute(source)` | `JsPrepared::exec` |
//! | ebpf instance | `execute_instance(id)` (root only) | `warden_ebpf::Kernel::run`, cached |
//! | js control | `JsPrepared::exec` | `JsPrepared::exec` |
//!
//! "added" is the median of the paired differences (each controller call
//! minus the direct call made next to it), with a distribution-free 95 %
//! confidence interval from the order statistics; drift and background
//! work (the teardown thread, other tenants) cancel out of a pair better
//! than out of a difference of two medians. The control pair runs the
//! direct call on both sides: what it shows as "added" is this machine's
//! noise floor for an ~80 µs call.
//!
//! Throughput: C tasks share N calls of one instance (wasm hello, and a JS
//! one-shot), for C in 1, 2, 16 and 256; calls per second over the wall time.

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use warden_host::{
    Controller, ControllerOptions, ExecuteRequest, Host, Input, Language, Plugin, Policy, Prepared,
};
use warden_js::{JsEngine, JsPrepared};

use crate::common::{fmt_ns, stats};

const INPUT: &str = r#"{"name":"bench"}"#;
const JS: &str = "(input) => input.n + 1";
const JS_INPUT: &str = r#"{"n": 41}"#;
const C: &str = "int f(void *data, int data_len) { return data_len; }";
const BATCHES: u32 = 20;
const CONCURRENCY: [usize; 4] = [1, 2, 16, 256];

/// One side of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Controller,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    WasmInstance,
    WasmOneShot,
    JsInstance,
    JsOneShot,
    EbpfInstance,
    /// The direct JS call against itself: the noise floor.
    JsControl,
}

impl Pair {
    fn name(self) -> &'static str {
        match self {
            Pair::WasmInstance => "wasm instance",
            Pair::WasmOneShot => "wasm one-shot",
            Pair::JsInstance => "js instance",
            Pair::JsOneShot => "js one-shot",
            Pair::EbpfInstance => "ebpf instance",
            Pair::JsControl => "js control",
        }
    }
}

struct Setup {
    controller: Controller,
    hello_bytes: Arc<[u8]>,
    plugin: Plugin,
    prepared: Prepared,
    wasm_instance: String,
    js: JsPrepared,
    js_instance: String,
    ebpf: Option<(warden_ebpf::Kernel, String)>,
}

impl Setup {
    async fn sample(&self, pair: Pair, side: Side) -> Result<u64> {
        let t = Instant::now();
        match (pair, side) {
            (Pair::WasmInstance, Side::Controller) => {
                let e = self
                    .controller
                    .execute_instance(&self.wasm_instance, &Input::Json(INPUT.into()))
                    .await;
                black_box(e.result?);
            }
            (Pair::WasmInstance, Side::Direct) => {
                black_box(self.prepared.run(INPUT).await.result?);
            }
            (Pair::WasmOneShot, Side::Controller) => {
                let mut req = ExecuteRequest::new(Language::Wasm, []);
                req.code = self.hello_bytes.clone();
                let e = self.controller.execute(req.input_json(INPUT)).await;
                black_box(e.result?);
            }
            (Pair::WasmOneShot, Side::Direct) => {
                let p = self.plugin.prepare(Policy::deny_all())?;
                black_box(p.run(INPUT).await.result?);
            }
            (Pair::JsInstance, Side::Controller) => {
                let e = self
                    .controller
                    .execute_instance(&self.js_instance, &Input::Json(JS_INPUT.into()))
                    .await;
                black_box(e.result?);
            }
            (Pair::JsInstance | Pair::JsOneShot, Side::Direct) | (Pair::JsControl, _) => {
                black_box(
                    self.js
                        .exec(Language::JavaScript, JS, JS_INPUT)
                        .await
                        .result?,
                );
            }
            (Pair::JsOneShot, Side::Controller) => {
                let e = self
                    .controller
                    .execute(ExecuteRequest::new(Language::JavaScript, JS).input_json(JS_INPUT))
                    .await;
                black_box(e.result?);
            }
            (Pair::EbpfInstance, side) => {
                let Some((rt, id)) = &self.ebpf else {
                    bail!("no eBPF here");
                };
                match side {
                    Side::Controller => {
                        let e = self
                            .controller
                            .execute_instance(id, &Input::Bytes(vec![0; 64]))
                            .await;
                        black_box(e.result?);
                    }
                    Side::Direct => {
                        let src = warden_ebpf::Source::Function(C.into());
                        black_box(rt.run(&src, &[0; 64])?);
                    }
                }
            }
        }
        Ok(t.elapsed().as_nanos() as u64)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Calls per second with `concurrency` tasks sharing `total` calls.
async fn throughput(
    controller: &Controller,
    concurrency: usize,
    total: u64,
    make: impl Fn() -> Call + Send + Sync + 'static,
) -> Result<(f64, u64)> {
    let left = Arc::new(AtomicU64::new(total));
    let failures = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (c, left, failures, make) = (
            controller.clone(),
            left.clone(),
            failures.clone(),
            make.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while left
                .try_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                let e = match make() {
                    Call::Instance(id, input) => c.execute_instance(&id, &input).await,
                    Call::OneShot(req) => c.execute(*req).await,
                };
                if e.result.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("a throughput task panicked")?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((total as f64 / secs, failures.load(Ordering::Relaxed)))
}

/// The median of the paired differences `a[i] - b[i]` and its 95 %
/// confidence interval (order statistics: ranks n/2 ∓ 1.96·√n/2 of the
/// sorted differences).
#[derive(Debug, Clone, Copy)]
struct Paired {
    median: f64,
    low: f64,
    high: f64,
}

fn paired(a: &[u64], b: &[u64]) -> Paired {
    let mut d: Vec<i64> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| x as i64 - y as i64)
        .collect();
    d.sort_unstable();
    let n = d.len();
    if n == 0 {
        return Paired {
            median: 0.0,
            low: 0.0,
            high: 0.0,
        };
    }
    let median = if n % 2 == 1 {
        d[n / 2] as f64
    } else {
        (d[n / 2 - 1] + d[n / 2]) as f64 / 2.0
    };
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let rank = |r: f64| d[(r.round().max(0.0) as usize).min(n - 1)] as f64;
    Paired {
        median,
        low: rank(n as f64 / 2.0 - half - 1.0),
        high: rank(n as f64 / 2.0 + half),
    }
}

struct Row {
    name: &'static str,
    /// The control pair (no goal; it shows the noise).
    control: bool,
    ctl: crate::common::Stats,
    direct: crate::common::Stats,
    added: Paired,
    ratio: f64,
}

impl Row {
    /// At most 5 µs or 5 % added.
    fn met(&self) -> bool {
        self.added.median <= 5_000.0 || self.ratio <= 1.05
    }
}

fn signed_ns(v: f64) -> String {
    if v < 0.0 {
        format!("-{}", fmt_ns(-v))
    } else {
        fmt_ns(v)
    }
}

enum Call {
    Instance(String, Input),
    OneShot(Box<ExecuteRequest>),
}

pub async fn bench_controller(
    iterations: u32,
    plugin_path: &Path,
    as_json: bool,
) -> Result<ExitCode> {
    let progress = |m: &str| eprintln!("bench controller: {m}");
    let cache = tempfile::tempdir().context("creating a temporary cache directory")?;
    let host = Host::builder().cache_dir(cache.path()).build()?;
    let with_ebpf = is_root();
    let controller = warden_runtimes::controller(
        &host,
        warden_runtimes::RuntimesConfig {
            controller: ControllerOptions::default(),
            python: false,
            rust: None,
            ebpf: with_ebpf.then_some(warden_runtimes::EbpfMode::InProcess),
            ..warden_runtimes::RuntimesConfig::default()
        },
    )?;
    progress("starting the runtimes (JS engine pre-initialization, eBPF probe)");
    for (name, r) in controller.start().await {
        if let Err(e) = r {
            bail!("runtime {name} failed to start: {e}");
        }
    }
    let hello_bytes: Arc<[u8]> = std::fs::read(plugin_path)
        .with_context(|| format!("reading {}", plugin_path.display()))?
        .into();
    let plugin = host.load_bytes("hello", &hello_bytes)?;
    let prepared = plugin.prepare(Policy::deny_all())?;
    let hints = warden_host::Hints::default();
    let wasm_module = controller
        .compile(Language::Wasm, &hello_bytes, &hints, None)
        .await?;
    let wasm_instance = controller.instantiate(&wasm_module.id, &Default::default())?;
    let js_engine = JsEngine::new(&host).await?;
    let js = js_engine.prepare(Policy::deny_all())?;
    let js_module = controller
        .compile(Language::JavaScript, JS.as_bytes(), &hints, None)
        .await?;
    let js_instance = controller.instantiate(&js_module.id, &Default::default())?;
    let ebpf = if with_ebpf {
        let m = controller
            .compile(Language::C, C.as_bytes(), &hints, None)
            .await?;
        let id = controller.instantiate(&m.id, &Default::default())?;
        Some((
            warden_ebpf::Kernel::new(warden_ebpf::KernelOptions::default()),
            id,
        ))
    } else {
        progress("not root: the ebpf pair is skipped");
        None
    };
    let setup = Setup {
        controller: controller.clone(),
        hello_bytes,
        plugin,
        prepared,
        wasm_instance,
        js,
        js_instance,
        ebpf,
    };
    let mut pairs = vec![
        Pair::WasmInstance,
        Pair::WasmOneShot,
        Pair::JsInstance,
        Pair::JsOneShot,
    ];
    if setup.ebpf.is_some() {
        pairs.push(Pair::EbpfInstance);
    }
    pairs.push(Pair::JsControl);
    let per_batch = (iterations / BATCHES).max(1);
    progress(&format!(
        "overhead: {} calls per side and pair in {BATCHES} interleaved batches",
        per_batch * BATCHES
    ));
    let sides = [Side::Controller, Side::Direct];
    let slots: Vec<(Pair, Side)> = pairs
        .iter()
        .flat_map(|p| sides.iter().map(move |s| (*p, *s)))
        .collect();
    for &(p, s) in &slots {
        for _ in 0..per_batch.max(50) {
            setup.sample(p, s).await?;
        }
    }
    // The two sides of a pair alternate call by call (which goes first
    // alternates too), so drift and background work (the teardown thread)
    // hit both alike; the pairs' order rotates from batch to batch.
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); slots.len()];
    for batch in 0..BATCHES as usize {
        for k in 0..pairs.len() {
            let n = (k + batch) % pairs.len();
            for j in 0..per_batch {
                let first = (j % 2) as usize;
                for side in [first, 1 - first] {
                    let i = 2 * n + side;
                    samples[i].push(setup.sample(slots[i].0, slots[i].1).await?);
                }
            }
        }
    }
    let mut overhead = Vec::new();
    for (n, p) in pairs.iter().enumerate() {
        let ctl = std::mem::take(&mut samples[2 * n]);
        let direct = std::mem::take(&mut samples[2 * n + 1]);
        let added = paired(&ctl, &direct);
        let (ctl, direct) = (stats(ctl), stats(direct));
        overhead.push(Row {
            name: p.name(),
            control: *p == Pair::JsControl,
            ratio: 1.0 + added.median / direct.median,
            ctl,
            direct,
            added,
        });
    }

    // Throughput.
    let wasm_total = (iterations as u64).max(2_000);
    let js_total = (iterations as u64 / 2).max(1_000);
    progress(&format!(
        "throughput: {wasm_total} wasm and {js_total} js calls at concurrency {CONCURRENCY:?}"
    ));
    let mut tput = Vec::new();
    for c in CONCURRENCY {
        let id = setup.wasm_instance.clone();
        let (wasm_rate, wasm_fail) = throughput(&controller, c, wasm_total, move || {
            Call::Instance(id.clone(), Input::Json(INPUT.into()))
        })
        .await?;
        let (js_rate, js_fail) = throughput(&controller, c, js_total, || {
            Call::OneShot(Box::new(
                ExecuteRequest::new(Language::JavaScript, JS).input_json(JS_INPUT),
            ))
        })
        .await?;
        tput.push((c, wasm_rate, wasm_fail, js_rate, js_fail));
    }
    let m = controller.metrics();

    if as_json {
        let v = json!({
            "overhead": overhead.iter().map(|r| json!({
                "pair": r.name, "controller_median_ns": r.ctl.median, "direct_median_ns": r.direct.median,
                "controller_p90_ns": r.ctl.p90, "direct_p90_ns": r.direct.p90,
                "added_ns": r.added.median, "added_ci95_ns": [r.added.low, r.added.high],
                "ratio": r.ratio, "goal_met": (!r.control).then(|| r.met()), "samples": r.ctl.samples,
            })).collect::<Vec<_>>(),
            "throughput": tput.iter().map(|(c, w, wf, j, jf)| json!({
                "concurrency": c, "wasm_instance_per_s": w, "wasm_failures": wf,
                "js_oneshot_per_s": j, "js_failures": jf,
            })).collect::<Vec<_>>(),
            "metrics": m,
        });
        crate::common::stdout_line(&serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    out.push_str(
        "Controller overhead per call (medians; added = median of paired differences, \
         95 % CI; interleaved, same run; goal: ≤ 5 % or ≤ 5 µs)\n",
    );
    out.push_str(&format!(
        "{:<15} {:>12} {:>12} {:>10} {:>22} {:>7}  {}\n",
        "pair", "controller", "direct", "added", "95 % CI", "ratio", "goal"
    ));
    for r in &overhead {
        out.push_str(&format!(
            "{:<15} {:>12} {:>12} {:>10} {:>22} {:>6.3}x  {}\n",
            r.name,
            fmt_ns(r.ctl.median),
            fmt_ns(r.direct.median),
            signed_ns(r.added.median),
            format!("[{}, {}]", signed_ns(r.added.low), signed_ns(r.added.high)),
            r.ratio,
            if r.control {
                "(noise floor)"
            } else if r.met() {
                "met"
            } else {
                "MISSED"
            }
        ));
    }
    out.push_str(&format!(
        "\nThroughput (calls/s; {} cores; max_in_flight {}, the rest queued)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        controller.options().max_in_flight
    ));
    out.push_str(&format!(
        "{:>11} {:>16} {:>16}\n",
        "concurrency", "wasm instance", "js one-shot"
    ));
    for (c, w, wf, j, jf) in &tput {
        out.push_str(&format!("{c:>11} {w:>16.0} {j:>16.0}\n"));
        if *wf + *jf > 0 {
            out.push_str(&format!(
                "            ({wf} wasm and {jf} js calls failed)\n"
            ));
        }
    }
    out.push_str(&format!(
        "\nmodule cache hit rate {:.3}; {} executions, {} failed\n",
        m.module_cache_hit_rate(),
        m.executions,
        m.failed
    ));
    crate::common::stdout_bytes(out.as_bytes()).context("writing stdout")?;
    Ok(ExitCode::SUCCESS)
}
