//! The routes, as one table: [`ROUTES`] lists every method and path with
//! what it takes and answers (the OpenAPI document is generated from it,
//! and a test checks the router and the table agree); [`router`] mounts
//! them with their middleware.

mod exec;
mod jobs;
mod plugins;
mod sessions;
mod system;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use warden_api::ErrorCode;

use crate::body::BodyLimit;
use crate::error::ApiError;
use crate::state::Shared;

/// One route: its method, path, whether it needs a token, a summary, the
/// body it takes (a `warden-api` schema name, or a media type) and what it
/// answers.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    /// Whether it needs `Authorization: Bearer`.
    pub auth: bool,
    /// What it does.
    pub summary: &'static str,
    /// The body's schema (`#/components/schemas/NAME`) or media type.
    pub body: Option<&'static str>,
    /// The answer's schema or media type.
    pub answer: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    auth: bool,
    summary: &'static str,
    body: Option<&'static str>,
    answer: &'static str,
) -> Route {
    Route {
        method,
        path,
        auth,
        summary,
        body,
        answer,
    }
}

/// Every route.
pub const ROUTES: &[Route] = &[
    route(
        "GET",
        "/health",
        false,
        "Liveness: the process answers.",
        None,
        "object",
    ),
    route(
        "GET",
        "/ready",
        false,
        "Readiness: every runtime is started (503 until then).",
        None,
        "object",
    ),
    route(
        "GET",
        "/metrics",
        true,
        "Prometheus text: the controller's metrics and HTTP requests by route and status.",
        None,
        "text/plain",
    ),
    route(
        "GET",
        "/v1/openapi.json",
        false,
        "This document.",
        None,
        "object",
    ),
    route(
        "POST",
        "/v1/execute",
        true,
        "Run code in a fresh sandbox: the execution (output or typed error, runtime, decision and reason, timings, memory, receipt). The status follows the error code.",
        Some("ExecuteRequest"),
        "ExecutionReport",
    ),
    route(
        "POST",
        "/v1/jobs",
        true,
        "Submit code to run in the background: `{ id }` (202).",
        Some("ExecuteRequest"),
        "object",
    ),
    route(
        "GET",
        "/v1/jobs/{id}",
        true,
        "A job's state and, once finished, its execution.",
        None,
        "JobStatus",
    ),
    route(
        "DELETE",
        "/v1/jobs/{id}",
        true,
        "Cancel a job: its state afterwards.",
        None,
        "object",
    ),
    route(
        "GET",
        "/v1/jobs/{id}/events",
        true,
        "A job's events as Server-Sent Events (queued, started, log, event, done or error), resumable with Last-Event-ID.",
        None,
        "text/event-stream",
    ),
    route(
        "GET",
        "/v1/plugins",
        true,
        "Every plugin, its version and load status.",
        None,
        "object",
    ),
    route(
        "PUT",
        "/v1/plugins/{name}",
        true,
        "Upload a plugin: component bytes (application/wasm), or js/ts/python source (?lang=…, or a text/javascript, application/typescript or text/x-python body) that the server builds.",
        Some("application/octet-stream"),
        "object",
    ),
    route(
        "GET",
        "/v1/plugins/{name}",
        true,
        "A plugin: its WIT, imports, exports, needed capabilities, version and load status.",
        None,
        "object",
    ),
    route(
        "DELETE",
        "/v1/plugins/{name}",
        true,
        "Forget a plugin (calls in flight finish).",
        None,
        "object",
    ),
    route(
        "POST",
        "/v1/plugins/{name}/run",
        true,
        "Call the plugin's `run` with JSON input under a config: `{ ok, output | error, receipt }`.",
        Some("object"),
        "object",
    ),
    route(
        "POST",
        "/v1/plugins/{name}/invoke",
        true,
        "Call one export with WAVE (`call`) or JSON (`export`, `args`) arguments: `{ ok, value | error, wave, receipt }`.",
        Some("object"),
        "object",
    ),
    route(
        "POST",
        "/v1/sessions",
        true,
        "Open a session: a plugin under grants with its own kv namespace and event stream.",
        Some("object"),
        "object",
    ),
    route(
        "DELETE",
        "/v1/sessions/{id}",
        true,
        "End a session and delete its state.",
        None,
        "object",
    ),
    route(
        "GET",
        "/v1/sessions/{id}/state",
        true,
        "A session's kv state.",
        None,
        "object",
    ),
    route(
        "GET",
        "/v1/sessions/{id}/ws",
        true,
        "The session's WebSocket: TRIGGER, SUBSCRIBE, UNSUBSCRIBE, PING in; RESULT, PATCH, EVENT, PROGRESS, ERROR, PONG out.",
        None,
        "ServerMessage",
    ),
    route(
        "GET",
        "/v1/runtimes",
        true,
        "Every runtime with its health.",
        None,
        "RuntimeStatus",
    ),
    route(
        "POST",
        "/v1/runtimes/{name}/start",
        true,
        "Start (pre-warm) a runtime.",
        None,
        "object",
    ),
    route(
        "POST",
        "/v1/runtimes/{name}/stop",
        true,
        "Stop a runtime.",
        None,
        "object",
    ),
];

