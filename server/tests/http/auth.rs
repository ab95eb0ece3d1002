//! 401, 403, 429 and another caller's ids.

use serde_json::json;

use crate::support::{self, Options, code, jwt};

const SNIPPET: &str = "(i) => i.n * 2";

fn exec_body() -> serde_json::Value {
    json!({ "language": "js", "code": SNIPPET, "input": { "n": 21 } })
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_a_bad_one_or_an_expired_jwt_is_401_and_health_is_open() {
    let s = support::start(Options::default()).await;
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/v1/execute",
            None,
            Some(exec_body()),
        )
        .await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{body}");
    let (status, body) = s.post("/v1/execute", "not-a-token", exec_body()).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{body}");
    assert!(
        !body.to_string().contains("not-a-token"),
        "never echo a token"
    );
    let expired = jwt("alice", -10, json!({}));
    let (status, body) = s.post("/v1/execute", &expired, exec_body()).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    // Signed with another secret.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": "mallory", "exp": 4_000_000_000u64 }),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    )
    .unwrap();
    let (status, body) = s.post("/v1/execute", &forged, exec_body()).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{body}"
    );
    // /health and /ready need nothing; /metrics does.
    let (status, _) = s.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = s.call(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 401);
    // A good JWT runs.
    let good = jwt("alice", 600, json!({ "ceiling": { "max_trust": "low" } }));
    let (status, body) = s.post("/v1/execute", &good, exec_body()).await;
    assert_eq!((status, &body["output"]), (200, &json!(42)), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_over_its_ceiling_is_403_naming_what_it_exceeded() {
    let s = support::start(Options::default()).await;
    // The tenant's ceiling: trust at most low, timeouts up to 10 s, the
    // capabilities log, kv and events only.
    let over = [
        (json!({ "trust": "high" }), "trust"),
        (json!({ "limits": { "timeout": "30s" } }), "limits.timeout"),
        (
            json!({ "grants": { "host_fns": { "only": ["echo"] } } }),
            "grants.host",
        ),
    ];
    for (config, field) in over {
        let mut body = exec_body();
        body["config"] = config.clone();
        let (status, answer) = s.post("/v1/execute", &s.tenant, body.clone()).await;
        assert_eq!(
            (status, code(&answer)),
            (403, "OVER_CEILING"),
            "{config}: {answer}"
        );
        assert_eq!(
            answer["error"]["details"]["field"],
            json!(field),
            "{answer}"
        );
        // The admin token has no ceiling of its own.
        let (status, answer) = s.post("/v1/execute", &s.admin, body).await;
        assert_ne!(status, 403, "{config}: {answer}");
    }
    // A JWT's ceiling comes from its claims.
    let low = jwt("bob", 600, json!({ "ceiling": { "max_trust": "low" } }));
    let mut body = exec_body();
    body["config"] = json!({ "trust": "medium" });
    let (status, answer) = s.post("/v1/execute", &low, body).await;
    assert_eq!((status, code(&answer)), (403, "OVER_CEILING"), "{answer}");
    // A plugin outside the token's list.
    let (status, answer) = s
        .post("/v1/plugins/other/run", &s.tenant, json!({ "input": null }))
        .await;
    assert_eq!((status, code(&answer)), (403, "OVER_CEILING"), "{answer}");
    assert_eq!(answer["error"]["details"]["field"], "plugins");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_rate_is_429_with_retry_after() {
    let s = support::start(Options::default()).await;
    for _ in 0..2 {
        let (status, body) = s.get("/v1/runtimes", &s.limited).await;
        assert_eq!(status, 200, "{body}");
    }
    let resp = s
        .client
        .get(s.url("/v1/runtimes"))
        .bearer_auth(&s.limited)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "RATE_LIMITED");
    // Another token is not slowed by it.
    let (status, _) = s.get("/v1/runtimes", &s.admin).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tokens_jobs_and_sessions_are_not_found() {
    let s = support::start(Options::default()).await;
    let (status, job) = s.post("/v1/jobs", &s.admin, exec_body()).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    for path in [format!("/v1/jobs/{id}"), format!("/v1/jobs/{id}/events")] {
        let (status, body) = s.get(&path, &s.tenant).await;
        assert_eq!((status, code(&body)), (404, "NOT_FOUND"), "{path}: {body}");
    }
    let (status, body) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/jobs/{id}"),
            Some(&s.tenant),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = s.get(&format!("/v1/jobs/{id}"), &s.admin).await;
    assert_eq!(status, 200, "{body}");
    // A JWT subject is its own owner, too.
    let carol = jwt("carol", 600, json!({}));
    let (status, _) = s.get(&format!("/v1/jobs/{id}"), &carol).await;
    assert_eq!(status, 404);
}
