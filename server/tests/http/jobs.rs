//! Jobs: submit, poll, cancel, and the SSE stream in order, resumable.

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::support::{self, Options, TestServer};

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// Read a job's events until the stream ends; the first event's arrival
/// is noted with whether the job had finished by then.
pub async fn read_events(s: &TestServer, token: &str, id: &str, last: Option<u64>) -> Vec<Sse> {
    let mut req = s
        .client
        .get(s.url(&format!("/v1/jobs/{id}/events")))
        .bearer_auth(token);
    if let Some(l) = last {
        req = req.header("Last-Event-ID", l.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, None, None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                events.push(Sse { id, event, data });
            }
        }
    }
    events
}

const LOGS_AND_EVENTS: &str = "async (i) => {
    log('info', 'one');
    emit('job.progress', { step: 1 });
    let x = 0;
    for (let k = 0; k < 200000; k++) { x += k % 7; }
    log('info', 'two');
    return x > 0 ? 7 : 0;
}";

#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_events_arrive_in_order_and_resume_after_last_event_id() {
    let s = support::start(Options::default()).await;
    let (status, job) = s
        .post(
            "/v1/jobs",
            &s.admin,
            json!({ "language": "js", "code": LOGS_AND_EVENTS,
                    "config": { "trust": "low", "grants": { "event_topics": ["job.*"] } } }),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let events = read_events(&s, &s.admin, &id, None).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        ["queued", "started", "log", "event", "log", "done"],
        "{events:?}"
    );
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    assert_eq!(events[2].data, json!({ "level": "info", "message": "one" }));
    assert_eq!(
        events[3].data,
        json!({ "topic": "job.progress", "payload": { "step": 1 } })
    );
    assert_eq!(events[5].data["state"], "succeeded");
    assert_eq!(events[5].data["execution"]["output"], json!(7));
    // Resume after event 2: exactly 3..6, nothing lost or repeated.
    let resumed = read_events(&s, &s.admin, &id, Some(2)).await;
    assert_eq!(resumed, events[2..].to_vec());
    // After the last one: the stream ends at once, empty.
    assert!(read_events(&s, &s.admin, &id, Some(6)).await.is_empty());
    // Polling agrees.
    let (status, polled) = s.get(&format!("/v1/jobs/{id}"), &s.admin).await;
    assert_eq!(status, 200);
    assert_eq!(polled["state"], "succeeded");
    assert_eq!(polled["execution"]["output"], json!(7));
    // A bad Last-Event-ID is named.
    let resp = s
        .client
        .get(s.url(&format!("/v1/jobs/{id}/events")))
        .bearer_auth(&s.admin)
        .header("Last-Event-ID", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_event_arrives_while_the_job_still_runs_and_cancel_ends_it() {
    let s = support::start(Options::default()).await;
    let (_, job) = s
        .post(
            "/v1/jobs",
            &s.admin,
            json!({ "language": "js", "code": "async () => { log('info', 'begun'); while (true) {} }",
                    "config": { "trust": "low", "limits": { "timeout": "30s" } } }),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let resp = s
        .client
        .get(s.url(&format!("/v1/jobs/{id}/events")))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    // Read until the `log` event arrives: the job is still running then.
    let mut seen = String::new();
    while !seen.contains("event: log") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("the log event arrives while the job runs")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (_, polled) = s.get(&format!("/v1/jobs/{id}"), &s.admin).await;
    assert_eq!(polled["state"], "running", "{polled}");
    // Cancel: the stream ends with `error`, the job is cancelled.
    let (status, cancelled) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/jobs/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!((status, &cancelled["state"]), (200, &json!("cancelled")));
    while let Some(chunk) = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
        .await
        .expect("the stream ends after the cancel")
    {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(seen.contains("event: error"), "{seen}");
    assert!(seen.contains("CANCELLED"), "{seen}");
}
