//! What the controller itself costs per call, for profiling (`perf record`)
//! and for checking a change before running `warden-bench controller`.
//!
//! ```text
//! cargo run --release -p warden-runtimes --example profile_controller
//! RUNTIME=js N=20000 cargo run --release -p warden-runtimes --example profile_controller
//! ```
//!
//! - `RUNTIME=noop` (default): a runtime whose instances return at once, so
//!   the times are the controller's own: one-shot `execute`,
//!   `execute_instance`, and building the request alone. `POLLUTE_KIB=N`
//!   sweeps N KiB of memory before each call, as a real guest's run does to
//!   the caches.
//! - `RUNTIME=js`: the median of paired differences, calls alternating,
//!   one-shot against instance and instance against `JsPrepared::exec` on
//!   the same engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_host::controller::runtime::{
    BoxFuture, CompileReport, CompiledModule, ModuleInstance, RunOutcome, Runtime, RuntimeInfo,
};
use warden_host::{
    Complexity, Controller, ExecuteRequest, Host, Input, Language, Latency, Policy, Result,
};

const JS: &str = "(input) => input.n + 1";
const INPUT: &str = r#"{"n": 41}"#;

#[derive(Debug)]
struct Noop;

impl Runtime for Noop {
    fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            name: "noop".into(),
            description: "returns 42 at once".into(),
            languages: vec![Language::JavaScript],
            capabilities: vec![],
            priority: 0,
            latency: Latency::UltraLow,
            complexity: Complexity::Complex,
            max_duration: None,
            typical: "0 µs".into(),
            enforces_limits: true,
            fuel: true,
        }
    }

    fn compile<'a>(
        &'a self,
        _: Language,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(Arc<dyn CompiledModule>, CompileReport)>> {
        Box::pin(async {
            let report = CompileReport {
                cached: false,
                micros: 0,
                note: None,
            };
            Ok((Arc::new(Noop) as Arc<dyn CompiledModule>, report))
        })
    }
}

impl CompiledModule for Noop {
    fn instantiate(&self, _: &Policy) -> Result<Arc<dyn ModuleInstance>> {
        Ok(Arc::new(Noop))
    }
}

impl ModuleInstance for Noop {
    fn execute<'a>(&'a self, _: &'a Input) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async { RunOutcome::new(Ok(serde_json::json!(42)), Default::default()) })
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn request() -> ExecuteRequest {
    ExecuteRequest::new(Language::JavaScript, JS).input_json(INPUT)
}

async fn instance_of(c: &Controller) -> anyhow::Result<String> {
    let hints = Default::default();
    let m = c
        .compile(Language::JavaScript, JS.as_bytes(), &hints, None)
        .await?;
    Ok(c.instantiate(&m.id, &Default::default())?)
}

async fn noop(n: u32) -> anyhow::Result<()> {
    let c = Controller::builder().register(Arc::new(Noop)).build()?;
    let id = instance_of(&c).await?;
    let input = Input::Json(INPUT.into());
    let pollute = env::<usize>("POLLUTE_KIB", 0) << 10;
    let mut junk = vec![0u8; pollute.max(1)];
    for round in 0..3 {
        for mode in ["one-shot", "instance", "request only"] {
            let mut spent = Duration::ZERO;
            for _ in 0..n {
                for k in (0..pollute).step_by(64) {
                    junk[k] = junk[k].wrapping_add(1);
                }
                std::hint::black_box(&junk);
                let t = Instant::now();
                match mode {
                    "one-shot" => drop(c.execute(request()).await.result?),
                    "instance" => drop(c.execute_instance(&id, &input).await.result?),
                    _ => drop(std::hint::black_box(request())),
                }
                spent += t.elapsed();
            }
            println!("round {round} {mode}: {:?} per call", spent / n);
        }
    }
    Ok(())
}

fn median(mut d: Vec<i64>) -> i64 {
    d.sort_unstable();
    d[d.len() / 2]
}

async fn js(n: u32) -> anyhow::Result<()> {
    let mut host = Host::builder().engine(warden_host::EngineOptions {
        perfmap: std::env::var_os("WARDEN_PERFMAP").is_some_and(|v| v == "1"),
        ..Default::default()
    });
    if let Some(dir) = std::env::var_os("WARDEN_CACHE_DIR").map(std::path::PathBuf::from) {
        host = host.cache_dir(dir);
    }
    let host = host.build()?;
    let c = warden_runtimes::controller(
        &host,
        warden_runtimes::RuntimesConfig {
            python: false,
            rust: None,
            ebpf: None,
            ..Default::default()
        },
    )?;
    for (_, r) in c.start().await {
        r?;
    }
    let id = instance_of(&c).await?;
    // The same engine component as the controller's (the host shares it).
    let direct = warden_js::JsEngine::new(&host)
        .await?
        .prepare(Policy::deny_all())?;
    let input = Input::Json(INPUT.into());
    let (mut oneshot, mut instance) = (Vec::new(), Vec::new());
    for i in 0..n {
        // [one-shot, instance, direct], in an order that alternates.
        let mut t = [0i64; 3];
        let order = if i % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for k in order {
            let started = Instant::now();
            match k {
                0 => drop(c.execute(request()).await.result?),
                1 => drop(c.execute_instance(&id, &input).await.result?),
                _ => drop(
                    direct
                        .exec(warden_host::Language::JavaScript, JS, INPUT)
                        .await
                        .result?,
                ),
            }
            t[k] = started.elapsed().as_nanos() as i64;
        }
        oneshot.push(t[0] - t[1]);
        instance.push(t[1] - t[2]);
    }
    println!(
        "js: one-shot - instance {} ns; instance - direct {} ns (medians of paired differences)",
        median(oneshot),
        median(instance)
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    match std::env::var("RUNTIME").as_deref() {
        Ok("js") => js(env("N", 10_000)).await,
        _ => noop(env("N", 200_000)).await,
    }
}