/// Check the bearer token and the rate; the caller goes into the request.
async fn authenticate(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.authenticate(header) {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// A non-streaming request may take `request_timeout`, no more.
async fn deadline(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let limit = state.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            ErrorCode::Unavailable,
            format!(
                "the request took longer than the server's request timeout ({})",
                humantime::format_duration(limit)
            ),
        )
        .with("request_timeout_ms", limit.as_millis() as u64)
        .into_response(),
    }
}

/// Name the body limit for [`crate::body`]'s error.
async fn body_limit(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(BodyLimit(state.body_limit));
    next.run(req).await
}

/// The API's router. `metrics_open`: `/metrics` needs no token (it has a
/// listener of its own).
pub fn router(state: Shared) -> Router {
    let calls = Router::new()
        .route("/metrics", get(system::metrics))
        .route("/v1/execute", post(exec::execute))
        .route("/v1/jobs", post(jobs::submit))
        .route("/v1/jobs/{id}", get(jobs::status).delete(jobs::cancel))
        .route("/v1/plugins", get(plugins::list))
        .route(
            "/v1/plugins/{name}",
            get(plugins::describe)
                .put(plugins::put)
                .delete(plugins::remove),
        )
        .route("/v1/plugins/{name}/run", post(plugins::run))
        .route("/v1/plugins/{name}/invoke", post(plugins::invoke))
        .route("/v1/sessions", post(sessions::open))
        .route("/v1/sessions/{id}", axum::routing::delete(sessions::close))
        .route("/v1/sessions/{id}/state", get(sessions::state))
        .route("/v1/runtimes", get(system::runtimes))
        .route("/v1/runtimes/{name}/start", post(system::start_runtime))
        .route("/v1/runtimes/{name}/stop", post(system::stop_runtime))
        .layer(middleware::from_fn_with_state(state.clone(), deadline));
    let streams = Router::new()
        .route("/v1/jobs/{id}/events", get(jobs::events))
        .route("/v1/sessions/{id}/ws", get(sessions::socket));
    let protected = calls
        .merge(streams)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let open = Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/v1/openapi.json", get(system::openapi));
    let mut app = open
        .merge(protected)
        .fallback(|| async { crate::proxy::no_route() });
    // wasi:http routes: public, and outside the request deadline (their
    // own limits hold).
    app = crate::proxy::mount(app, &state.http_routes);
    app.layer(middleware::from_fn_with_state(state.clone(), body_limit))
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        // A panic in a handler is a typed 500; the server goes on serving.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        // Requests are traced (`RUST_LOG=tower_http=debug`); the token is
        // marked sensitive so no log ever shows it.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
        .with_state(state)
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!("a handler panicked: {what}");
    ApiError::new(
        ErrorCode::Internal,
        format!("warden-server failed on this request ({what}); it goes on serving"),
    )
    .into_response()
}

/// The router of a `--metrics-listen` address: `/metrics` with no token.
pub fn metrics_router(state: Shared) -> Router {
    Router::new()
        .route("/metrics", get(system::metrics))
        .with_state(state)
}

/// The caller, as the authentication middleware put it in the request.
pub(crate) type Caller = axum::Extension<Arc<crate::auth::Principal>>;
