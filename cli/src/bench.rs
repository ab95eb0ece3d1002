//! `warden bench`: warden's per-call cost next to a bare Wasmtime embedding of
//! the same component, measured in one process.
//!
//! The four call rows are measured interleaved: [`BATCHES`] batches, each
//! running every contender for `iterations / BATCHES` calls, the order rotated
//! from batch to batch, so drift (CPU frequency, other load, allocator state)
//! hits all of them alike. Each contender is warmed up first.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use warden_host::{EngineOptions, Host, PluginKind, Policy, Prepared};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable, TypedFunc};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::report::{self, usage};

/// The input of every call.
const INPUT: &str = r#"{"name":"bench"}"#;
/// Interleaved batches of the call rows.
const BATCHES: u32 = 20;
/// Cold compiles measured.
const COLD_RUNS: usize = 5;
/// Where the guests build, relative to the repository root.
const HELLO_REL: &str = "target/guests/wasm32-wasip2/release/hello.wasm";

pub const AFTER_HELP: &str = "\
Rows:
  warden fresh-instance run            Prepared::run through the public API (deny-all
                                       grants, default limits): a new store with limits,
                                       capability contexts and output capture, an
                                       instance from the pooling allocator, the call,
                                       JSON checks, the receipt; the store is dropped
                                       on warden's teardown thread (slot reset off
                                       the caller's path).
  bare wasmtime InstancePre + pooling  the peer: the same component on an engine with
                                       the same pool sizes, a Linker with WASI p2 only,
                                       a Store with an empty WasiCtx, instantiate_async
                                       from an InstancePre, a typed call of `run`, drop
                                       in place.
  warden reused-instance run           Prepared::with_reuse(): one instance kept between calls.
  bare wasmtime reused instance        the typed `run` called on one kept instance.
  cache-hit load                       Host::load_file with a warmed .cwasm cache.
  cold compile                         Host::load_file without a cache (Cranelift).
The ratios are warden / bare; the goal for fresh instances is at most 1.2x.";

/// `warden bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// `core`: warden vs bare Wasmtime; `js`: warden vs isolated-vm and
    /// quickjs-emscripten (`make bench-js`); `python`: warden vs a python3
    /// subprocess and pyodide (`make bench-python`); `controller`: the
    /// controller's overhead against calling each runtime directly, and its
    /// throughput at concurrency 1, 2, 16 and 256.
    #[arg(value_name = "SUITE", default_value = "core", value_parser = ["core", "js", "python", "controller"])]
    pub suite: String,

    /// Calls per row [default: 10000 for core (in 20 interleaved batches), 300 for js, 200 for python, 4000 for controller].
    #[arg(long, short = 'n', value_name = "N",
          value_parser = clap::value_parser!(u32).range(20..))]
    pub iterations: Option<u32>,

    /// The plugin to call (must export `run`) [default: the hello guest in
    /// target/guests, found from the executable's or the current directory].
    #[arg(long, value_name = "PATH")]
    pub plugin: Option<PathBuf>,

    /// Print the numbers as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Wasmtime's error type into anyhow.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// `rel` (a path inside the repository) found above the warden executable or
/// the current directory, if `ok` accepts it.
pub(crate) fn find_in_repo(rel: &str, ok: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        bases.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        bases.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    bases.into_iter().map(|b| b.join(rel)).find(|p| ok(p))
}

