//! Plugins: upload (component and source), describe, run, invoke, forget;
//! and hot reload of a watched directory under load.

use std::time::Duration;

use serde_json::{Value, json};
use warden_fixtures as fx;

use crate::support::{self, Options, code};

async fn put(
    s: &support::TestServer,
    name: &str,
    body: Vec<u8>,
    content_type: &str,
) -> (u16, Value) {
    let resp = s
        .client
        .put(s.url(&format!("/v1/plugins/{name}")))
        .bearer_auth(&s.admin)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_describe_run_invoke_and_forget() {
    let s = support::start(Options::default()).await;
    let (status, up) = put(
        &s,
        "hello",
        std::fs::read(fx::HELLO).unwrap(),
        "application/wasm",
    )
    .await;
    assert_eq!((status, &up["version"]), (201, &json!(1)), "{up}");
    let (status, r) = s
        .post(
            "/v1/plugins/hello/run",
            &s.admin,
            json!({ "input": { "name": "http" } }),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["output"], json!({ "greeting": "hello, http" }));
    assert_eq!(r["version"], 1);
    // Described with its WIT and load status.
    let (status, d) = s.get("/v1/plugins/hello", &s.admin).await;
    assert_eq!(status, 200);
    assert_eq!(d["status"]["status"], "loaded");
    assert!(
        d["description"]["wit"]
            .as_str()
            .unwrap()
            .contains("run: func"),
        "{d}"
    );
    // A library: WAVE and JSON arguments.
    let (status, _) = put(
        &s,
        "calc",
        std::fs::read(fx::TYPED_EXPORTS).unwrap(),
        "application/wasm",
    )
    .await;
    assert_eq!(status, 201);
    let (status, r) = s
        .post(
            "/v1/plugins/calc/invoke",
            &s.admin,
            json!({ "call": "add(1, 2)" }),
        )
        .await;
    assert_eq!((status, &r["value"]), (200, &json!(3)), "{r}");
    let (status, r) = s
        .post(
            "/v1/plugins/calc/invoke",
            &s.admin,
            json!({ "export": "greet", "args": ["x", 2] }),
        )
        .await;
    assert_eq!(
        (status, &r["value"]),
        (200, &json!(["hello, x", "hello, x"])),
        "{r}"
    );
    let (status, r) = s
        .post(
            "/v1/plugins/calc/invoke",
            &s.admin,
            json!({ "export": "nope", "args": [] }),
        )
        .await;
    assert_eq!((status, code(&r)), (400, "MISSING_EXPORT"), "{r}");
    // JS source, built by the server.
    let (status, up) = put(
        &s,
        "double",
        b"export function run(i) { return i * 2 }".to_vec(),
        "text/javascript",
    )
    .await;
    assert_eq!(status, 201, "{up}");
    let (_, r) = s
        .post("/v1/plugins/double/run", &s.admin, json!({ "input": 21 }))
        .await;
    assert_eq!(r["output"], json!(42), "{r}");
    // Python source too (componentize-py), and a syntax error is COMPILE.
    let (status, up) = put(
        &s,
        "triple",
        b"def run(i):\n    return i * 3\n".to_vec(),
        "text/x-python",
    )
    .await;
    assert_eq!(status, 201, "{up}");
    let (_, r) = s
        .post("/v1/plugins/triple/run", &s.admin, json!({ "input": 14 }))
        .await;
    assert_eq!(r["output"], json!(42), "{r}");
    let (status, bad) = put(&s, "broken", b"def run(i) return".to_vec(), "text/x-python").await;
    assert_eq!((status, code(&bad)), (422, "COMPILE"), "{bad}");
    // Not Wasm: typed, and the name holds no version.
    let (status, bad) = put(&s, "junk", b"not wasm".to_vec(), "application/wasm").await;
    assert_eq!((status, code(&bad)), (400, "NOT_WASM"), "{bad}");
    let (_, d) = s.get("/v1/plugins/junk", &s.admin).await;
    assert_eq!(d["status"]["status"], "failed", "{d}");
    // A bad version leaves the good one serving.
    let (status, _) = put(&s, "hello", b"\0asm garbage".to_vec(), "application/wasm").await;
    assert_eq!(status / 100, 4);
    let (_, d) = s.get("/v1/plugins/hello", &s.admin).await;
    assert_eq!(
        (&d["status"]["version"], &d["status"]["status"]),
        (&json!(1), &json!("loaded")),
        "{d}"
    );
    assert!(d["status"]["last_error"]["code"].is_string(), "{d}");
    // Listed, then forgotten.
    let (_, list) = s.get("/v1/plugins", &s.admin).await;
    let names: Vec<&str> = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["broken", "calc", "double", "hello", "junk", "triple"]
    );
    let (status, _) = s
        .call(
            reqwest::Method::DELETE,
            "/v1/plugins/hello",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, r) = s.post("/v1/plugins/hello/run", &s.admin, json!({})).await;
    assert_eq!((status, code(&r)), (404, "NOT_FOUND"));
    // A bad name is refused, naming the rule.
    let (status, r) = put(&s, "a%24b", vec![], "application/wasm").await;
    assert_eq!(status, 400, "{r}");
}

