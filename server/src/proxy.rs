//! `wasi:http` routes (`--route /hello=hello_http.wasm`): a `wasi:http/proxy`
//! component serves every request under its path prefix, as `wasmtime serve`
//! serves one, but with warden's policy (nothing granted unless the server's
//! route config grants it) and limits, a fresh instance per request from
//! the pool. Routes are public endpoints, like the component's own server
//! would be: no token.

use std::path::PathBuf;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use warden_api::{Ceiling, ErrorCode, ExecConfig};
use warden_host::{Host, Prepared};

use crate::error::ApiError;

/// One route: a path prefix and the component that serves it.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    /// `/hello` (requests to `/hello` and `/hello/…`), or `/` for all.
    pub prefix: String,
    /// The component, checked against its policy.
    pub prepared: Prepared,
}

/// Parse `--route PREFIX=FILE`.
pub fn parse_route(spec: &str) -> Result<(String, PathBuf), String> {
    let (prefix, file) = spec
        .split_once('=')
        .ok_or_else(|| format!("--route {spec}: expected /PREFIX=FILE.wasm"))?;
    if !prefix.starts_with('/') || prefix.contains(['{', '}', '*']) {
        return Err(format!(
            "--route {spec}: the prefix must start with `/` and hold no `{{`, `}}` or `*`"
        ));
    }
    let prefix = match prefix.trim_end_matches('/') {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    Ok((prefix, PathBuf::from(file)))
}

/// Load each route's component and check it against `config` under
/// `ceiling`.
pub fn load_routes(
    host: &Host,
    routes: &[(String, PathBuf)],
    config: &ExecConfig,
    ceiling: &Ceiling,
) -> Result<Vec<HttpRoute>, String> {
    let policy = warden_api::lower(config, ceiling).map_err(|e| format!("--route config: {e}"))?;
    routes
        .iter()
        .map(|(prefix, file)| {
            let plugin = host
                .load_file(file)
                .map_err(|e| format!("--route {prefix}={}: {e}", file.display()))?;
            if !plugin.is_http_proxy() {
                return Err(format!(
                    "--route {prefix}={}: the component does not export wasi:http/incoming-handler (it is not a wasi:http/proxy)",
                    file.display()
                ));
            }
            let prepared = plugin
                .prepare(policy.clone())
                .map_err(|e| format!("--route {prefix}={}: {e}", file.display()))?;
            Ok(HttpRoute {
                prefix: prefix.clone(),
                prepared,
            })
        })
        .collect()
}

async fn handle(prepared: Prepared, request: Request) -> Response {
    match prepared.handle_http(request).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(e) => {
            let status_is_guest = matches!(
                e.code().class(),
                warden_api::ErrorClass::Limit | warden_api::ErrorClass::GuestFailure
            );
            let mut err = ApiError::from(e);
            if status_is_guest {
                // A guest that failed before answering is a bad gateway,
                // as a proxy in front of a failed upstream would say.
                err = err.with("note", "the wasi:http component failed before answering");
                let mut r = err.into_response();
                *r.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
                return r;
            }
            err.into_response()
        }
    }
}

/// Mount `routes` on `router`.
pub fn mount<S: Clone + Send + Sync + 'static>(
    mut router: Router<S>,
    routes: &[HttpRoute],
) -> Router<S> {
    for route in routes {
        let p = route.prepared.clone();
        let handler = any(move |req: Request| handle(p.clone(), req));
        if route.prefix == "/" {
            router = router.fallback(handler);
        } else {
            router = router
                .route(&route.prefix, handler.clone())
                .route(&format!("{}/{{*rest}}", route.prefix), handler);
        }
    }
    router
}

/// What an unknown path gets when no route serves `/`.
pub fn no_route() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route (see /v1/openapi.json)")
}
