//! Embedding warden in a Rust service: load plugins, grant capabilities,
//! register a host function and an event sink, call, read the receipt.
//!
//! Run: `cargo run --release --example embed` (the guests are built by the
//! `warden-fixtures` dev-dependency).

use std::time::Duration;

use warden_host::{Capability, ErrorCode, Grants, Host, Limits, MemoryEventSink, Policy};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = MemoryEventSink::new();
    let host = Host::builder()
        .cache_dir(std::env::temp_dir().join("warden-example-cache"))
        .event_sink(events.clone())
        .host_fn("add", |call| async move {
            let a = call.args["a"].as_i64().ok_or("a must be an integer")?;
            let b = call.args["b"].as_i64().ok_or("b must be an integer")?;
            Ok(serde_json::json!(a + b))
        })
        .build()?;

    // 1. A plugin that needs nothing.
    let hello = host.load_file(warden_fixtures::HELLO)?;
    let out = hello
        .run(Policy::deny_all(), r#"{"name":"embedder"}"#)
        .await?;
    println!("hello      -> {}", out.output);

    // 2. A host callback, granted by name, with tight limits.
    let policy = Policy::deny_all()
        .with_grants(Grants::none().allow_host_fns(["add"]))
        .with_limits(Limits {
            timeout: Duration::from_millis(250),
            memory_bytes: 16 << 20,
            ..Limits::default()
        });
    let callback = host
        .load_file(warden_fixtures::HOST_CALLBACK)?
        .prepare(policy)?;
    let outcome = callback
        .run(r#"{"name":"add","args":{"a":40,"b":2}}"#)
        .await;
    println!(
        "callback   -> {} (host calls: {}, {} µs)",
        outcome
            .result
            .as_ref()
            .map(|o| o.output.as_str())
            .unwrap_or("error"),
        outcome.receipt.host_calls.host,
        outcome.receipt.wall_time_us
    );

    // 3. Events go to the embedder's sink.
    let emitter = host.load_file(warden_fixtures::EVENT_EMITTER)?;
    let grants = Grants::none().allow_events("orders.*");
    emitter
        .run(
            Policy::deny_all().with_grants(grants),
            r#"{"topic":"orders.created","payload":{"id":7}}"#,
        )
        .await?;
    println!("events     -> {:?}", events.take());

    // 4. A denial: kv is not granted, so the plugin never starts.
    let kv = host.load_file(warden_fixtures::KV_COUNTER)?;
    let err = kv.prepare(Policy::deny_all()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CapabilityDenied);
    println!("denied     -> [{}] {err}", err.code());

    // 5. Granted, it runs; the receipt says what it touched.
    let prepared =
        kv.prepare(Policy::deny_all().with_grants(Grants::none().allow(Capability::Kv)?))?;
    let outcome = prepared.run(r#"{"key":"visits"}"#).await;
    println!("kv         -> {}", outcome.result?.output);
    println!("receipt    -> {}", serde_json::to_string(&outcome.receipt)?);
    Ok(())
}