/// Run a Node.js peer script `dir/peers.mjs` on the cases in `spec` (written
/// to a temporary JSON file) and parse the JSON it prints.
pub(crate) fn run_node_peers(dir: &Path, spec: &serde_json::Value) -> Result<serde_json::Value> {
    let file = tempfile::NamedTempFile::new().context("creating the peers' case file")?;
    std::fs::write(file.path(), serde_json::to_vec(spec)?).context("writing the peers' cases")?;
    let out = std::process::Command::new("node")
        .arg(dir.join("peers.mjs"))
        .arg(file.path())
        .current_dir(dir)
        .output()
        .context("running node (the peers need Node.js)")?;
    if !out.status.success() {
        bail!(
            "the peers in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("the peers' JSON")
}

fn default_plugin() -> Result<PathBuf> {
    find_in_repo(HELLO_REL, |p| p.is_file()).ok_or_else(|| {
        usage(format!(
            "no --plugin given and {HELLO_REL} was not found near the warden executable or the \
             current directory: build the guests first: make guests"
        ))
    })
}

// ---------------------------------------------------------------- bare peer

/// The bare embedding's store state: WASI and its resource table, nothing else.
struct BareState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl BareState {
    fn new() -> Self {
        BareState {
            ctx: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
        }
    }
}

type RunFunc = TypedFunc<(&'static str,), (Result<String, String>,)>;

/// The same component on a plain Wasmtime engine with the pooling allocator
/// sized like warden's defaults (see `EngineOptions`).
struct Bare {
    engine: Engine,
    pre: InstancePre<BareState>,
    run: wasmtime::component::ComponentExportIndex,
}

impl Bare {
    fn new(path: &Path) -> Result<Self> {
        let o = EngineOptions::default();
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.max_wasm_stack(o.max_wasm_stack);
        config.async_stack_size(o.max_wasm_stack + (1 << 20));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(o.pooling_config()));
        let engine = Engine::new(&config).map_err(wt).context("bare engine")?;
        let component = Component::from_file(&engine, path)
            .map_err(wt)
            .with_context(|| {
                format!(
                    "the bare wasmtime peer needs a component binary; compiling {}",
                    path.display()
                )
            })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wt)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(wt)
            .context("bare wasmtime: instantiate_pre")?;
        let run = component
            .get_export_index(None, "run")
            .context("bare wasmtime: the component has no `run` export")?;
        Ok(Bare { engine, pre, run })
    }

    /// One fresh-instance call: store, instantiate, typed call, drop.
    async fn call_fresh(&self) -> Result<String> {
        let mut store = Store::new(&self.engine, BareState::new());
        let instance = self.pre.instantiate_async(&mut store).await.map_err(wt)?;
        let run: RunFunc = instance.get_typed_func(&mut store, self.run).map_err(wt)?;
        let (r,) = run.call_async(&mut store, (INPUT,)).await.map_err(wt)?;
        r.map_err(|e| anyhow::anyhow!("guest error: {e}"))
    }

    /// A kept instance for the reuse rows.
    async fn keep(&self) -> Result<(Store<BareState>, RunFunc)> {
        let mut store = Store::new(&self.engine, BareState::new());
        let instance = self.pre.instantiate_async(&mut store).await.map_err(wt)?;
        let run: RunFunc = instance.get_typed_func(&mut store, self.run).map_err(wt)?;
        Ok((store, run))
    }
}

// ---------------------------------------------------------------- contenders

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    WardenFresh,
    BareFresh,
    WardenReused,
    BareReused,
}

const CALL_ROWS: [Which; 4] = [
    Which::WardenFresh,
    Which::BareFresh,
    Which::WardenReused,
    Which::BareReused,
];

struct Contenders {
    fresh: Prepared,
    reused: Prepared,
    bare: Bare,
    kept: (Store<BareState>, RunFunc),
}

impl Contenders {
    /// One call of `which`, timed, in nanoseconds.
    async fn sample(&mut self, which: Which) -> Result<u64> {
        let t = Instant::now();
        match which {
            Which::WardenFresh => {
                let o = self.fresh.run(INPUT).await;
                black_box(o.result?);
            }
            Which::WardenReused => {
                let o = self.reused.run(INPUT).await;
                black_box(o.result?);
            }
            Which::BareFresh => {
                black_box(self.bare.call_fresh().await?);
            }
            Which::BareReused => {
                let (store, run) = &mut self.kept;
                let (r,) = run.call_async(&mut *store, (INPUT,)).await.map_err(wt)?;
                black_box(r.map_err(|e| anyhow::anyhow!("guest error: {e}"))?);
            }
        }
        Ok(t.elapsed().as_nanos() as u64)
    }
}

// ---------------------------------------------------------------- statistics

#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) samples: usize,
    pub(crate) median: f64,
    pub(crate) p90: f64,
    mean: f64,
}

pub(crate) fn stats(mut v: Vec<u64>) -> Stats {
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return Stats {
            samples: 0,
            median: 0.0,
            p90: 0.0,
            mean: 0.0,
        };
    }
    let median = if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    };
    let p90 = v[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1] as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    Stats {
        samples: n,
        median,
        p90,
        mean,
    }
}

pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

