//! The controller over every real runtime: each language through
//! `execute`, the scheduler's decisions as a table, the lifecycle and its
//! errors, admission (queue full, queue timeout), jobs, metrics and the
//! registry.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use warden_host::controller::runtime::Complexity;
use warden_host::{
    Capability, Ceiling, Controller, ControllerOptions, ErrorCode, ExecConfig, ExecuteRequest,
    Grants, Hints, Host, Input, JobState, Language, Latency, TrustLevel,
};
use warden_runtimes::{EbpfMode, RuntimesConfig as Options};

/// One cache for every test (and shared with the Python tests): engines
/// compile once.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("warden-python-cache")
}

fn host() -> Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        Host::builder()
            .cache_dir(cache_dir())
            .build()
            .expect("host")
    })
    .clone()
}

fn controller_with(options: ControllerOptions, ebpf: Option<EbpfMode>) -> Controller {
    warden_runtimes::controller(
        &host(),
        Options {
            controller: options,
            ebpf,
            ..Options::default()
        },
    )
    .expect("controller")
}

fn controller() -> Controller {
    controller_with(ControllerOptions::default(), Some(EbpfMode::InProcess))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether eBPF can run here; CI (`REQUIRE_EBPF=1`) fails instead of skipping.
fn ebpf_expected() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("REQUIRE_EBPF").as_deref() != Ok("1"),
        "REQUIRE_EBPF=1 but not running as root"
    );
    println!("SKIP: eBPF needs root");
    false
}

async fn ok(c: &Controller, req: ExecuteRequest) -> (Value, String) {
    let e = c.execute(req).await;
    let runtime = e.runtime().unwrap_or("-").to_string();
    match e.result {
        Ok(v) => (v, runtime),
        Err(err) => panic!("expected success, got {} {err}", err.code()),
    }
}

async fn err(c: &Controller, req: ExecuteRequest) -> (String, String) {
    let e = c.execute(req).await;
    match e.result {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(err) => (err.code().as_str().to_string(), err.to_string()),
    }
}

fn hints(latency: Latency) -> Hints {
    Hints {
        latency: Some(latency),
        ..Hints::default()
    }
}

/// Poll `f` until it holds (at most 30 s).
async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

mod admission;
mod ceiling;
mod jobs;
mod languages;
mod lifecycle;
mod metrics;
mod registry;
mod scheduler;
