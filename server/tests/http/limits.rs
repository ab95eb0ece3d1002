//! Body size, request timeout, slow clients, a full queue, and metrics.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{self, Options, code};

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_413_naming_the_limit() {
    let s = support::start(Options {
        body_limit: Some(64 * 1024),
        ..Options::default()
    })
    .await;
    let big = "x".repeat(100 * 1024);
    let (status, body) = s
        .post(
            "/v1/execute",
            &s.admin,
            json!({ "language": "js", "code": big }),
        )
        .await;
    assert_eq!((status, code(&body)), (413, "INPUT_TOO_LARGE"), "{body}");
    assert_eq!(body["error"]["details"]["limit_bytes"], 64 * 1024);
    let (status, _) = s.js("() => 1").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_the_request_timeout_is_cut_off_with_a_typed_error() {
    let s = support::start(Options {
        request_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    })
    .await;
    let (status, body) = s
        .post(
            "/v1/execute",
            &s.admin,
            json!({ "language": "js", "code": "() => { while (true) {} }", "config": { "limits": { "timeout": "30s" } } }),
        )
        .await;
    assert_eq!((status, code(&body)), (503, "UNAVAILABLE"), "{body}");
    assert_eq!(body["error"]["details"]["request_timeout_ms"], 300);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_too_slow_to_send_its_head_is_disconnected() {
    let s = support::start(Options {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    })
    .await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // ...and never the blank line.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(read.is_ok());
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    // Others are served meanwhile and after.
    let (status, _) = s.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_is_503_busy_with_retry_after() {
    let s = support::start(Options {
        max_in_flight: Some(1),
        queue: Some(0),
        ..Options::default()
    })
    .await;
    let resp = s
        .client
        .put(s.url("/v1/plugins/hello"))
        .bearer_auth(&s.admin)
        .body(std::fs::read(warden_fixtures::HELLO).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // A job spins in the only slot (the queue holds none).
    let spin = json!({ "language": "js", "code": "() => { while (true) {} }", "config": { "limits": { "timeout": "3s" } } });
    let (status, job) = s.post("/v1/jobs", &s.admin, spin).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, polled) = s.get(&format!("/v1/jobs/{id}"), &s.admin).await;
        if polled["state"] == "running" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never running: {polled}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = s
        .client
        .post(s.url("/v1/execute"))
        .bearer_auth(&s.admin)
        .json(&json!({ "language": "js", "code": "() => 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "BUSY", "{body}");
    // A plugin's run takes a slot like every execution.
    let (status, body) = s
        .post("/v1/plugins/hello/run", &s.admin, json!({ "input": {} }))
        .await;
    assert_eq!((status, code(&body)), (503, "BUSY"), "{body}");
    // So does a new job.
    let (status, body) = s
        .post(
            "/v1/jobs",
            &s.admin,
            json!({ "language": "js", "code": "() => 1" }),
        )
        .await;
    assert_eq!((status, code(&body)), (503, "BUSY"), "{body}");
    let (client, url, token) = (
        s.client.clone(),
        s.url(&format!("/v1/jobs/{id}")),
        s.admin.clone(),
    );
    let finished = async move {
        loop {
            let v: serde_json::Value = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["state"] != "running" {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let v = tokio::time::timeout(Duration::from_secs(20), finished)
        .await
        .expect("the spinning job ends");
    assert_eq!(v["execution"]["error"]["code"], "TIMEOUT", "{v}");
    // Free again.
    let (status, _) = s.js("() => 1").await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post("/v1/plugins/hello/run", &s.admin, json!({ "input": {} }))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_by_route_and_status() {
    let s = support::start(Options {
        metrics_listen: true,
        ..Options::default()
    })
    .await;
    let (status, _) = s.js("() => 1").await;
    assert_eq!(status, 200);
    let _ = s.get("/v1/jobs/nope", &s.admin).await;
    let resp = s
        .client
        .get(s.url("/metrics"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            r#"warden_http_requests_total{route="/v1/execute",method="POST",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/jobs/{id}",method="GET",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("warden_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("warden_executions"),
        "the controller's metrics too: {text}"
    );
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(text.trim_end().ends_with("# EOF"));
    // On its own address it needs no token.
    let addr = std::fs::read_to_string(s.dir.path().join("metrics.addr")).unwrap();
    let resp = s
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_calls_in_flight_and_jobs_finish() {
    let s = support::start(Options::default()).await;
    let slow = json!({ "language": "js", "code": "() => { let x = 0; for (let k = 0; k < 500000; k++) { x += k % 3; } return x > 0; }" });
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url, token, body) = (
            s.client.clone(),
            s.url("/v1/execute"),
            s.admin.clone(),
            slow.clone(),
        );
        calls.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        });
    }
    let (_, job) = s.post("/v1/jobs", &s.admin, slow.clone()).await;
    assert!(job["id"].is_string());
    // Every call has reached the server (each takes a good part of a second).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let addr = s.addr;
    let report = s.stop().await;
    assert!(report.requests_drained, "{report:?}");
    assert_eq!(report.jobs_left, 0);
    let mut answered = 0;
    while let Some(r) = calls.join_next().await {
        let (status, body) = r.unwrap();
        assert_eq!((status, &body["output"]), (200, &json!(true)), "{body}");
        answered += 1;
    }
    assert_eq!(answered, 20);
    // It no longer accepts.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
