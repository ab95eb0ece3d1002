//! `warden-bench js`: fresh-sandbox JavaScript in warden against isolated-vm
//! (a new V8 isolate per call) and quickjs-emscripten (a new QuickJS runtime
//! and context per call), in one run, on codemode's published categories:
//! a cold simple snippet, a JSON scan over a 1 MB document, and 10 parallel
//! host callbacks. Setup stays outside the timed loop for all three: warden's
//! engine pre-initialization and compilation, the peers' module loading.
//! Also: plugin build time, component sizes and the gain from pre-initialization.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use warden_host::Language;
use warden_host::{Host, Policy};
use warden_js::{ENGINE, JsEngine};

use crate::common::{fmt_ns, stats};

struct Case {
    name: &'static str,
    source: &'static str,
    input: String,
    iterations: u32,
    expect: String,
}

fn cases(iterations: u32) -> Vec<Case> {
    // ~1 MB of JSON: 7 500 items, every third active.
    let items: Vec<Value> = (0..7_500)
        .map(|i| {
            json!({"id": i, "name": format!("item-{i:05}"), "active": i % 3 == 0,
                   "score": (i * 37 % 1000) as f64 / 10.0, "tags": ["alpha", "beta", "gamma"],
                   "note": "lorem ipsum dolor sit amet, consectetur adipiscing elit"})
        })
        .collect();
    let doc = json!({ "items": items }).to_string();
    vec![
        Case {
            name: "cold-simple",
            source: "async (input) => 1 + 1",
            input: "null".into(),
            iterations,
            expect: "2".into(),
        },
        Case {
            name: "json-scan-1MB",
            source: "(input) => input.items.filter((x) => x.active).length",
            input: doc,
            iterations: (iterations / 10).max(10),
            expect: "2500".into(),
        },
        Case {
            name: "10-host-callbacks",
            source: "async (input) => (await Promise.all([0,1,2,3,4,5,6,7,8,9].map((i) => call('add', {a: i, b: 1})))).reduce((s, x) => s + x, 0)",
            input: "null".into(),
            iterations,
            expect: "55".into(),
        },
    ]
}

fn peers_dir() -> Option<PathBuf> {
    crate::common::find_in_repo("bench/js", |d| d.join("peers.mjs").is_file())
}

