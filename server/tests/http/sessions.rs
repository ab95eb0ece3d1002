//! Sessions: state, and the WebSocket protocol including malformed
//! messages (each gets an ERROR; the socket stays open).

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support::{self, Options, code};

const PANEL: &str = "async (input) => {
    const n = Number(kv.get('count') ?? '0') + (input?.by ?? 1);
    kv.set('count', String(n));
    log('info', 'count is ' + n);
    emit('panel.count', { n });
    return { n };
}";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &support::TestServer, token: &str, id: &str) -> Socket {
    let mut req = format!("ws://{}/v1/sessions/{id}/ws", s.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrades")
        .0
}

async fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn send_raw(ws: &mut Socket, text: &str) {
    ws.send(Message::Text(text.to_string().into()))
        .await
        .unwrap();
}

/// The next text message as JSON.
async fn next(ws: &mut Socket) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Messages until one of `kind` (inclusive).
async fn until(ws: &mut Socket, kind: &str) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let m = next(ws).await;
        let done = m["type"] == kind;
        got.push(m);
        if done {
            return got;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_streams_results_patches_events_and_progress() {
    let s = support::start(Options::default()).await;
    let resp = s
        .client
        .put(s.url("/v1/plugins/panel?lang=js"))
        .bearer_auth(&s.admin)
        .body(PANEL)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let grants = json!({ "log": true, "kv": { "namespace": "someone-else", "quota_bytes": "64KiB" }, "event_topics": ["panel.*"] });
    let (status, ses) = s
        .post(
            "/v1/sessions",
            &s.tenant,
            json!({ "plugin": "panel", "grants": grants }),
        )
        .await;
    assert_eq!(status, 201, "{ses}");
    let id = ses["id"].as_str().unwrap().to_string();
    // The namespace is the session's own, whatever the request named.
    assert_eq!(ses["namespace"], json!(format!("session-{id}")));
    let mut ws = connect(&s, &s.tenant, &id).await;
    send(
        &mut ws,
        json!({ "v": 1, "type": "SUBSCRIBE", "topics": ["panel.*"] }),
    )
    .await;
    send(
        &mut ws,
        json!({ "v": 1, "type": "TRIGGER", "id": "t1", "export": "run", "args": { "by": 2 } }),
    )
    .await;
    let mut got = until(&mut ws, "RESULT").await;
    // The hub's PATCH and EVENT may arrive around the RESULT: gather both.
    while !got.iter().any(|m| m["type"] == "PATCH") || !got.iter().any(|m| m["type"] == "EVENT") {
        got.push(next(&mut ws).await);
    }
    let of = |kind: &str| got.iter().find(|m| m["type"] == kind).cloned().unwrap();
    assert_eq!(of("PROGRESS")["stage"], "started");
    let log = got
        .iter()
        .find(|m| m["type"] == "PROGRESS" && m["stage"] == "log")
        .unwrap();
    assert_eq!(log["message"], "count is 2");
    let result = of("RESULT");
    assert_eq!(
        (&result["id"], &result["ok"], &result["value"]),
        (&json!("t1"), &json!(true), &json!({ "n": 2 })),
        "{result}"
    );
    assert_eq!(of("PATCH")["changes"], json!({ "count": 2 }));
    assert_eq!(of("EVENT")["payload"], json!({ "n": 2 }));
    assert!(got.iter().all(|m| m["v"] == 1));
    // The state reads back.
    let (status, state) = s.get(&format!("/v1/sessions/{id}/state"), &s.tenant).await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], json!({ "count": 2 }));
    // Malformed and unknown messages: an ERROR each, the socket stays open.
    send_raw(&mut ws, "{ not json").await;
    assert_eq!(next(&mut ws).await["type"], "ERROR");
    send(&mut ws, json!({ "type": "PING" })).await;
    let e = next(&mut ws).await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("\"v\""),
        "{e}"
    );
    send(&mut ws, json!({ "v": 2, "type": "PING", "id": "p" })).await;
    let e = next(&mut ws).await;
    assert_eq!((&e["type"], &e["id"]), (&json!("ERROR"), &json!("p")));
    send(&mut ws, json!({ "v": 1, "type": "LAUNCH" })).await;
    assert_eq!(next(&mut ws).await["error"]["code"], "INVALID_INPUT");
    send(&mut ws, json!({ "v": 1, "type": "PING", "id": "alive" })).await;
    assert_eq!(
        next(&mut ws).await,
        json!({ "v": 1, "type": "PONG", "id": "alive" })
    );
    // Unsubscribed: no more EVENTs, PATCHes still come.
    send(
        &mut ws,
        json!({ "v": 1, "type": "UNSUBSCRIBE", "topics": ["panel.*"] }),
    )
    .await;
    send(
        &mut ws,
        json!({ "v": 1, "type": "TRIGGER", "id": "t2", "export": "run", "args": {} }),
    )
    .await;
    let mut got = until(&mut ws, "RESULT").await;
    send(&mut ws, json!({ "v": 1, "type": "PING", "id": "end" })).await;
    got.extend(until(&mut ws, "PONG").await);
    assert!(
        got.iter()
            .any(|m| m["type"] == "PATCH" && m["changes"] == json!({ "count": 3 })),
        "{got:?}"
    );
    assert!(!got.iter().any(|m| m["type"] == "EVENT"), "{got:?}");
    // A failing trigger is a RESULT with the typed error.
    send(
        &mut ws,
        json!({ "v": 1, "type": "TRIGGER", "id": "t3", "export": "missing", "args": [] }),
    )
    .await;
    let r = until(&mut ws, "RESULT").await.pop().unwrap();
    assert_eq!(
        (&r["ok"], &r["error"]["code"]),
        (&json!(false), &json!("MISSING_EXPORT")),
        "{r}"
    );
    // Another token cannot see it; its owner ends it.
    let (status, _) = s.get(&format!("/v1/sessions/{id}/state"), &s.admin).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/sessions/{id}"),
            Some(&s.tenant),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s.get(&format!("/v1/sessions/{id}/state"), &s.tenant).await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_above_the_ceiling_or_missing_a_grant_is_refused() {
    let s = support::start(Options::default()).await;
    let resp = s
        .client
        .put(s.url("/v1/plugins/hello"))
        .bearer_auth(&s.admin)
        .body(std::fs::read(warden_fixtures::KV_COUNTER).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // The tenant may not ask for trust medium.
    let (status, body) = s
        .post(
            "/v1/sessions",
            &s.tenant,
            json!({ "plugin": "hello", "trust": "medium" }),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "OVER_CEILING"), "{body}");
    // kv-counter needs kv: without it, denied by name.
    let (status, body) = s
        .post("/v1/sessions", &s.tenant, json!({ "plugin": "hello" }))
        .await;
    assert_eq!((status, code(&body)), (403, "CAPABILITY_DENIED"), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("kv"),
        "{body}"
    );
    let (status, body) = s
        .post(
            "/v1/sessions",
            &s.tenant,
            json!({ "plugin": "nothing-here" }),
        )
        .await;
    assert_eq!(status, 403, "not in the tenant's plugins: {body}");
}
