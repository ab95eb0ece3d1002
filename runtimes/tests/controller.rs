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

// ----- every language through execute ------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn javascript_and_typescript() {
    let c = controller();
    let (v, rt) = ok(
        &c,
        ExecuteRequest::new(Language::JavaScript, "async (i) => ({sum: i.a + i.b})")
            .input_json(r#"{"a": 2, "b": 3}"#),
    )
    .await;
    assert_eq!((v, rt.as_str()), (json!({"sum": 5}), "js"));
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(
            Language::TypeScript,
            "export function run(i: {xs: number[]}): number { return i.xs.length; }",
        )
        .input_json(r#"{"xs": [1, 2, 3]}"#),
    )
    .await;
    assert_eq!(v, json!(3));
    // A syntax error keeps its position.
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, "(i) => {")).await;
    assert_eq!(code, "COMPILE", "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python() {
    let c = controller();
    let (v, rt) = ok(
        &c,
        ExecuteRequest::new(
            Language::Python,
            "def run(i):\n    return {'total': sum(i)}\n",
        )
        .input_json("[1, 2, 3]"),
    )
    .await;
    assert_eq!((v, rt.as_str()), (json!({"total": 6}), "python"));
    let (code, _) = err(
        &c,
        ExecuteRequest::new(
            Language::Python,
            "def run(i):\n    raise ValueError('no')\n",
        ),
    )
    .await;
    assert_eq!(code, "GUEST_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_source_compiled_and_cached() {
    let c = controller();
    // A unique source so the first compile is a real one.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let src = format!(
        "// {nonce}\nfn run(input: &str) -> String {{ format!(\"{{{{\\\"len\\\": {{}}}}}}\", input.len()) }}\n"
    );
    let first = c
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json(r#""abcd""#))
        .await;
    let report = first.compile.clone().expect("compile report");
    assert!(!report.cached);
    assert!(
        report.note.as_deref().unwrap_or_default().contains("rustc"),
        "the first compile says so: {report:?}"
    );
    assert_eq!(first.runtime(), Some("rust"));
    assert_eq!(first.into_result().unwrap(), json!({"len": 6}));
    // The same source again: the controller's cache.
    let again = c
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json(r#""ab""#))
        .await;
    assert!(again.compile.as_ref().unwrap().cached);
    assert_eq!(again.into_result().unwrap(), json!({"len": 4}));
    // A new controller: rustc's output comes from the disk cache.
    let fresh = controller();
    let third = fresh
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json("null"))
        .await;
    assert!(
        third.compile.as_ref().unwrap().note.is_none(),
        "{:?}",
        third.compile
    );
    assert_eq!(third.into_result().unwrap(), json!({"len": 4}));
    // A damaged disk entry is rebuilt, not loaded.
    for f in std::fs::read_dir(cache_dir().join("rust"))
        .unwrap()
        .flatten()
    {
        if f.path().extension().is_some_and(|e| e == "wasm") {
            std::fs::write(f.path(), b"garbage that is not a component").unwrap();
        }
    }
    let rebuilt = controller()
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json("\"xyz\""))
        .await;
    assert!(
        rebuilt.compile.as_ref().unwrap().note.is_some(),
        "{:?}",
        rebuilt.compile
    );
    assert_eq!(rebuilt.into_result().unwrap(), json!({"len": 5}));
    // A host without a cache directory compiles in a private directory.
    let uncached = warden_runtimes::controller(
        &Host::builder().build().unwrap(),
        Options {
            js: false,
            python: false,
            ebpf: None,
            ..Options::default()
        },
    )
    .unwrap();
    let (v, _) = ok(
        &uncached,
        ExecuteRequest::new(Language::Rust, "fn run(_: &str) -> bool { true }"),
    )
    .await;
    assert_eq!(v, json!(true));

    // A whole program with main.
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); print!(\"[{s}, {s}]\"); }",
        )
        .input_json("7"),
    )
    .await;
    assert_eq!(v, json!([7, 7]));
    // An `Err` is GUEST_ERROR with its message.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "fn run(_: &str) -> Result<String, String> { Err(\"bad input\".into()) }",
        ),
    )
    .await;
    assert_eq!(code, "GUEST_ERROR");
    assert!(msg.contains("bad input"), "{msg}");
    // A panic aborts (wasm32 has no unwinding): a TRAP that carries the
    // panic message from stderr.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "fn run(_: &str) -> i64 { panic!(\"boom\") }",
        ),
    )
    .await;
    assert_eq!(code, "TRAP");
    assert!(msg.contains("boom"), "{msg}");
    // Compile errors name the line of the source.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "fn run(_: &str) -> i64 {\n    undefined_name\n}",
        ),
    )
    .await;
    assert_eq!(code, "COMPILE");
    assert!(msg.contains("snippet.rs:2:"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wasm_component_core_module_and_wat() {
    let c = controller();
    let hello = std::fs::read(warden_fixtures::HELLO).unwrap();
    let (v, rt) = ok(
        &c,
        ExecuteRequest::new(Language::Wasm, &hello).input_json(r#"{"name": "ctl"}"#),
    )
    .await;
    assert_eq!(
        (v, rt.as_str()),
        (json!({"greeting": "hello, ctl"}), "wasm")
    );
    // A WASI preview1 core module (a command: JSON on stdin, JSON on stdout).
    let p1 = std::fs::read(warden_fixtures::P1_COMMAND).unwrap();
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::Wasm, &p1).input_json(r#""abc""#),
    )
    .await;
    assert_eq!(v, json!("ABC"));
    // WAT, called with an invoke input.
    let wat = r#"(component
        (core module $m (func (export "add") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.add))
        (core instance $i (instantiate $m))
        (func (export "add") (param "a" s32) (param "b" s32) (result s32)
            (canon lift (core func $i "add"))))"#;
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::Wasm, wat).input(Input::Invoke("add(40, 2)".into())),
    )
    .await;
    assert_eq!(v, json!(42));
    // Bad inputs are typed.
    let (code, _) = err(&c, ExecuteRequest::new(Language::Wasm, b"not wasm at all")).await;
    assert_eq!(code, "NOT_WASM");
    let (code, _) = err(
        &c,
        ExecuteRequest::new(Language::Wasm, &hello).input_json("{not json"),
    )
    .await;
    assert_eq!(code, "INVALID_INPUT");
}