pub async fn bench_js(iterations: u32, as_json: bool) -> Result<ExitCode> {
    let progress = |m: &str| eprintln!("bench js: {m}");
    let cache = tempfile::tempdir().context("creating a temporary cache directory")?;
    let host = Host::builder()
        .cache_dir(cache.path())
        .host_fn("add", |c| async move {
            Ok(json!(
                c.args["a"].as_i64().unwrap_or(0) + c.args["b"].as_i64().unwrap_or(0)
            ))
        })
        .build()?;

    // Setup, outside the timed loops: pre-initialize and compile the engine.
    let t = Instant::now();
    let engine = JsEngine::new(&host).await?;
    let setup_ms = t.elapsed().as_secs_f64() * 1e3;
    let policy = Policy::deny_all()
        .with_grants(warden_host::Grants::none().allow_host_fns(["add"]))
        .with_limits(warden_host::Limits {
            input_bytes: 8 << 20,
            ..warden_host::Limits::default()
        });
    let sandbox = engine.prepare(policy.clone())?;
    // The same engine without pre-initialization, to show what the snapshot saves.
    let raw = host.load_bytes("js-raw", ENGINE)?;
    let raw_prepared = raw.prepare(policy)?;

    let cases = cases(iterations);
    let mut warden = Vec::new();
    let mut instantiate = Vec::new();
    for c in &cases {
        progress(&format!("warden: {} ({} calls)", c.name, c.iterations));
        let out = sandbox
            .exec(Language::JavaScript, c.source, &c.input)
            .await
            .into_result()?;
        if out != c.expect {
            bail!("warden answered {out} to {}, expected {}", c.name, c.expect);
        }
        for _ in 0..(c.iterations / 10).max(5) {
            black_box(sandbox.exec(Language::JavaScript, c.source, &c.input).await);
        }
        let mut ns = Vec::with_capacity(c.iterations as usize);
        for _ in 0..c.iterations {
            let t = Instant::now();
            let o = sandbox.exec(Language::JavaScript, c.source, &c.input).await;
            ns.push(t.elapsed().as_nanos() as u64);
            if c.name == "cold-simple" {
                instantiate.push(o.receipt.instantiate_us * 1000);
            }
            o.result?;
        }
        warden.push(stats(ns));
    }

    progress("warden without pre-initialization: cold-simple");
    let raw_args = [json!(cases[0].source), json!("null")];
    let raw_call = || raw_prepared.invoke_json("warden:plugin/script@0.1.0#eval", &raw_args);
    raw_call().await.result?;
    let mut ns = Vec::new();
    for _ in 0..(iterations / 4).max(20) {
        let t = Instant::now();
        let o = raw_call().await;
        ns.push(t.elapsed().as_nanos() as u64);
        o.result?;
    }
    let raw_stats = stats(ns);

    progress("plugin build (pre-initialization with the script baked in), 5 builds");
    let nocache = Host::builder().build()?;
    let mut builds = Vec::new();
    let mut plugin_size = 0;
    for i in 0..5 {
        let src = format!("export function run(input) {{ return {{ n: input.n + {i} }} }}");
        let t = Instant::now();
        let bytes = warden_js::build_plugin(&nocache, "bench", Language::JavaScript, &src).await?;
        builds.push(t.elapsed().as_nanos() as u64);
        plugin_size = bytes.len();
    }
    let build_stats = stats(builds);

    // The peers, in this run.
    let peers = match peers_dir() {
        Some(dir) if dir.join("node_modules/isolated-vm").is_dir() => {
            progress("isolated-vm and quickjs-emscripten (node bench/js/peers.mjs)");
            let spec: Vec<Value> = cases
                .iter()
                .map(|c| json!({"name": c.name, "source": c.source, "input": c.input, "iterations": c.iterations}))
                .collect();
            Some(crate::common::run_node_peers(&dir, &Value::Array(spec))?)
        }
        _ => {
            progress("peers not installed: run `make bench-js` (npm ci in bench/js) to compare");
            None
        }
    };

    if as_json {
        let rows: Vec<Value> = cases
            .iter()
            .zip(&warden)
            .map(|(c, s)| {
                json!({"case": c.name, "warden_median_ns": s.median, "warden_p90_ns": s.p90,
                                  "peers": peers.as_ref().map(|p| p[c.name].clone())})
            })
            .collect();
        let v = json!({"cases": rows, "no_preinit_cold_simple_median_ns": raw_stats.median,
                       "plugin_build_median_ns": build_stats.median, "engine_bytes": ENGINE.len(),
                       "plugin_bytes": plugin_size, "engine_setup_ms": setup_ms});
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }

    println!("\nfresh sandbox per call; medians (p90) — ratio = peer median / warden median");
    println!(
        "{:<20} {:>22} {:>30} {:>30}",
        "case", "warden", "isolated-vm", "quickjs-emscripten"
    );
    for (c, s) in cases.iter().zip(&warden) {
        let peer = |name: &str| -> String {
            match peers.as_ref().map(|p| &p[c.name][name]) {
                Some(v) if v.is_object() => {
                    let m = v["median_ns"].as_f64().unwrap_or(f64::NAN);
                    let ok = v["result"].as_str() == Some(c.expect.as_str());
                    format!(
                        "{} ({}) {:.1}x{}",
                        fmt_ns(m),
                        fmt_ns(v["p90_ns"].as_f64().unwrap_or(f64::NAN)),
                        m / s.median,
                        if ok { "" } else { " (wrong result!)" }
                    )
                }
                _ => "-".into(),
            }
        };
        println!(
            "{:<20} {:>22} {:>30} {:>30}",
            c.name,
            format!("{} ({})", fmt_ns(s.median), fmt_ns(s.p90)),
            peer("isolated-vm"),
            peer("quickjs-emscripten")
        );
    }
    println!(
        "\nwarden cold-simple: instantiation (from the receipts) is {} of the {} median",
        fmt_ns(stats(instantiate).median),
        fmt_ns(warden[0].median)
    );
    println!(
        "pre-initialization: cold-simple {} without the snapshot vs {} with it ({:.1}x)",
        fmt_ns(raw_stats.median),
        fmt_ns(warden[0].median),
        raw_stats.median / warden[0].median
    );
    println!(
        "plugin build (warden build, pre-initialized): median {} over {} builds",
        fmt_ns(build_stats.median),
        build_stats.samples
    );
    println!(
        "sizes: engine component {} KiB, a built plugin {} KiB; engine setup (pre-init + compile) {setup_ms:.0} ms",
        ENGINE.len() / 1024,
        plugin_size / 1024
    );
    Ok(ExitCode::SUCCESS)
}
