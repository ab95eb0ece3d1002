//! Health, readiness, metrics, runtimes and the OpenAPI document.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::state::Shared;

/// `GET /health`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: 200 once every runtime is started, else 503 naming them.
pub async fn ready(State(state): State<Shared>) -> Response {
    let runtimes = state.controller.runtimes().await;
    let waiting: Vec<&str> = runtimes
        .iter()
        .filter(|r| r.state != warden_api::RuntimeState::Running)
        .map(|r| r.info.name.as_str())
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "starting", "not_started": waiting })),
        )
            .into_response()
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Shared>) -> Response {
    let text = state.metrics.append_to(&state.controller.prometheus());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/runtimes`.
pub async fn runtimes(State(state): State<Shared>) -> Json<Value> {
    Json(json!({ "runtimes": state.controller.runtimes().await }))
}

/// `POST /v1/runtimes/{name}/start`.
pub async fn start_runtime(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.controller.start_runtime(&name).await?;
    Ok(Json(json!({ "name": name, "state": "started" })))
}

/// `POST /v1/runtimes/{name}/stop`.
pub async fn stop_runtime(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.controller.stop_runtime(&name).await?;
    Ok(Json(json!({ "name": name, "state": "stopped" })))
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