#[tokio::test(flavor = "multi_thread")]
async fn c_on_ebpf() {
    if !ebpf_expected() {
        return;
    }
    let c = controller();
    let src = "int f(void *data, int data_len) { return data_len * 2; }";
    let req = ExecuteRequest::new(Language::C, src)
        .input(Input::Bytes(vec![1, 2, 3]))
        .hints(Hints {
            latency: Some(Latency::UltraLow),
            complexity: Some(Complexity::Simple),
            expected_duration: None,
        });
    let (v, rt) = ok(&c, req.clone()).await;
    assert_eq!(rt, "ebpf");
    assert_eq!(v["retval"], json!(6));
    // JSON input: a string's bytes.
    let (v, _) = ok(&c, req.clone().input_json(r#""abcd""#)).await;
    assert_eq!(v["retval"], json!(8));
    // The verifier's refusal comes back typed, at compile time.
    let looping =
        "int f(void *data, int data_len) { volatile int i = 0; while (i >= 0) { i++; } return i; }";
    let simple = req.hints;
    let (code, _) = err(&c, ExecuteRequest::new(Language::C, looping).hints(simple)).await;
    // No hints at all: C still goes to eBPF (hints only ever narrow).
    let (v, _) = ok(&c, ExecuteRequest::new(Language::C, src)).await;
    assert_eq!(v["retval"], json!(0));
    assert!(code == "VERIFIER_REJECTED" || code == "COMPILE", "{code}");
    // A prebuilt object (what aya-ebpf builds from Rust; here clang's).
    let dir = tempfile::tempdir().unwrap();
    let c_file = dir.path().join("prog.c");
    std::fs::write(
        &c_file,
        "struct xdp_md { unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };\n\
         #define SEC(n) __attribute__((section(n), used))\n\
         SEC(\"xdp\") int prog(struct xdp_md *ctx) { return (int)(ctx->data_end - ctx->data) + 1; }\n\
         char _license[] SEC(\"license\") = \"GPL\";\n",
    )
    .unwrap();
    let obj = dir.path().join("prog.o");
    let status = std::process::Command::new("clang")
        .args(["-target", "bpf", "-O2", "-c"])
        .arg(&c_file)
        .arg("-o")
        .arg(&obj)
        .status()
        .expect("clang");
    assert!(status.success());
    let object = std::fs::read(&obj).unwrap();
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::C, &object).input(Input::Bytes(vec![0; 20])),
    )
    .await;
    assert_eq!(v["retval"], json!(21));
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(Language::C, "int f(void *d, int n) { return }").hints(simple),
    )
    .await;
    assert_eq!(code, "COMPILE", "{msg}");
}

