//! `POST /v1/execute`: outputs, typed errors with their statuses, and bad
//! requests, with the server serving on after each.

use serde_json::json;

use crate::support::{self, Options, code};

#[tokio::test(flavor = "multi_thread")]
async fn execute_returns_the_whole_report() {
    let s = support::start(Options::default()).await;
    let (status, r) = s
        .post(
            "/v1/execute",
            &s.admin,
            json!({ "language": "js", "code": "async (i) => ({ doubled: i.n * 2, echoed: await call('echo', i) })",
                    "input": { "n": 21 }, "config": { "grants": { "host_fns": { "only": ["echo"] } } } }),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["output"], json!({ "doubled": 42, "echoed": { "n": 21 } }));
    assert_eq!(r["runtime"], "js");
    assert!(
        r["decision"]["reason"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{r}"
    );
    assert!(r["total_us"].as_u64().unwrap() > 0);
    assert_eq!(r["receipt"]["host_fns"], json!(["echo"]), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_input_gets_a_typed_error_and_the_server_keeps_serving() {
    let s = support::start(Options::default()).await;
    let cases = [
        // (body, status, code)
        (
            json!({ "language": "js", "code": "(i) => {" }),
            422,
            "COMPILE",
        ),
        (
            json!({ "language": "js", "code": "async () => kv.get('a')" }),
            403,
            "CAPABILITY_DENIED",
        ),
        (
            json!({ "language": "wasm", "code": { "base64": "aGVsbG8=" } }),
            400,
            "NOT_WASM",
        ),
        (
            json!({ "language": "js", "code": "() => { while (true) {} }", "config": { "limits": { "timeout": "100ms" } } }),
            422,
            "TIMEOUT",
        ),
        (
            json!({ "language": "cobol", "code": "x" }),
            400,
            "INVALID_INPUT",
        ),
        (
            json!({ "language": "js", "code": "1", "config": { "grnts": {} } }),
            400,
            "INVALID_INPUT",
        ),
        (
            json!({ "language": "python", "code": "def run(i): return i" }),
            400,
            "NO_RUNTIME",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, answer) = s.post("/v1/execute", &s.admin, body.clone()).await;
        assert_eq!(
            (status, code(&answer)),
            (want_status, want_code),
            "{body}: {answer}"
        );
    }
    // The capability is named.
    let (_, answer) = s.js("async () => kv.get('a')").await;
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("kv"),
        "{answer}"
    );
    // An unknown field is named with its path.
    let (_, answer) = s
        .post(
            "/v1/execute",
            &s.admin,
            json!({ "language": "js", "code": "1", "config": { "grnts": {} } }),
        )
        .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("grnts"),
        "{answer}"
    );
    // Not JSON at all.
    let resp = s
        .client
        .post(s.url("/v1/execute"))
        .bearer_auth(&s.admin)
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "INVALID_INPUT");
    // An unknown route is a typed 404 too.
    let (status, body) = s.get("/v1/nothing", &s.admin).await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    // And it still serves.
    let (status, r) = s.js("() => 'still here'").await;
    assert_eq!((status, &r["output"]), (200, &json!("still here")));
}

#[tokio::test(flavor = "multi_thread")]
async fn runtimes_list_start_stop_and_ready() {
    let s = support::start(Options::default()).await;
    let (status, body) = s.get("/v1/runtimes", &s.admin).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wasm", "js"], "{body}");
    // Not warmed up: not ready until started.
    let (status, body) = s.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(status, 503, "{body}");
    for name in ["wasm", "js"] {
        let (status, body) = s
            .post(&format!("/v1/runtimes/{name}/start"), &s.admin, json!(null))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = s.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = s.post("/v1/runtimes/js/stop", &s.admin, json!(null)).await;
    assert_eq!(status, 200);
    let (status, r) = s.js("() => 1").await;
    // A stopped runtime is no candidate: NO_RUNTIME, saying why.
    assert_eq!((status, code(&r)), (400, "NO_RUNTIME"), "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("stopped"),
        "{r}"
    );
    let (status, body) = s
        .post("/v1/runtimes/nope/start", &s.admin, json!(null))
        .await;
    assert_eq!(status / 100, 4, "{body}");
}
