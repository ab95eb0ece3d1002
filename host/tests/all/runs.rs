//! Runs end to end: receipts, events, kv persistence, reuse, symlink escapes,
//! and the cargo-component authoring path.

use std::path::Path;

use warden_fixtures as fx;
use warden_host::{Capability, FileKv, Grants, Host, KvGrant, MemoryEventSink, Policy, TrustLevel};

use crate::support;

#[tokio::test(flavor = "multi_thread")]
async fn hello_runs_with_nothing_granted() {
    let out = support::load(fx::HELLO)
        .run(Policy::deny_all(), r#"{"name":"warden"}"#)
        .await
        .unwrap();
    assert_eq!(out.output, r#"{"greeting":"hello, warden"}"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn receipt_records_what_was_touched() {
    let grants = Grants::none().with_kv(KvGrant {
        namespace: Some("receipt-test".into()),
        quota_bytes: 1024,
    });
    let p = support::load(fx::KV_COUNTER)
        .prepare(Policy::deny_all().with_grants(grants))
        .unwrap();
    let out = p.run(r#"{"key":"visits"}"#).await;
    let r = &out.receipt;
    assert_eq!(r.plugin, "kv_counter");
    assert_eq!(r.export, "run");
    assert_eq!(r.host_calls.kv, 2, "{r:?}"); // get + set
    assert!(r.kv_keys.contains("visits"), "{r:?}");
    assert!(r.peak_memory_bytes > 0);
    assert!(r.wall_time_us >= r.instantiate_us);
    assert!(!r.reused_instance);
    assert!(r.denials.is_empty());
    assert!(out.into_result().unwrap().output.contains("\"count\":1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn receipt_records_denials_and_hosts() {
    let addr = support::http_server().await;
    let p = support::load(fx::HTTP_FETCH)
        .prepare(Policy::deny_all().with_grants(Grants::none().allow_http("*.example.com")))
        .unwrap();
    let out = p.run(&format!(r#"{{"url":"http://{addr}/"}}"#)).await;
    assert!(
        out.receipt.http_hosts.contains(&addr.to_string()),
        "{:?}",
        out.receipt
    );
    assert_eq!(out.receipt.host_calls.http, 1);
    assert!(
        out.receipt.denials[0].contains(&addr.to_string()),
        "{:?}",
        out.receipt
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_the_sink_and_logs_are_captured() {
    let sink = MemoryEventSink::new();
    let host = support::builder().event_sink(sink.clone()).build().unwrap();
    let grants = Grants::none().allow_events("orders.*");
    let out = host
        .load_file(fx::EVENT_EMITTER)
        .unwrap()
        .run(
            Policy::deny_all().with_grants(grants),
            r#"{"topic":"orders.new","payload":{"id":1},"count":2}"#,
        )
        .await
        .unwrap();
    assert!(out.output.contains("\"emitted\":2"));
    let events = sink.take();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].topic, "orders.new");
    assert_eq!(events[0].payload, serde_json::json!({"id": 1}));
    assert_eq!(events[0].plugin, "event_emitter");

    let p = support::load(fx::LOGGER)
        .prepare(Policy::deny_all().with_grants(Grants::none().allow(Capability::Log).unwrap()))
        .unwrap();
    let out = p
        .run(r#"{"level":"warn","message":"careful","count":1}"#)
        .await;
    assert_eq!(out.logs.len(), 1);
    assert_eq!(out.logs[0].level, "warn");
    assert_eq!(out.logs[0].message, "careful");
    assert_eq!(out.receipt.host_calls.log, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn file_kv_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::trust(TrustLevel::Medium);
    for expected in 1..=2 {
        // A new host each time: only the files carry the state.
        let host = Host::builder()
            .cache_dir(support::cache_dir())
            .kv(FileKv::open(dir.path()).unwrap())
            .build()
            .unwrap();
        let out = host
            .load_file(fx::KV_COUNTER)
            .unwrap()
            .run(policy.clone(), r#"{"key":"restarts"}"#)
            .await
            .unwrap();
        assert!(
            out.output.contains(&format!("\"count\":{expected}")),
            "{}",
            out.output
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_namespaces_are_isolated_per_plugin() {
    let p = |ns: &str| {
        support::load(fx::KV_COUNTER)
            .prepare(
                Policy::deny_all().with_grants(Grants::none().with_kv(KvGrant {
                    namespace: Some(ns.into()),
                    quota_bytes: 1024,
                })),
            )
            .unwrap()
    };
    let a = p("iso-a");
    let b = p("iso-b");
    assert!(
        a.run("{}")
            .await
            .into_result()
            .unwrap()
            .output
            .contains(":1")
    );
    assert!(
        a.run("{}")
            .await
            .into_result()
            .unwrap()
            .output
            .contains(":2")
    );
    assert!(
        b.run("{}")
            .await
            .into_result()
            .unwrap()
            .output
            .contains(":1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_mode_keeps_the_instance() {
    let p = support::load(fx::HELLO)
        .prepare(Policy::deny_all())
        .unwrap()
        .with_reuse();
    let first = p.run("{}").await;
    assert!(!first.receipt.reused_instance);
    assert!(first.receipt.instantiate_us > 0);
    let second = p.run(r#"{"name":"again"}"#).await;
    assert!(second.receipt.reused_instance);
    assert_eq!(second.receipt.instantiate_us, 0);
    assert!(second.into_result().unwrap().output.contains("again"));
}

#[tokio::test(flavor = "multi_thread")]
async fn symlinks_cannot_escape_the_preopen() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let granted = tempfile::tempdir().unwrap();
    std::fs::write(granted.path().join("ok.txt"), "fine").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        granted.path().join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), granted.path().join("dirlink")).unwrap();
    let p = support::load(fx::FILE_READER)
        .prepare(Policy::deny_all().with_grants(Grants::none().allow_dir(
            granted.path(),
            ".",
            false,
        )))
        .unwrap();
    let ok = p.run(r#"{"path":"ok.txt"}"#).await;
    assert!(ok.receipt.paths.contains("ok.txt"), "{:?}", ok.receipt);
    assert_eq!(ok.receipt.dirs.len(), 1);
    assert!(ok.into_result().unwrap().output.contains("fine"));
    for path in ["link.txt", "dirlink/secret.txt"] {
        let e = p
            .run(&format!(r#"{{"path":"{path}"}}"#))
            .await
            .into_result()
            .unwrap_err();
        assert!(e.to_string().contains("io error"), "{path}: {e}");
        assert!(!e.to_string().contains("top secret"));
    }
}

/// The `cargo component build` authoring path: a guest whose Cargo.toml
/// targets the shared world through `[package.metadata.component]`.
#[tokio::test(flavor = "multi_thread")]
async fn cargo_component_guest_builds_and_runs() {
    let dir = Path::new(fx::HELLO_CC_DIR);
    let target = Path::new(fx::WORKSPACE_ROOT).join("target/guests-cc");
    let status = std::process::Command::new("cargo")
        .current_dir(dir)
        .args(["component", "build", "--release", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running `cargo component` (make setup installs cargo-component)");
    assert!(status.success(), "cargo component build failed");
    let wasm = target.join("wasm32-wasip1/release/hello_cc.wasm");
    let out = support::host()
        .load_file(&wasm)
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
        .run(Policy::deny_all(), r#"{"name":"cc"}"#)
        .await
        .unwrap();
    assert!(
        out.output.contains("hello from cargo-component, cc"),
        "{}",
        out.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_calls_own_host_functions_are_its_own() {
    use warden_host::CallFunctions;
    let policy = Policy::deny_all().with_grants(
        Grants::none()
            .allow(Capability::Log)
            .unwrap()
            .allow_host_fns(["whoami", "add"]),
    );
    let prepared = support::load(fx::HOST_CALLBACK).prepare(policy).unwrap();
    let tenant = |name: &'static str| {
        CallFunctions::new().with("whoami", move |call| async move {
            // Yield so the two tenants' calls interleave.
            tokio::task::yield_now().await;
            Ok(serde_json::json!({ "tenant": name, "args": call.args }))
        })
    };
    let whoami = r#"{"name":"whoami","args":[1]}"#;
    // Two tenants at once: each sees its own function only.
    let (a, b) = tokio::join!(
        tenant("a").scope(prepared.run(whoami)),
        tenant("b").scope(prepared.run(whoami)),
    );
    assert_eq!(
        a.into_result().unwrap().output,
        r#"{"args":[1],"tenant":"a"}"#
    );
    assert_eq!(
        b.into_result().unwrap().output,
        r#"{"args":[1],"tenant":"b"}"#
    );
    // Outside any scope the name is unknown, and the message lists what is.
    let err = prepared.run(whoami).await.into_result().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no host function named `whoami`"), "{msg}");
    // A call's own function shadows the host's of the same name; the host's
    // stays for everyone else.
    let add = r#"{"name":"add","args":{"a":1,"b":2}}"#;
    let own = CallFunctions::new().with("add", |_| async { Ok(serde_json::json!("mine")) });
    assert_eq!(
        own.scope(prepared.run(add))
            .await
            .into_result()
            .unwrap()
            .output,
        r#""mine""#
    );
    assert_eq!(prepared.run(add).await.into_result().unwrap().output, "3");
    // The grant still decides: a scope does not grant.
    let ungranted = support::load(fx::HOST_CALLBACK)
        .prepare(
            Policy::deny_all().with_grants(
                Grants::none()
                    .allow(Capability::Log)
                    .unwrap()
                    .allow_host_fns(["add"]),
            ),
        )
        .unwrap();
    let err = tenant("a")
        .scope(ungranted.run(whoami))
        .await
        .into_result()
        .unwrap_err();
    assert!(err.to_string().contains("whoami"), "{err}");
}