// ----- scheduler decisions as a table -------------------------------------

#[derive(Debug, Deserialize)]
struct Row {
    language: String,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    complexity: Option<String>,
    #[serde(default)]
    expected_ms: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    trust: Option<String>,
    #[serde(default)]
    fuel: Option<u64>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    ebpf: Option<String>,
    /// The runtime chosen, or `refused: <substring of the reason>`.
    expect: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_table() {
    let table: Vec<Row> = serde_json::from_str(include_str!("scheduler.json")).unwrap();
    let in_process = controller();
    let sidecar = controller_with(
        ControllerOptions::default(),
        Some(EbpfMode::Sidecar("/nonexistent/warden.sock".into())),
    );
    let mut failures = Vec::new();
    for (n, row) in table.iter().enumerate() {
        let c = if row.ebpf.as_deref() == Some("sidecar") {
            &sidecar
        } else {
            &in_process
        };
        let hints = Hints {
            latency: row.latency.as_deref().map(|l| l.parse().unwrap()),
            complexity: row.complexity.as_deref().map(|l| l.parse().unwrap()),
            expected_duration: row.expected_ms.map(Duration::from_millis),
        };
        let mut grants = Grants::none();
        for g in &row.grants {
            let cap = Capability::ALL.into_iter().find(|c| c.name() == g).unwrap();
            grants = match cap {
                Capability::Http => grants.allow_http("example.com"),
                Capability::Filesystem => grants.allow_dir("/tmp", "/tmp", false),
                Capability::Env => grants.allow_env("HOME"),
                Capability::Sockets => grants.allow_socket("127.0.0.1:*"),
                other => grants.allow(other).unwrap(),
            };
        }
        let mut config = ExecConfig::default().with_grants(grants);
        config.trust = row
            .trust
            .as_deref()
            .map(|t| t.parse::<TrustLevel>().unwrap());
        config.limits.timeout = row.timeout_ms.map(Duration::from_millis);
        config.limits.fuel = row.fuel;
        let language: Language = row.language.parse().unwrap();
        let got = c.decide(language, &hints, &config, row.runtime.as_deref());
        let pass = match (&got, row.expect.strip_prefix("refused: ")) {
            (Ok(d), None) => d.runtime == row.expect && !d.reason.is_empty(),
            (Err(e), Some(why)) => e.code().as_str() == "NO_RUNTIME" && e.to_string().contains(why),
            _ => false,
        };
        if !pass {
            failures.push(format!(
                "row {n} {row:?}: got {}",
                match &got {
                    Ok(d) => format!("{} ({})", d.runtime, d.reason),
                    Err(e) => format!("{} {e}", e.code()),
                }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn decision_is_part_of_the_result() {
    let c = controller();
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 1").hints(hints(Latency::Low)))
        .await;
    let d = e.decision.clone().unwrap();
    assert_eq!(d.runtime, "js");
    assert!(d.reason.contains("latency low"), "{}", d.reason);
    assert!(!d.overridden);
    let report = serde_json::to_value(e.report()).unwrap();
    assert_eq!(report["runtime"], "js");
    assert_eq!(report["output"], 1);
    assert!(report["receipt"]["wall_time_us"].as_u64().unwrap() > 0);
}

// ----- lifecycle ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_and_its_errors() {
    let c = controller();
    let module = c
        .compile(
            Language::JavaScript,
            b"globalThis.n = (globalThis.n ?? 0) + 1; export function run(i) { return [globalThis.n, i]; }",
            &Hints::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(module.decision.runtime, "js");
    let instance = c.instantiate(&module.id, &ExecConfig::default()).unwrap();
    // Each execution is a fresh sandbox: module state does not carry over.
    for i in 0..2 {
        let e = c
            .execute_instance(&instance, &Input::Json(i.to_string()))
            .await;
        assert_eq!(e.into_result().unwrap(), json!([1, i]));
    }
    c.destroy(&instance).unwrap();
    let e = c.execute_instance(&instance, &Input::null()).await;
    let e = e.result.unwrap_err();
    assert_eq!(e.code().as_str(), "NOT_FOUND");
    assert!(e.to_string().contains(&instance), "{e}");
    assert_eq!(
        c.destroy(&instance).unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
    assert_eq!(
        c.instantiate("mod_nope", &ExecConfig::default())
            .unwrap_err()
            .code()
            .as_str(),
        "NOT_FOUND"
    );
    // The config's rules apply to instances too: JS cannot grant HTTP.
    let http = ExecConfig::default().with_grants(Grants::none().allow_http("example.com"));
    let e = c.instantiate(&module.id, &http).unwrap_err();
    assert_eq!(e.code().as_str(), "NO_RUNTIME");
    assert!(e.to_string().contains("http"), "{e}");
    c.drop_module(&module.id).unwrap();
    assert_eq!(
        c.instantiate(&module.id, &ExecConfig::default())
            .unwrap_err()
            .code()
            .as_str(),
        "NOT_FOUND"
    );
    // Ids are opaque and distinct.
    let m2 = c
        .compile(Language::JavaScript, b"() => 2", &Hints::default(), None)
        .await
        .unwrap();
    assert_ne!(m2.id, module.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_through_the_controller() {
    let c = controller();
    let kv_code = "async () => { kv.set('k', 'v'); return kv.get('k'); }";
    // Denied by default, named.
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, kv_code)).await;
    assert_eq!(code, "CAPABILITY_DENIED");
    assert!(msg.contains("kv"), "{msg}");
    // Granted explicitly, or by a trust level.
    let granted = ExecConfig::default().with_grants(Grants::none().allow(Capability::Kv).unwrap());
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::JavaScript, kv_code).config(granted),
    )
    .await;
    assert_eq!(v, json!("v"));
    let trusted = ExecConfig::default().with_trust(TrustLevel::Medium);
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, kv_code).config(trusted))
        .await;
    assert_eq!(e.receipt.host_calls.kv, 2);
    assert_eq!(e.into_result().unwrap(), json!("v"));
    // Limits from the config: a runaway stops at the timeout.
    let (code, _) = err(
        &c,
        ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
            .config(ExecConfig::default().with_timeout(Duration::from_millis(200))),
    )
    .await;
    assert_eq!(code, "TIMEOUT");
    // Oversized code is refused before anything runs.
    let small = controller_with(
        ControllerOptions {
            max_code_bytes: 16,
            ..ControllerOptions::default()
        },
        None,
    );
    let (code, _) = err(
        &small,
        ExecuteRequest::new(
            Language::JavaScript,
            "() => 'this is longer than sixteen bytes'",
        ),
    )
    .await;
    assert_eq!(code, "INPUT_TOO_LARGE");
}

// ----- admission ------------------------------------------------------------

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

#[tokio::test(flavor = "multi_thread")]
async fn queue_full_is_busy_and_queued_time_counts() {
    let c = controller_with(
        ControllerOptions {
            max_in_flight: 1,
            queue_capacity: 1,
            ..ControllerOptions::default()
        },
        None,
    );
    // Warm the engine so the runaway below starts at once.
    ok(&c, ExecuteRequest::new(Language::JavaScript, "() => 0")).await;
    let spin = |ms: u64| {
        ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
            .config(ExecConfig::default().with_timeout(Duration::from_millis(ms)))
    };
    let running = tokio::spawn({
        let c = c.clone();
        let req = spin(1500);
        async move { c.execute(req).await }
    });
    wait_until("one call in flight", || c.metrics().in_flight == 1).await;
    // The queued call's 300 ms timeout includes its wait: it never runs.
    let queued = tokio::spawn({
        let c = c.clone();
        let req = spin(300);
        async move { c.execute(req).await }
    });
    wait_until("one call queued", || c.metrics().queue_depth == 1).await;
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    assert_eq!(code, "BUSY", "{msg}");
    let queued = queued.await.unwrap();
    let e = queued.result.as_ref().unwrap_err();
    assert_eq!(e.code().as_str(), "TIMEOUT");
    assert!(e.to_string().contains("queue"), "{e}");
    assert_eq!(
        running.await.unwrap().result.unwrap_err().code().as_str(),
        "TIMEOUT"
    );
    let m = c.metrics();
    assert_eq!((m.in_flight, m.queue_depth), (0, 0));
    assert_eq!(m.failures_by_code.get("BUSY"), Some(&1));
    // Not counting the queue: a queued call waits and then runs.
    let blocker = tokio::spawn({
        let c = c.clone();
        let req = spin(300);
        async move { c.execute(req).await }
    });
    wait_until("one call in flight", || c.metrics().in_flight == 1).await;
    let mut patient = ExecConfig::default().with_timeout(Duration::from_millis(100));
    patient.include_queue_time = false;
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 'ran'").config(patient))
        .await;
    assert!(e.queued >= Duration::from_millis(100), "{:?}", e.queued);
    assert_eq!(e.into_result().unwrap(), json!("ran"));
    blocker.await.unwrap();
}

// ----- jobs -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn jobs_submit_poll_cancel_expire() {
    let c = controller_with(
        ControllerOptions {
            job_ttl: Duration::from_millis(300),
            ..ControllerOptions::default()
        },
        None,
    );
    let id = c
        .submit(ExecuteRequest::new(Language::JavaScript, "(i) => i * 3").input_json("14"))
        .unwrap();
    let done = c.wait(&id).await.unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    let exec = done.execution.unwrap();
    assert_eq!(exec.result.as_ref().unwrap(), &json!(42));
    // Cancelling a finished job changes nothing.
    assert_eq!(c.cancel(&id).unwrap(), JobState::Succeeded);

    // A runaway job, cancelled while running: its slot is freed.
    let spin = c
        .submit(
            ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
                .config(ExecConfig::default().with_timeout(Duration::from_secs(30))),
        )
        .unwrap();
    wait_until("the job running", || {
        c.job(&spin).unwrap().state == JobState::Running && c.metrics().in_flight == 1
    })
    .await;
    assert_eq!(c.cancel(&spin).unwrap(), JobState::Cancelled);
    let status = c.job(&spin).unwrap();
    assert_eq!(status.state, JobState::Cancelled);
    let e = status.execution.unwrap();
    assert_eq!(e.result.as_ref().unwrap_err().code().as_str(), "CANCELLED");
    wait_until("the slot freed", || c.metrics().in_flight == 0).await;
    assert_eq!(c.metrics().jobs_cancelled, 1);

    // Results expire after the TTL.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.job(&id).unwrap_err().code().as_str(), "NOT_FOUND");
    assert_eq!(
        c.job("job_unknown").unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
    assert_eq!(
        c.cancel("job_unknown").unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
}

// ----- metrics --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn metric_counts() {
    let c = controller_with(ControllerOptions::default(), None);
    let code = "(i) => i + 1";
    for i in 0..2 {
        ok(
            &c,
            ExecuteRequest::new(Language::JavaScript, code).input_json(i.to_string()),
        )
        .await;
    }
    err(
        &c,
        ExecuteRequest::new(Language::JavaScript, "() => { throw new Error('x') }"),
    )
    .await;
    err(
        &c,
        ExecuteRequest::new(Language::Python, "def run(i): return i").hints(hints(Latency::Low)),
    )
    .await;
    let m = c.metrics();
    assert_eq!((m.executions, m.succeeded, m.failed), (4, 2, 2));
    assert_eq!(m.failures_by_code.get("GUEST_ERROR"), Some(&1));
    assert_eq!(m.failures_by_code.get("NO_RUNTIME"), Some(&1));
    let js = &m.by_runtime["js"];
    assert_eq!((js.executions, js.succeeded, js.failed), (3, 2, 1));
    assert!(js.latency_mean_us > 0.0);
    // Two compiles (two sources), one hit (the repeat).
    assert_eq!((m.module_cache_misses, m.module_cache_hits), (2, 1));
    assert!((m.module_cache_hit_rate() - 1.0 / 3.0).abs() < 1e-9);
    let text = c.prometheus();
    assert!(
        text.contains(r#"warden_executions_total{runtime="js",outcome="ok"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"warden_executions_total{runtime="js",outcome="GUEST_ERROR"} 1"#));
    assert!(
        text.contains("warden_execution_seconds_count{runtime=\"js\"} 3"),
        "{text}"
    );
    assert!(text.contains("warden_queue_depth 0"));
    assert!(text.contains(r#"warden_module_cache_lookups_total{result="hit"} 1"#));
}

// ----- registry -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn registry_start_stop_health() {
    let c = controller_with(
        ControllerOptions::default(),
        Some(EbpfMode::Sidecar("/nonexistent/warden.sock".into())),
    );
    let names: Vec<String> = c
        .runtimes()
        .await
        .into_iter()
        .map(|r| r.info.name)
        .collect();
    assert_eq!(names, ["wasm", "rust", "js", "python", "ebpf"]);
    // Start everything: the missing sidecar fails alone, with the reason.
    let results = c.start().await;
    for (name, r) in &results {
        match name.as_str() {
            "ebpf" => {
                let e = r.as_ref().unwrap_err();
                assert_eq!(e.code().as_str(), "UNAVAILABLE");
                assert!(e.to_string().contains("warden-ebpf-sidecar"), "{e}");
            }
            _ => assert!(r.is_ok(), "{name}: {r:?}"),
        }
    }
    let listed = c.runtimes().await;
    let state = |n: &str| listed.iter().find(|r| r.info.name == n).unwrap().clone();
    assert_eq!(state("js").state.as_str(), "running");
    assert!(state("js").health.is_usable());
    assert_eq!(state("ebpf").state.as_str(), "failed");
    assert!(!state("ebpf").health.is_usable());
    // C now has no runtime, and says why.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(Language::C, "int f(void *d, int n) { return 0; }"),
    )
    .await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("ebpf: unavailable"), "{msg}");

    // A stopped runtime is refused until started again (also right after
    // a call that was scheduled on it: decisions are not kept across a
    // change of state).
    ok(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    c.stop_runtime("js").await.unwrap();
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("stopped"), "{msg}");
    c.start_runtime("js").await.unwrap();
    ok(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    assert_eq!(
        c.start_runtime("cobol").await.unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
}

/// A repeated one-shot request reuses its plan (policy and decision) and its
/// module, but never across a change: another config, other code of the same
/// length, or a runtime stopped and started again in between.
#[tokio::test(flavor = "multi_thread")]
async fn repeats_follow_config_code_and_runtime_state() {
    // No eBPF runtime: every registered runtime is usable, so plans are kept.
    let c = controller_with(ControllerOptions::default(), None);
    let js = |code: &str| ExecuteRequest::new(Language::JavaScript, code).input_json(r#"{"n": 1}"#);
    let fueled = |code: &str| js(code).config(ExecConfig::default().with_fuel(1_000_000));
    for _ in 0..3 {
        assert_eq!(ok(&c, js("(i) => i.n + 1")).await, (json!(2), "js".into()));
        // The js engine here meters no fuel: the same code with a fuel
        // budget is refused, every time.
        let (code, msg) = err(&c, fueled("(i) => i.n + 1")).await;
        assert_eq!(code, "NO_RUNTIME");
        assert!(msg.contains("fuel"), "{msg}");
        assert_eq!(ok(&c, js("(i) => i.n + 2")).await.0, json!(3));
        assert_eq!(ok(&c, js("(i) => i.n * 7")).await.0, json!(7));
    }
    c.stop_runtime("js").await.unwrap();
    let (code, msg) = err(&c, js("(i) => i.n + 1")).await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("stopped"), "{msg}");
    c.start_runtime("js").await.unwrap();
    assert_eq!(ok(&c, js("(i) => i.n + 1")).await.0, json!(2));
    let m = c.metrics();
    assert_eq!(m.module_cache_hits + m.module_cache_misses, 10);
    assert_eq!(m.module_cache_misses, 3, "{m:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_runtime_override() {
    let c = controller();
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 7").runtime("js"))
        .await;
    assert!(e.decision.as_ref().unwrap().overridden);
    assert_eq!(e.into_result().unwrap(), json!(7));
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(Language::JavaScript, "() => 7").runtime("python"),
    )
    .await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("does not run js"), "{msg}");
}

// ----- the queue-time rule and the ceiling ----------------------------------

/// An embedder's own call ([`Controller::admitted`]) takes a slot like an
/// execution does: while it holds the only one, executions and other
/// admitted calls are BUSY.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedders_own_calls_share_the_slots_and_the_queue() {
    let c = controller_with(
        ControllerOptions {
            max_in_flight: 1,
            queue_capacity: 0,
            ..ControllerOptions::default()
        },
        None,
    );
    let (hold, release) = tokio::sync::oneshot::channel::<()>();
    let held = tokio::spawn({
        let c = c.clone();
        async move { c.admitted(None, async { release.await.ok() }).await }
    });
    // Wait until the holder has the slot: then an execution is BUSY, and
    // so is another admitted call.
    for _ in 0..500 {
        if c.metrics().in_flight == 1 {
            break;
        }
        assert!(!held.is_finished(), "the holder ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(c.metrics().in_flight, 1, "the holder never got its slot");
    let busy = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 1"))
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(busy.code(), ErrorCode::Busy);
    let e = c.admitted(None, async {}).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Busy);
    hold.send(()).unwrap();
    assert_eq!(held.await.unwrap().unwrap(), Some(()));
    // Free again.
    c.admitted(None, async {}).await.unwrap();
}

/// Calls that waited in the queue run under the same policy as calls that
/// did not (the queue time is taken from the run, not from the policy), so
/// they share the module's instance: one instantiation for all of them.
#[tokio::test(flavor = "multi_thread")]
async fn queued_repeat_calls_hit_the_instance_cache() {
    let c = controller_with(
        ControllerOptions {
            max_in_flight: 1,
            ..ControllerOptions::default()
        },
        None,
    );
    // ~30 ms of work per call, so the later calls queue behind the first.
    let busy = "(i) => { const t = Date.now(); while (Date.now() - t < 30) {} return i + 1 }";
    let config = ExecConfig::default().with_timeout(Duration::from_secs(10));
    let req = || {
        ExecuteRequest::new(Language::JavaScript, busy)
            .input_json("1")
            .config(config.clone())
    };
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (c, req) = (c.clone(), req());
            async move { c.execute(req).await }
        })
        .collect();
    let done = futures_join(runs).await;
    let mut queued = 0;
    for e in &done {
        assert_eq!(e.result.as_ref().unwrap(), &json!(2));
        if !e.queued.is_zero() {
            queued += 1;
        }
    }
    assert!(queued >= 2, "the calls did not queue: {queued}");
    let m = c.metrics();
    assert_eq!(
        (m.instance_cache_misses, m.instance_cache_hits),
        (1, 3),
        "{m:?}"
    );
}

async fn futures_join<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

/// A request above its ceiling is refused with OVER_CEILING naming the
/// field, whether the ceiling is the controller's or the caller's; never
/// silently lowered.
#[tokio::test(flavor = "multi_thread")]
async fn requests_over_the_ceiling_are_refused_with_the_field() {
    let ceiling = Ceiling {
        max_trust: Some(TrustLevel::Low),
        capabilities: Some([Capability::Log].into()),
        limits: warden_host::LimitOverrides {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
        ..Ceiling::default()
    };
    let c = controller_with(
        ControllerOptions {
            ceiling: ceiling.clone(),
            ..ControllerOptions::default()
        },
        None,
    );
    let js =
        |config: ExecConfig| ExecuteRequest::new(Language::JavaScript, "(i) => i").config(config);
    // Within the ceiling: runs.
    let low = ExecConfig::default().with_trust(TrustLevel::Low);
    assert_eq!(ok(&c, js(low.clone())).await.0, json!(null));
    for (config, field) in [
        (
            ExecConfig::default().with_trust(TrustLevel::Medium),
            "trust",
        ),
        (
            low.clone().with_grants(Grants::none().allow_events("t")),
            "grants.events",
        ),
        (
            low.clone().with_timeout(Duration::from_secs(3)),
            "limits.timeout",
        ),
    ] {
        // `decide` (what --explain shows) refuses it the same way.
        let d = c.decide(Language::JavaScript, &Hints::default(), &config, None);
        assert_eq!(d.unwrap_err().code().as_str(), "OVER_CEILING");
        let e = c.execute(js(config)).await;
        let err = e.result.as_ref().unwrap_err();
        assert_eq!(err.code().as_str(), "OVER_CEILING", "{err}");
        let body = err.body();
        assert_eq!(body.details["field"], field, "{body:?}");
        assert_eq!(err.class().exit_code(), 3);
    }
    // A caller's own ceiling, on a controller that allows everything.
    let open = controller_with(ControllerOptions::default(), None);
    let e = open
        .execute_within(
            js(ExecConfig::default().with_trust(TrustLevel::High)),
            &ceiling,
        )
        .await;
    assert_eq!(e.result.unwrap_err().code().as_str(), "OVER_CEILING");
    assert_eq!(
        ok(
            &open,
            js(ExecConfig::default().with_trust(TrustLevel::High))
        )
        .await
        .0,
        json!(null)
    );
    // The wire form names the field too.
    let e = open
        .execute_within(
            js(ExecConfig::default().with_trust(TrustLevel::High)),
            &ceiling,
        )
        .await;
    let report = serde_json::to_value(e.report()).unwrap();
    assert_eq!(report["error"]["code"], "OVER_CEILING");
    assert_eq!(report["error"]["details"]["field"], "trust");
    assert_eq!(report["error"]["details"]["allowed"], "at most low");
}

/// A runtimes config is data: it reads from JSON (what a server's TOML or
/// the Node binding's options give), refuses unknown fields, and the
/// controller it makes has the runtimes it names.
#[tokio::test(flavor = "multi_thread")]
async fn runtimes_config_is_data() {
    let config: warden_runtimes::RuntimesConfig = serde_json::from_value(json!({
        "python": false,
        "rust": null,
        "ebpf": null,
        "controller": { "max_in_flight": 2, "job_ttl": "1m", "max_code_bytes": "1MiB",
                         "ceiling": { "max_trust": "medium" } }
    }))
    .unwrap();
    assert_eq!(config.controller.job_ttl, Duration::from_secs(60));
    assert_eq!(config.controller.max_code_bytes, 1 << 20);
    let c = warden_runtimes::controller(&host(), config.clone()).unwrap();
    let names: Vec<String> = c
        .runtimes()
        .await
        .into_iter()
        .map(|r| r.info.name)
        .collect();
    assert_eq!(names, ["wasm", "js"]);
    let e = c
        .execute(
            ExecuteRequest::new(Language::JavaScript, "() => 1")
                .config(ExecConfig::default().with_trust(TrustLevel::High)),
        )
        .await;
    assert_eq!(e.result.unwrap_err().code().as_str(), "OVER_CEILING");
    let e = serde_json::from_value::<warden_runtimes::RuntimesConfig>(json!({"pyhton": false}))
        .unwrap_err();
    assert!(e.to_string().contains("unknown field `pyhton`"), "{e}");
    let sidecar: warden_runtimes::RuntimesConfig =
        serde_json::from_value(json!({"ebpf": {"sidecar": "/run/w.sock"}})).unwrap();
    assert_eq!(sidecar.ebpf, Some(EbpfMode::Sidecar("/run/w.sock".into())));
}

/// `execute_until`: a runaway call stops when its caller gives up, is
/// `CANCELLED` naming who, and frees its slot.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_stops_when_its_caller_gives_up() {
    let c = controller();
    let started = Instant::now();
    let runaway = ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
        .config(ExecConfig::default().with_timeout(Duration::from_secs(30)));
    let cancel = tokio::time::sleep(Duration::from_millis(300));
    let e = c
        .execute_until(runaway, &c.options().ceiling, cancel, "an AbortSignal")
        .await;
    let err = e.into_result().unwrap_err();
    assert_eq!(err.code().as_str(), "CANCELLED");
    assert!(err.to_string().contains("an AbortSignal"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    wait_until("the slot freed", || c.metrics().in_flight == 0).await;

    // Nothing to cancel: the call finishes as usual.
    let quick = ExecuteRequest::new(Language::JavaScript, "(i) => i + 1").input_json("1");
    let e = c
        .execute_until(
            quick,
            &c.options().ceiling,
            std::future::pending(),
            "nobody",
        )
        .await;
    assert_eq!(e.into_result().unwrap(), json!(2));
}
