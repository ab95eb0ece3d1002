//! Named plugins: upload, list, describe, forget, run, invoke.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use warden_api::{ExecConfig, Language};

use super::Caller;
use crate::body::{ApiJson, RawBody};
use crate::error::{ApiError, ApiResult};
use crate::plugins::{Upload, check_name};
use crate::state::Shared;

/// `?lang=` of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    lang: Option<String>,
}

fn upload_kind(query: &UploadQuery, headers: &HeaderMap, body: &[u8]) -> Result<Upload, ApiError> {
    if let Some(lang) = &query.lang {
        let lang: Language = lang
            .parse()
            .map_err(|e: String| ApiError::invalid(e).with("field", "lang"))?;
        return Ok(match lang {
            Language::Wasm => Upload::Wasm,
            other => Upload::Source(other),
        });
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    Ok(match media.as_str() {
        "text/javascript" | "application/javascript" => Upload::Source(Language::JavaScript),
        "application/typescript" | "text/typescript" => Upload::Source(Language::TypeScript),
        "text/x-python" | "text/x-python-script" | "application/x-python" => {
            Upload::Source(Language::Python)
        }
        _ if body.starts_with(b"\0asm") => Upload::Wasm,
        "application/wasm" | "application/octet-stream" | "" | "text/plain" => Upload::Wasm,
        other => {
            return Err(ApiError::invalid(format!(
                "unknown Content-Type `{other}`: send application/wasm, text/javascript, application/typescript or text/x-python (or ?lang=)"
            )));
        }
    })
}

/// `PUT /v1/plugins/{name}`: 201 with the new version (or the load error;
/// an older version keeps serving).
pub async fn put(
    State(state): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    check_name(&name)?;
    caller.may_use_plugin(&name)?;
    let kind = upload_kind(&query, &headers, &body)?;
    let source = match kind {
        Upload::Wasm => "upload".to_string(),
        Upload::Source(lang) => format!("upload:{lang}"),
    };
    let version = state
        .plugins
        .put(&name, body.to_vec(), kind, source)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": name,
            "version": version.number,
            "content_hash": version.description.content_hash,
            "exports": version.description.exports,
            "needs": version.description.needs,
        })),
    )
        .into_response())
}

/// `GET /v1/plugins`: the plugins this caller may use.
pub async fn list(State(state): State<Shared>, caller: Caller) -> Json<Value> {
    let plugins: Vec<_> = state
        .plugins
        .list()
        .into_iter()
        .filter(|p| caller.may_use_plugin(&p.name).is_ok())
        .collect();
    Json(json!({ "plugins": plugins }))
}

/// `GET /v1/plugins/{name}`: the description and the load status.
pub async fn describe(
    State(state): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.may_use_plugin(&name)?;
    let status = state.plugins.status(&name)?;
    let description = state
        .plugins
        .current(&name)
        .ok()
        .map(|v| serde_json::to_value(&v.description).unwrap_or_default());
    Ok(Json(
        json!({ "status": status, "description": description }),
    ))
}

/// `DELETE /v1/plugins/{name}`.
pub async fn remove(
    State(state): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.may_use_plugin(&name)?;
    state.plugins.remove(&name)?;
    Ok(Json(json!({ "name": name, "removed": true })))
}

/// `POST /v1/plugins/{name}/run`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The input of `run`.
    #[serde(default)]
    input: Value,
    /// Grants and limits (checked against the ceiling).
    #[serde(default)]
    config: ExecConfig,
}

/// `POST /v1/plugins/{name}/invoke`: `call` (WAVE) or `export` + `args` (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeBody {
    /// A WAVE call, `add(1, 2)`.
    #[serde(default)]
    call: Option<String>,
    /// An export (`name` or `interface#name`), with `args`.
    #[serde(default)]
    export: Option<String>,
    /// The JSON arguments of `export`.
    #[serde(default)]
    args: Vec<Value>,
    /// Grants and limits (checked against the ceiling).
    #[serde(default)]
    config: ExecConfig,
}

fn prepared(
    state: &Shared,
    caller: &Caller,
    name: &str,
    config: &ExecConfig,
) -> ApiResult<(warden_host::Prepared, u64)> {
    caller.may_use_plugin(name)?;
    let ceiling = state.ceiling_for(caller);
    let policy = warden_api::lower(config, &ceiling)?;
    let version = state.plugins.current(name)?;
    Ok((version.plugin.prepare(policy)?, version.number))
}

fn answer<T>(
    outcome: warden_host::Outcome<T>,
    version: u64,
    ok: impl FnOnce(T) -> Value,
) -> Response {
    let (status, body) = match outcome.result {
        Ok(v) => {
            let mut body = ok(v);
            body["ok"] = json!(true);
            (StatusCode::OK, body)
        }
        Err(e) => {
            let body = e.body();
            let status = StatusCode::from_u16(body.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, json!({ "ok": false, "error": body }))
        }
    };
    let mut body = body;
    body["version"] = json!(version);
    body["receipt"] = serde_json::to_value(&outcome.receipt).unwrap_or_default();
    if !outcome.logs.is_empty() {
        body["logs"] = serde_json::to_value(&outcome.logs).unwrap_or_default();
    }
    (status, Json(body)).into_response()
}

/// Call `run` with JSON input.
pub async fn run(
    State(state): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RunBody>,
) -> ApiResult<Response> {
    let (prepared, version) = prepared(&state, &caller, &name, &body.config)?;
    let input = body.input.to_string();
    // In one of the controller's slots, like every execution.
    let outcome = state
        .controller
        .admitted(None, prepared.run(&input))
        .await?;
    Ok(answer(outcome, version, |out| {
        let output =
            serde_json::from_str::<Value>(&out.output).unwrap_or(Value::String(out.output));
        json!({ "output": output })
    }))
}

/// Call one export.
pub async fn invoke(
    State(state): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<InvokeBody>,
) -> ApiResult<Response> {
    let (prepared, version) = prepared(&state, &caller, &name, &body.config)?;
    let slots = &state.controller;
    let outcome = match (&body.call, &body.export) {
        (Some(call), None) => slots.admitted(None, prepared.invoke(call)).await?,
        (None, Some(export)) => {
            let call = prepared.invoke_json(export, &body.args);
            slots.admitted(None, call).await?
        }
        _ => {
            return Err(ApiError::invalid(
                "give `call` (WAVE, `add(1, 2)`) or `export` with JSON `args`, not both",
            ));
        }
    };
    Ok(answer(
        outcome,
        version,
        |inv| json!({ "value": inv.json, "wave": inv.wave }),
    ))
}
