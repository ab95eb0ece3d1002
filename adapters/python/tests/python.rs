//! Python on warden: snippets in fresh sandboxes, built plugins, every error
//! kind, and an allowed and a denied case per capability.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use warden_host::{
    Capability, ErrorCode, Grants, Host, KvGrant, Limits, MemoryEventSink, Outcome, Policy,
};
use warden_python::{BuildOptions, PythonEngine, build_plugin};

struct Fixture {
    host: Host,
    engine: PythonEngine,
    events: MemoryEventSink,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let events = MemoryEventSink::new();
        // A cache that outlives the test run: the 18 MB engine compiles once.
        let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("warden-python-cache");
        let host = Host::builder()
            .cache_dir(cache)
            .event_sink(events.clone())
            .host_fn("add", |c| async move {
                Ok(json!(
                    c.args["a"].as_i64().unwrap_or(0) + c.args["b"].as_i64().unwrap_or(0)
                ))
            })
            .build()
            .unwrap();
        let engine = PythonEngine::new(&host).unwrap();
        Fixture {
            host,
            engine,
            events,
        }
    })
}

async fn exec_with(policy: Policy, src: &str, input: &str) -> Outcome<String> {
    fixture()
        .engine
        .prepare(policy)
        .unwrap()
        .exec(src, input)
        .await
}

async fn py(src: &str, input: &str) -> Result<Value, warden_host::Error> {
    exec_with(Policy::deny_all(), src, input)
        .await
        .into_result()
        .map(|s| serde_json::from_str(&s).unwrap())
}

