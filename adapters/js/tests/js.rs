//! JavaScript and TypeScript on warden: snippets in fresh sandboxes, baked
//! plugins, every error kind, and an allowed and a denied case per capability.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use warden_host::Language;
use warden_host::{
    Capability, ErrorCode, Grants, Host, KvGrant, Limits, MemoryEventSink, Outcome, Policy,
};
use warden_js::{JsEngine, build_plugin};

struct Fixture {
    host: Host,
    engine: JsEngine,
    events: MemoryEventSink,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let events = MemoryEventSink::new();
                let cache = Box::leak(Box::new(tempfile::tempdir().unwrap()));
                let host = Host::builder()
                    .cache_dir(cache.path())
                    .event_sink(events.clone())
                    .host_fn("add", |c| async move {
                        Ok(json!(
                            c.args["a"].as_i64().unwrap_or(0) + c.args["b"].as_i64().unwrap_or(0)
                        ))
                    })
                    .host_fn("echo", |c| async move { Ok(c.args) })
                    .build()
                    .unwrap();
                let engine = JsEngine::new(&host).await.unwrap();
                Fixture {
                    host,
                    engine,
                    events,
                }
            })
        })
        .join()
        .unwrap()
    })
}

async fn exec_with(policy: Policy, lang: Language, src: &str, input: &str) -> Outcome<String> {
    fixture()
        .engine
        .prepare(policy)
        .unwrap()
        .exec(lang, src, input)
        .await
}

