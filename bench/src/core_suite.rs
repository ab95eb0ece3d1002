//! `warden-bench core` (the default suite): warden's per-call cost next to a
//! bare Wasmtime embedding of the same component, measured in one process.
//!
//! The four call rows are measured interleaved: [`BATCHES`] batches, each
//! running every contender for `iterations / BATCHES` calls, the order rotated
//! from batch to batch, so drift (CPU frequency, other load, allocator state)
//! hits all of them alike. Each contender is warmed up first.

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use warden_host::{EngineOptions, Host, PluginKind, Policy, Prepared};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable, TypedFunc};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::common::{Stats, fmt_ns, stats, stdout_bytes, stdout_line, usage};

/// The input of every call.
const INPUT: &str = r#"{"name":"bench"}"#;
/// Interleaved batches of the call rows.
const BATCHES: u32 = 20;
/// Cold compiles measured.
const COLD_RUNS: usize = 5;
/// Where the guests build, relative to the repository root.
pub(crate) const HELLO_REL: &str = "target/guests/wasm32-wasip2/release/hello.wasm";

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

/// Wasmtime's error type into anyhow.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
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

struct Row {
    key: &'static str,
    name: &'static str,
    stats: Stats,
    /// (ratio, against which row, goal text and whether it is met)
    ratio: Option<(f64, &'static str)>,
    goal: Option<(String, bool)>,
}

// ---------------------------------------------------------------- the bench

/// `warden-bench [core]`: `n` calls per row of `path`.
pub async fn bench(n: u32, path: &Path, as_json: bool) -> Result<ExitCode> {
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
    let plugin = host.load_file(path)?;
    if plugin.kind() != PluginKind::Plugin {
        return Err(usage(format!(
            "`{}` does not export `run: func(input: string) -> result<string, string>`; bench needs a plugin like the hello guest",
            path.display()
        )));
    }
    let fresh = plugin.prepare(Policy::deny_all())?;
    let reused = fresh.clone().with_reuse();
    let bare = Bare::new(path)?;
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
        let p = host.load_file(path)?;
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
        black_box(cold_host.load_file(path)?);
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

    if as_json {
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
        stdout_line(&serde_json::to_string_pretty(&value)?)?;
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
    stdout_bytes(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
