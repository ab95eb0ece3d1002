//! Jobs: submit, poll, cancel, and the event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use serde_json::json;
use warden_api::ExecuteRequest;

use super::Caller;
use crate::body::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// `POST /v1/jobs`: 202 `{ id }`.
pub async fn submit(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(request): ApiJson<ExecuteRequest>,
) -> ApiResult<Response> {
    let ceiling = state.ceiling_for(&caller);
    let id = state
        .jobs
        .submit(&state.controller, &caller.id, request, ceiling)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response())
}

/// `GET /v1/jobs/{id}`.
pub async fn status(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<warden_api::JobStatus>> {
    state.jobs.stream(&caller.id, &id)?;
    let snapshot = state.controller.job(&id)?;
    Ok(Json(snapshot.report()))
}

/// `DELETE /v1/jobs/{id}`: `{ id, state }`.
pub async fn cancel(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    state.jobs.stream(&caller.id, &id)?;
    let job_state = state.controller.cancel(&id)?;
    Ok(Json(json!({ "id": id, "state": job_state })))
}

/// `GET /v1/jobs/{id}/events`: Server-Sent Events from after
/// `Last-Event-ID` (none: from the first), ending with `done` or `error`.
pub async fn events(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let stream = state.jobs.stream(&caller.id, &id)?;
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::invalid("Last-Event-ID is not an event id (a whole number)")
                    .with("field", "Last-Event-ID")
            })?,
    };
    let events = follow(stream, after);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies (nginx) must not buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn follow(
    stream: std::sync::Arc<crate::jobs::JobStream>,
    mut after: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        loop {
            for e in stream.since(after) {
                after = e.id;
                let last = e.is_last();
                let event = Event::default()
                    .id(e.id.to_string())
                    .event(e.name)
                    .data(e.data.to_string());
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
                if last {
                    return;
                }
            }
            if stream.is_finished() {
                return; // resumed after the last event
            }
            stream.wait_past(after).await;
        }
    })
}

/// A stream fed by a task through a small channel (the task ends when the
/// client goes away).
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