async fn js(src: &str, input: &str) -> Result<Value, warden_host::Error> {
    exec_with(Policy::deny_all(), Language::JavaScript, src, input)
        .await
        .into_result()
        .map(|s| serde_json::from_str(&s).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn module_and_codemode_conventions() {
    let v = js(
        "export function run(input) { return { got: input.a + 1 } }",
        r#"{"a": 1}"#,
    )
    .await
    .unwrap();
    assert_eq!(v, json!({"got": 2}));
    let v = js(
        "export default async function (i) { return i.s.toUpperCase() }",
        r#"{"s":"x"}"#,
    )
    .await
    .unwrap();
    assert_eq!(v, json!("X"));
    let v = js(
        "async (input) => input.xs.map(x => x * 2)",
        r#"{"xs":[1,2,3]}"#,
    )
    .await
    .unwrap();
    assert_eq!(v, json!([2, 4, 6]));
    let v = js("(input) => ({ n: input.length })", "[1,2]")
        .await
        .unwrap();
    assert_eq!(v, json!({"n": 2}));
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_is_stripped_keeping_positions() {
    let ts = "interface In { n: number }\nexport function run(input: In): number {\n  return input.n * 2;\n}";
    let out = exec_with(Policy::deny_all(), Language::TypeScript, ts, r#"{"n": 21}"#).await;
    assert_eq!(out.into_result().unwrap(), "42");

    // A runtime error on line 3 of the TS source reports line 3.
    let ts = "type T = { a: string };\nexport function run(i: T) {\n  throw new Error('boom ' + i.a);\n}";
    let e = exec_with(Policy::deny_all(), Language::TypeScript, ts, r#"{"a":"x"}"#)
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::GuestError, "{e}");
    assert!(e.to_string().contains("boom x"), "{e}");
    assert!(
        e.to_string().contains(":3:"),
        "stack with line 3 expected: {e}"
    );

    // A TS syntax error is COMPILE with the position.
    let e = exec_with(
        Policy::deny_all(),
        Language::TypeScript,
        "let x: = 1;",
        "null",
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
    assert!(e.to_string().contains("1:"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_typed_and_the_host_keeps_serving() {
    // Syntax error → COMPILE with line:col.
    let e = js("export function run() {\n  return 1 +;\n}", "null")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
    assert!(e.to_string().contains("2:"), "line 2 expected: {e}");
    // A thrown value → GUEST_ERROR with message and stack.
    let e = js(
        "export function run() { throw new TypeError('nope') }",
        "null",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::GuestError, "{e}");
    assert!(e.to_string().contains("TypeError: nope"), "{e}");
    assert!(e.to_string().contains("at "), "stack expected: {e}");
    // Not JSON-able → SERIALIZATION.
    let e = js("() => BigInt(1)", "null").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Serialization, "{e}");
    let e = js("() => undefined", "null").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Serialization, "{e}");
    // A promise that never settles → TIMEOUT, at once.
    let e = js(
        "async () => { await new Promise(() => {}); return 1 }",
        "null",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Timeout, "{e}");
    // Bad input JSON → INVALID_INPUT.
    let e = js("(i) => i", "{oops").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    // Still serving.
    assert_eq!(js("() => 'ok'", "null").await.unwrap(), json!("ok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn runaways_are_stopped() {
    let limits = Limits {
        timeout: Duration::from_millis(300),
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let p = Policy::deny_all().with_limits(limits);
    let e = exec_with(
        p.clone(),
        Language::JavaScript,
        "() => { while (true) {} }",
        "null",
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Timeout, "{e}");
    let bomb = "() => { const a = []; while (true) a.push(new Array(1e6).fill(1)); }";
    let e = exec_with(p, Language::JavaScript, bomb, "null")
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::MemoryLimit, "{e}");
    assert_eq!(js("() => 1", "null").await.unwrap(), json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_is_a_fresh_sandbox() {
    let src =
        "() => { globalThis.counter = (globalThis.counter || 0) + 1; return globalThis.counter }";
    assert_eq!(js(src, "null").await.unwrap(), json!(1));
    assert_eq!(js(src, "null").await.unwrap(), json!(1));
}

// ---- capabilities: one allowed and one denied case each -----------------

fn grants(g: Grants) -> Policy {
    Policy::deny_all().with_grants(g)
}

#[tokio::test(flavor = "multi_thread")]
async fn log_allowed_and_denied() {
    let src = "import { log } from 'warden:plugin/log';\nexport function run() { log('info', 'hi'); console.warn('w', 1); return 1 }";
    let out = exec_with(
        grants(Grants::none().allow(Capability::Log).unwrap()),
        Language::JavaScript,
        src,
        "null",
    )
    .await;
    assert_eq!(out.logs.len(), 2, "{:?}", out.logs);
    assert_eq!(out.logs[1].message, "w 1");
    out.into_result().unwrap();
    let e = exec_with(Policy::deny_all(), Language::JavaScript, src, "null")
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
    // console.* without the grant is dropped, not an error.
    assert_eq!(
        js("() => { console.log('x'); return 2 }", "null")
            .await
            .unwrap(),
        json!(2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_allowed_and_denied() {
    let src = "import { get, set, listKeys } from 'warden:plugin/kv';\nexport function run(i) { set(i.k, 'v1'); return { v: get(i.k), keys: listKeys('') } }";
    let g = Grants::none().with_kv(KvGrant {
        namespace: Some("js-kv".into()),
        quota_bytes: 1024,
    });
    let out = exec_with(grants(g), Language::JavaScript, src, r#"{"k":"a"}"#)
        .await
        .into_result()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"v": "v1", "keys": ["a"]})
    );
    let e = exec_with(
        Policy::deny_all(),
        Language::JavaScript,
        src,
        r#"{"k":"a"}"#,
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
    assert!(e.to_string().contains("kv"), "{e}");
    // Catchable in JS.
    let caught = "import { get } from 'warden:plugin/kv';\nexport function run() { try { get('x') } catch (e) { return [e.name, e instanceof CapabilityDenied] } }";
    assert_eq!(
        js(caught, "null").await.unwrap(),
        json!(["CapabilityDenied", true])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_calls_allowed_and_denied() {
    let src = "async (i) => { const xs = await Promise.all([1,2,3,4,5,6,7,8,9,10].map(n => call('add', {a: n, b: i.b}))); return xs }";
    let out = exec_with(
        grants(Grants::none().allow_host_fns(["add"])),
        Language::JavaScript,
        src,
        r#"{"b":100}"#,
    )
    .await;
    assert_eq!(out.receipt.host_calls.host, 10);
    let v: Value = serde_json::from_str(&out.into_result().unwrap()).unwrap();
    assert_eq!(v, json!([101, 102, 103, 104, 105, 106, 107, 108, 109, 110]));
    let e = exec_with(
        grants(Grants::none().allow_host_fns(["echo"])),
        Language::JavaScript,
        src,
        r#"{"b":1}"#,
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
    assert!(e.to_string().contains("add"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_allowed_and_denied() {
    let src = "import { emit } from 'warden:plugin/events';\nexport function run(i) { emit(i.topic, { id: 1 }); return 'sent' }";
    let out = exec_with(
        grants(Grants::none().allow_events("js.*")),
        Language::JavaScript,
        src,
        r#"{"topic":"js.created"}"#,
    )
    .await;
    assert_eq!(out.into_result().unwrap(), "\"sent\"");
    assert!(
        fixture()
            .events
            .take()
            .iter()
            .any(|e| e.topic == "js.created" && e.payload == json!({"id": 1}))
    );
    let e = exec_with(
        grants(Grants::none().allow_events("js.*")),
        Language::JavaScript,
        src,
        r#"{"topic":"other"}"#,
    )
    .await
    .into_result()
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_links_its_capabilities_per_call() {
    // The engine imports log, kv, host and events whatever the script uses;
    // it is recognised as a script engine, so deny-all still prepares and
    // plain code runs (each capability is then checked per call, above).
    let engine = fixture().engine.plugin();
    assert!(engine.is_script_engine());
    assert!(
        engine
            .imports()
            .iter()
            .any(|i| i.starts_with("warden:plugin/kv@"))
    );
    assert_eq!(js("() => 7", "null").await.unwrap(), json!(7));
}

// ---- baked plugins -------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn built_plugins_run_like_any_component() {
    let f = fixture();
    let src = "import { get, set } from 'warden:plugin/kv';\nconst greeting = 'hello';\nexport async function run(input) {\n  const n = Number(get('n') ?? 0) + 1;\n  set('n', String(n));\n  return { greeting: `${greeting}, ${input.name}`, n };\n}";
    let bytes = build_plugin(&f.host, "greeter", Language::JavaScript, src)
        .await
        .unwrap();
    let plugin = f.host.load_bytes("greeter", &bytes).unwrap();
    assert!(plugin.is_script_engine());
    let policy = grants(Grants::none().with_kv(KvGrant {
        namespace: Some("greeter".into()),
        quota_bytes: 100,
    }));
    let out = plugin
        .run(policy.clone(), r#"{"name":"js"}"#)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out.output).unwrap(),
        json!({"greeting": "hello, js", "n": 1})
    );
    let out = plugin.run(policy, r#"{"name":"js"}"#).await.unwrap();
    assert!(out.output.contains("\"n\":2"), "{}", out.output);
    // Without the kv grant: a typed denial from `run`.
    let e = plugin
        .run(Policy::deny_all(), r#"{"name":"js"}"#)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::CapabilityDenied, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn build_reports_syntax_errors_with_position() {
    let e = build_plugin(
        &fixture().host,
        "bad",
        Language::JavaScript,
        "export function run() {\n  return (;\n}",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
    assert!(e.to_string().contains("2:"), "{e}");
    let e = build_plugin(
        &fixture().host,
        "bad-ts",
        Language::TypeScript,
        "export function run(x: ) {}",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
}
