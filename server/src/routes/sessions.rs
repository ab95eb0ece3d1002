//! Sessions and their WebSocket.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use warden_api::session::{ClientMessage, ServerMessage};
use warden_api::{ErrorCode, Pattern};

use super::Caller;
use crate::body::ApiJson;
use crate::error::ApiResult;
use crate::sessions::{Session, SessionRequest};
use crate::state::Shared;

/// `POST /v1/sessions`: 201 `{ id, plugin, namespace }`.
pub async fn open(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(request): ApiJson<SessionRequest>,
) -> ApiResult<Response> {
    caller.may_use_plugin(&request.plugin)?;
    let ceiling = state.ceiling_for(&caller);
    let session = state
        .sessions
        .open(&state.plugins, &caller.id, request, &ceiling)?;
    Ok((StatusCode::CREATED, Json(session.info())).into_response())
}

/// `DELETE /v1/sessions/{id}`.
pub async fn close(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.sessions.close(&state.host, &caller.id, &id)?;
    Ok(Json(json!({ "id": id, "closed": true })))
}

/// `GET /v1/sessions/{id}/state`: `{ id, namespace, state }`.
pub async fn state(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session = state.sessions.get(&caller.id, &id)?;
    let kv = session.state(&state.host)?;
    Ok(Json(
        json!({ "id": id, "namespace": session.info().namespace, "state": kv }),
    ))
}

/// `GET /v1/sessions/{id}/ws`: upgrade.
pub async fn socket(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let session = state.sessions.get(&caller.id, &id)?;
    Ok(upgrade
        .on_upgrade(move |ws| serve_socket(state, session, ws))
        .into_response())
}

async fn serve_socket(state: Shared, session: Arc<Session>, mut ws: WebSocket) {
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<ServerMessage>();
    let mut hub = session.hub.subscribe();
    let mut topics: BTreeSet<String> = BTreeSet::new();
    let mut triggers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            incoming = ws.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(_))) => {
                        let m = ServerMessage::error(None, ErrorCode::InvalidInput, "messages are JSON text frames, not binary");
                        let _ = reply_tx.send(m);
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue, // ping/pong frames
                };
                match ClientMessage::parse(&text) {
                    Err((id, error)) => {
                        let _ = reply_tx.send(ServerMessage::Error { id, error });
                    }
                    Ok(ClientMessage::Ping { id }) => {
                        let _ = reply_tx.send(ServerMessage::Pong { id });
                    }
                    Ok(ClientMessage::Subscribe { topics: t }) => topics.extend(t),
                    Ok(ClientMessage::Unsubscribe { topics: t }) => {
                        for topic in t {
                            topics.remove(&topic);
                        }
                    }
                    Ok(ClientMessage::Trigger { id, export, args }) => {
                        let (state, session, reply) = (state.clone(), session.clone(), reply_tx.clone());
                        triggers.spawn(async move {
                            session
                                .trigger(&state, id, &export, args, &reply)
                                .await;
                        });
                    }
                }
            }
            Some(out) = reply_rx.recv() => {
                if ws.send(Message::Text(out.to_text().into())).await.is_err() {
                    break;
                }
            }
            shared = hub.recv() => {
                let out = match shared {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        Arc::new(ServerMessage::error(None, ErrorCode::OutputTooLarge, format!("this socket fell behind and missed {n} messages")))
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let wanted = match &*out {
                    ServerMessage::Event { topic, .. } => {
                        topics.iter().any(|p| Pattern(p.clone()).matches(topic))
                    }
                    _ => true,
                };
                if wanted && ws.send(Message::Text(out.to_text().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    // The socket is gone: triggers in flight stop with it.
    triggers.abort_all();
}