/// The same component with a custom section added: a new content hash,
/// the same behaviour.
fn new_version_of(bytes: &[u8], tag: &str) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let name = b"warden-test-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    out.push(0); // custom section
    out.push(payload.len() as u8);
    out.extend_from_slice(&payload);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_replaced_under_load_fails_no_call_and_later_calls_see_it() {
    let plugins = tempfile::tempdir().unwrap();
    let original = std::fs::read(fx::HELLO).unwrap();
    std::fs::write(plugins.path().join("greeter.wasm"), &original).unwrap();
    let s = support::start(Options {
        plugins_dir: Some(plugins.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let (_, before) = s.get("/v1/plugins/greeter", &s.admin).await;
    assert_eq!(before["status"]["version"], 1, "{before}");
    let hash_before = before["status"]["content_hash"].clone();
    // 50 calls in flight while the file is replaced (written aside, renamed in).
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (client, url, token) = (
            s.client.clone(),
            s.url("/v1/plugins/greeter/run"),
            s.admin.clone(),
        );
        calls.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "input": { "name": format!("n{i}") } }))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        });
    }
    let staged = plugins.path().join("greeter.wasm.tmp");
    std::fs::write(&staged, new_version_of(&original, "v2")).unwrap();
    std::fs::rename(&staged, plugins.path().join("greeter.wasm")).unwrap();
    let mut versions = std::collections::BTreeSet::new();
    while let Some(done) = calls.join_next().await {
        let (status, r) = done.unwrap();
        assert_eq!(status, 200, "no call fails during the swap: {r}");
        assert!(
            r["output"]["greeting"]
                .as_str()
                .unwrap()
                .starts_with("hello, n")
        );
        versions.insert(r["version"].as_u64().unwrap());
    }
    assert!(versions.iter().all(|v| *v == 1 || *v == 2), "{versions:?}");
    // Later calls see the new version.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, r) = s
            .post("/v1/plugins/greeter/run", &s.admin, json!({ "input": {} }))
            .await;
        if r["version"] == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new version never served: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, after) = s.get("/v1/plugins/greeter", &s.admin).await;
    assert_ne!(after["status"]["content_hash"], hash_before);
    // A broken file leaves version 2 serving, with the error shown.
    std::fs::write(
        plugins.path().join("greeter.wasm"),
        b"\0asm\x0d\0\x01\0broken",
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, d) = s.get("/v1/plugins/greeter", &s.admin).await;
        if d["status"]["last_error"].is_object() {
            assert_eq!(d["status"]["version"], 2, "{d}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed load never showed: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, r) = s
        .post("/v1/plugins/greeter/run", &s.admin, json!({ "input": {} }))
        .await;
    assert_eq!((status, &r["version"]), (200, &json!(2)), "{r}");
}