struct Row {
    key: &'static str,
    name: &'static str,
    stats: Stats,
    /// (ratio, against which row, goal text and whether it is met)
    ratio: Option<(f64, &'static str)>,
    goal: Option<(String, bool)>,
}

// ---------------------------------------------------------------- the bench

pub async fn bench(args: BenchArgs) -> Result<ExitCode> {
    if args.suite == "js" {
        return crate::bench_js::bench_js(args.iterations.unwrap_or(300), args.json).await;
    }
    if args.suite == "python" {
        return crate::bench_python::bench_python(args.iterations.unwrap_or(200), args.json).await;
    }
    let path = match args.plugin {
        Some(p) => p,
        None => default_plugin()?,
    };
    if args.suite == "controller" {
        return crate::bench_controller::bench_controller(
            args.iterations.unwrap_or(4_000),
            &path,
            args.json,
        )
        .await;
    }
    let n = args.iterations.unwrap_or(10_000);
    let per_batch = (n / BATCHES).max(1);
    let warmup = per_batch.max(50);
    let progress = |msg: &str| eprintln!("bench: {msg}");

    // warden: a host with a cache in a temp dir, warmed by the first load.
    let cache = tempfile::tempdir().context("creating a temporary cache directory")?;
    let host = Host::builder().cache_dir(cache.path()).build()?;
    progress(&format!(
        "compiling {} (warden and bare wasmtime)",
        path.display()
    ));
    let plugin = host.load_file(&path)?;
    if plugin.kind() != PluginKind::Plugin {
        return Err(usage(format!(
            "`{}` does not export `run: func(input: string) -> result<string, string>`; bench needs a plugin like the hello guest",
            path.display()
        )));
    }
    let fresh = plugin.prepare(Policy::deny_all())?;
    let reused = fresh.clone().with_reuse();
    let bare = Bare::new(&path)?;
    let kept = bare.keep().await?;
    let mut c = Contenders {
        fresh,
        reused,
        bare,
        kept,
    };

    // Same answer from both before timing anything.
    let ours = c.fresh.run(INPUT).await.result?.output;
    let theirs = c.bare.call_fresh().await?;
    if ours != theirs {
        bail!("warden and bare wasmtime disagree: {ours} vs {theirs}");
    }

    progress(&format!(
        "warm-up: {warmup} calls per row; then {n} calls per row in {BATCHES} interleaved batches"
    ));
    for which in CALL_ROWS {
        for _ in 0..warmup {
            c.sample(which).await?;
        }
    }
    let mut samples: [Vec<u64>; 4] = Default::default();
    for s in &mut samples {
        s.reserve((per_batch * BATCHES) as usize);
    }
    for batch in 0..BATCHES {
        for k in 0..CALL_ROWS.len() {
            let i = (k + batch as usize) % CALL_ROWS.len();
            for _ in 0..per_batch {
                samples[i].push(c.sample(CALL_ROWS[i]).await?);
            }
        }
    }
    // Nothing of the plugin may stay loaded, or the loads below would share
    // it (CacheStatus::Shared) instead of reading the disk cache.
    drop(c);
    drop(plugin);

    // Loads: cache hits (warmed above), then cold compiles without a cache.
    let loads = (n / 50).clamp(20, 200);
    progress(&format!(
        "{loads} cache-hit loads, {COLD_RUNS} cold compiles"
    ));
    let mut hit_samples = Vec::with_capacity(loads as usize);
    for _ in 0..loads {
        let t = Instant::now();
        let p = host.load_file(&path)?;
        hit_samples.push(t.elapsed().as_nanos() as u64);
        if p.cache_status() != warden_host::CacheStatus::Hit {
            bail!("expected a cache hit, got {:?}", p.cache_status());
        }
        black_box(p);
    }
    let cold_host = Host::builder().build()?;
    let mut cold_samples = Vec::with_capacity(COLD_RUNS);
    for _ in 0..COLD_RUNS {
        let t = Instant::now();
        black_box(cold_host.load_file(&path)?);
        cold_samples.push(t.elapsed().as_nanos() as u64);
    }

    let [wf, bf, wr, br] = samples;
    let (wf, bf, wr, br) = (stats(wf), stats(bf), stats(wr), stats(br));
    let hit = stats(hit_samples);
    let cold = stats(cold_samples);
    let fresh_ratio = wf.median / bf.median;
    let reuse_ratio = wr.median / br.median;
    let cold_ratio = cold.median / hit.median;
    let rows = vec![
        Row {
            key: "warden_fresh",
            name: "warden fresh-instance run",
            ratio: Some((fresh_ratio, "bare wasmtime fresh")),
            goal: Some(("≤ 1.20x".into(), fresh_ratio <= 1.2)),
            stats: wf,
        },
        Row {
            key: "bare_fresh",
            name: "bare wasmtime InstancePre + pooling",
            ratio: None,
            goal: None,
            stats: bf,
        },
        Row {
            key: "warden_reused",
            name: "warden reused-instance run",
            ratio: Some((reuse_ratio, "bare wasmtime reused")),
            goal: None,
            stats: wr,
        },
        Row {
            key: "bare_reused",
            name: "bare wasmtime reused instance",
            ratio: None,
            goal: None,
            stats: br,
        },
        Row {
            key: "cache_hit_load",
            name: "cache-hit load",
            ratio: None,
            goal: Some(("< 1 ms".into(), hit.median < 1e6)),
            stats: hit,
        },
        Row {
            key: "cold_compile",
            name: "cold compile (no cache)",
            ratio: Some((cold_ratio, "cache-hit load")),
            goal: None,
            stats: cold,
        },
    ];

    if args.json {
        let value = json!({
            "plugin": path.display().to_string(),
            "input": INPUT,
            "iterations": per_batch * BATCHES,
            "batches": BATCHES,
            "warmup": warmup,
            "rows": rows.iter().map(|r| json!({
                "key": r.key,
                "name": r.name,
                "samples": r.stats.samples,
                "median_ns": r.stats.median,
                "p90_ns": r.stats.p90,
                "mean_ns": r.stats.mean,
                "ratio": r.ratio.map(|(x, _)| x),
                "vs": r.ratio.map(|(_, v)| v),
                "goal": r.goal.as_ref().map(|(g, _)| g),
                "goal_met": r.goal.as_ref().map(|(_, ok)| ok),
            })).collect::<Vec<_>>(),
        });
        report::stdout_line(&serde_json::to_string_pretty(&value)?)?;
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = String::new();
    out.push_str(&format!(
        "plugin {} · input {INPUT} · {} calls per row in {BATCHES} interleaved batches (warm-up {warmup})\n\n",
        path.display(),
        per_batch * BATCHES
    ));
    out.push_str(&format!(
        "{:<38}{:>11}{:>11}{:>9}\n",
        "benchmark", "median", "p90", "ratio"
    ));
    for r in &rows {
        out.push_str(&format!(
            "{:<38}{:>11}{:>11}",
            r.name,
            fmt_ns(r.stats.median),
            fmt_ns(r.stats.p90)
        ));
        match r.ratio {
            Some((x, vs)) if x >= 100.0 => out.push_str(&format!("{:>8.0}x  (vs {vs})", x)),
            Some((x, vs)) => out.push_str(&format!("{:>8.2}x  (vs {vs})", x)),
            None if r.goal.is_some() => out.push_str(&format!("{:>9}  ", "")),
            None => {}
        }
        if let Some((goal, ok)) = &r.goal {
            out.push_str(&format!(
                "{}goal {goal} {}",
                if r.ratio.is_some() { "; " } else { "" },
                if *ok { "✔" } else { "✘" }
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\nnotes:
  warden fresh-instance run: Prepared::run through the public API with deny-all grants and
    default limits: new Store (limiter, epoch deadline, capability contexts, captured
    stdout/stderr), instance from the pooling allocator, call, input/output JSON checks,
    receipt; the store goes to warden's teardown thread, which resets the pool slot
    while the caller already has its result.
  bare wasmtime InstancePre + pooling: the peer, in this process: an engine with the same
    pool sizes, a Linker with wasmtime-wasi p2 only, Store with an empty WasiCtx,
    InstancePre::instantiate_async, typed call of `run` (export index looked up once), drop
    in place (the slot reset is on the caller's time). No epoch deadline, no limiter,
    no output capture, no JSON checks.
  reused rows: one instance kept between calls (warden: Prepared::with_reuse, which
    resets limits, counters and captures per call; bare: the typed func called again).
  cache-hit load: Host::load_file with the .cwasm cache warmed: read, BLAKE3, checksum,
    deserialize, InstancePre ({loads} loads). cold compile: Host::load_file without a
    cache, Cranelift on all cores ({COLD_RUNS} runs).
  ratio: median of the warden row / median of the row it names.\n"
    ));
    report::stdout_bytes(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        let s = stats((1..=10).collect());
        assert_eq!(s.median, 5.5);
        assert_eq!(s.p90, 9.0);
        let s = stats(vec![7]);
        assert_eq!((s.median, s.p90), (7.0, 7.0));
    }

    #[test]
    fn durations_format() {
        assert_eq!(fmt_ns(850.0), "850 ns");
        assert_eq!(fmt_ns(31_200.0), "31.2 µs");
        assert_eq!(fmt_ns(2_500_000.0), "2.50 ms");
    }
}