fn grants(g: Grants) -> Policy {
    Policy::deny_all().with_grants(g)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_conventions_and_the_stdlib() {
    let v = py(
        "def run(input):\n    return {'got': input['a'] + 1}",
        r#"{"a": 1}"#,
    )
    .await
    .unwrap();
    assert_eq!(v, json!({"got": 2}));
    let v = py("async def run(input):\n    return sum(input)", "[1, 2, 3]")
        .await
        .unwrap();
    assert_eq!(v, json!(6));
    let src = "import statistics, re, math, json\nfrom collections import Counter\n\ndef run(words):\n    c = Counter(w.lower() for w in words)\n    return {'mean': statistics.mean(len(w) for w in words), 'top': c.most_common(1)[0][0],\n            'digits': re.findall(r'\\d', 'a1b2'), 'sqrt': math.sqrt(16)}";
    let v = py(src, r#"["a", "bb", "A"]"#).await.unwrap();
    assert_eq!(
        v,
        json!({"mean": 4.0 / 3.0, "top": "a", "digits": ["1", "2"], "sqrt": 4.0})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_typed_and_the_host_keeps_serving() {
    let e = py("def run(i):\n    return (1 +\n", "null")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
    assert!(e.to_string().contains("line"), "{e}");
    let e = py("def run(i):\n    return 1 / 0", "null")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::GuestError, "{e}");
    assert!(e.to_string().contains("ZeroDivisionError"), "{e}");
    let e = py("import numpy\ndef run(i):\n    return 1", "null")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::GuestError, "{e}");
    assert!(
        e.to_string().contains("numpy") && e.to_string().contains("statistics"),
        "{e}"
    );
    let e = py("def run(i):\n    return {1, 2}", "null")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Serialization, "{e}");
    let e = py("x = 1", "null").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
    let e = py("def run(i):\n    return i", "{bad").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    assert_eq!(
        py("def run(i):\n    return 'ok'", "null").await.unwrap(),
        json!("ok")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runaways_are_stopped() {
    let p = Policy::deny_all().with_limits(Limits {
        timeout: Duration::from_millis(500),
        memory_bytes: 96 << 20,
        ..Limits::default()
    });
    let e = exec_with(
        p.clone(),
        "def run(i):\n    while True:\n        pass",
        "null",
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Timeout, "{e}");
    let bomb = "def run(i):\n    x = []\n    while True:\n        x.append(bytearray(10**6))";
    // Its own timeout, far above what filling 96 MiB takes, so a loaded
    // machine cannot turn the memory limit into a timeout.
    let p = p.with_limits(Limits {
        timeout: Duration::from_secs(20),
        memory_bytes: 96 << 20,
        ..Limits::default()
    });
    let e = exec_with(p, bomb, "null").await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::MemoryLimit, "{e}");
    assert_eq!(
        py("def run(i):\n    return 1", "null").await.unwrap(),
        json!(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_is_a_fresh_sandbox() {
    let src = "import builtins\ndef run(i):\n    builtins.counter = getattr(builtins, 'counter', 0) + 1\n    return builtins.counter";
    assert_eq!(py(src, "null").await.unwrap(), json!(1));
    assert_eq!(py(src, "null").await.unwrap(), json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn log_allowed_and_denied() {
    let src = "def run(i):\n    log('info', 'hi')\n    return 1";
    let out = exec_with(
        grants(Grants::none().allow(Capability::Log).unwrap()),
        src,
        "null",
    )
    .await;
    assert_eq!(out.logs.len(), 1, "{:?}", out.logs);
    out.into_result().unwrap();
    let e = exec_with(Policy::deny_all(), src, "null")
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_allowed_and_denied() {
    let src = "def run(i):\n    kv.set(i['k'], 'v1')\n    return {'v': kv.get(i['k']), 'keys': kv.list_keys('')}";
    let g = Grants::none().with_kv(KvGrant {
        namespace: Some("py-kv".into()),
        quota_bytes: 1024,
    });
    let out = exec_with(grants(g), src, r#"{"k":"a"}"#)
        .await
        .into_result()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"v": "v1", "keys": ["a"]})
    );
    let e = exec_with(Policy::deny_all(), src, r#"{"k":"a"}"#)
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
    let caught = "def run(i):\n    try:\n        kv.get('x')\n    except CapabilityDenied as e:\n        return type(e).__name__";
    assert_eq!(py(caught, "null").await.unwrap(), json!("CapabilityDenied"));
}

#[tokio::test(flavor = "multi_thread")]
async fn host_calls_allowed_and_denied() {
    let src = "def run(i):\n    return [call('add', {'a': n, 'b': 1}) for n in range(3)]";
    let out = exec_with(grants(Grants::none().allow_host_fns(["add"])), src, "null").await;
    assert_eq!(out.receipt.host_calls.host, 3);
    assert_eq!(
        serde_json::from_str::<Value>(&out.into_result().unwrap()).unwrap(),
        json!([1, 2, 3])
    );
    let e = exec_with(
        grants(Grants::none().allow_host_fns(["other"])),
        src,
        "null",
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_allowed_and_denied() {
    let src = "def run(i):\n    emit(i['topic'], {'id': 1})\n    return 'sent'";
    let out = exec_with(
        grants(Grants::none().allow_events("py.*")),
        src,
        r#"{"topic":"py.new"}"#,
    )
    .await;
    assert_eq!(out.into_result().unwrap(), "\"sent\"");
    assert!(fixture().events.take().iter().any(|e| e.topic == "py.new"));
    let e = exec_with(
        grants(Grants::none().allow_events("py.*")),
        src,
        r#"{"topic":"x"}"#,
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn built_plugins_bundle_pure_python_and_refuse_native_code() {
    let f = fixture();
    let vendor = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(vendor.path().join("greetlib")).unwrap();
    std::fs::write(
        vendor.path().join("greetlib/__init__.py"),
        "def greet(n):\n    return 'hello, ' + n\n",
    )
    .unwrap();
    let src = "import greetlib\nfrom warden import kv\n\ndef run(input):\n    return {'greeting': greetlib.greet(input['name'])}\n";
    let opts = BuildOptions {
        vendor: Some(vendor.path().to_path_buf()),
        requirements: None,
    };
    let bytes = tokio::task::spawn_blocking({
        let opts = opts.clone();
        move || build_plugin("greeter", src, &opts)
    })
    .await
    .unwrap()
    .unwrap();
    let plugin = f.host.load_bytes("greeter", &bytes).unwrap();
    let out = plugin
        .run(Policy::deny_all(), r#"{"name":"py"}"#)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out.output).unwrap(),
        json!({"greeting": "hello, py"})
    );

    // A package with a compiled extension is refused, by name.
    std::fs::create_dir_all(vendor.path().join("numpy")).unwrap();
    std::fs::write(
        vendor
            .path()
            .join("numpy/_core.cpython-314-x86_64-linux-gnu.so"),
        b"\x7fELF",
    )
    .unwrap();
    let e = build_plugin("n", src, &opts).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
    assert!(
        e.to_string()
            .contains("numpy needs a WASI build, which is not available"),
        "{e}"
    );

    // A syntax error in the plugin is COMPILE at build time.
    let e = build_plugin(
        "bad",
        "def run(i)\n    return 1\n",
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
}

/// The snapshot is frozen out of the collector, and cyclic garbage is still
/// collected during a long call: 400 000 self-referencing lists (~40 MiB if
/// never collected) fit in a 32 MiB memory limit.
#[tokio::test(flavor = "multi_thread")]
async fn the_collector_skips_the_snapshot_but_still_collects() {
    let v = py(
        "import gc\ndef run(i):\n    return gc.get_freeze_count() > 1000",
        "null",
    )
    .await
    .unwrap();
    assert_eq!(v, json!(true));
    let p = Policy::deny_all().with_limits(Limits {
        timeout: Duration::from_secs(10),
        memory_bytes: 32 << 20,
        ..Limits::default()
    });
    let cycles = "def run(i):\n    for _ in range(400_000):\n        a = [None] * 8\n        a[0] = a\n    return 'done'";
    let out = exec_with(p, cycles, "null").await.into_result();
    assert_eq!(out.unwrap(), "\"done\"");
}
