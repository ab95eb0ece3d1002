//! # warden-server
//!
//! warden as a service: an HTTP and WebSocket API on axum and tower-http,
//! the crate behind `warden serve`. It converts and nothing else: bodies
//! are `warden-api`'s serde types, statuses come from
//! [`warden_api::ErrorCode::http_status`], every request is lowered and
//! checked by `warden_api::lower` against the meet of the server's ceiling
//! and the caller's ([`auth`]), and the controller does the rest.
//!
//! - [`routes`]: the route table and the router (execute, jobs with SSE,
//!   plugins, sessions with a WebSocket, runtimes, health, readiness,
//!   metrics, the OpenAPI document from [`openapi`]).
//! - [`auth`]: bearer tokens from a file and HS256 JWTs, each with a
//!   ceiling, allowed plugins and a rate (governor).
//! - [`jobs`], [`sessions`], [`plugins`]: what the server keeps per job,
//!   session and named plugin (hot reload of a watched directory).
//! - [`proxy`]: `wasi:http/proxy` components served under path prefixes,
//!   a fresh instance per request, as `wasmtime serve` does.
//! - [`serve`]: the accept loop with a header read timeout and graceful
//!   shutdown (in-flight requests and running jobs drain).
//!
//! tower-http gives the router request tracing (with `Authorization`
//! marked sensitive, so no log shows a token) and a typed 500 for a handler
//! that panics, after which the server goes on serving.
//!
//! ```no_run
//! # async fn demo() -> Result<(), warden_server::ServerError> {
//! let server = warden_server::Server::bind(warden_server::ServerConfig::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod body;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod plugins;
pub mod proxy;
pub mod routes;
pub mod serve;
pub mod sessions;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use warden_host::HostConfig;
use warden_runtimes::RuntimesConfig;

pub use error::{ApiError, ApiResult};
pub use serve::{ConnOptions, DrainReport};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Serve `/metrics` with no token on this address too.
    pub metrics_listen: Option<SocketAddr>,
    /// The host: cache, engine, kv.
    pub host: HostConfig,
    /// The runtimes and the controller (admission, queue, the ceiling).
    pub runtimes: RuntimesConfig,
    /// The tokens file.
    pub tokens: Option<PathBuf>,
    /// The HS256 secret for JWTs (the file's bytes, trimmed).
    pub jwt_secret_file: Option<PathBuf>,
    /// Accept every caller as `anonymous` (loopback development only).
    pub no_auth: bool,
    /// The largest request body.
    pub body_limit: usize,
    /// The longest a non-streaming request may take.
    pub request_timeout: Duration,
    /// The longest a client may take to send its request head.
    pub header_read_timeout: Duration,
    /// The longest shutdown waits for in-flight calls and jobs.
    pub drain: Duration,
    /// Load every `*.wasm` here as a plugin and reload on change.
    pub plugins_dir: Option<PathBuf>,
    /// Start every runtime in the background at once (`/ready` says when).
    pub warm_up: bool,
    /// `wasi:http/proxy` components served under path prefixes.
    pub http_routes: Vec<(String, PathBuf)>,
    /// What the routes' components are granted (checked against the
    /// server's ceiling).
    pub http_route_config: warden_api::ExecConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8750)),
            metrics_listen: None,
            host: HostConfig::default(),
            runtimes: RuntimesConfig::default(),
            tokens: None,
            jwt_secret_file: None,
            no_auth: false,
            body_limit: 16 << 20,
            request_timeout: Duration::from_secs(120),
            header_read_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(30),
            plugins_dir: None,
            warm_up: true,
            http_routes: Vec::new(),
            http_route_config: warden_api::ExecConfig::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is wrong (the message says which).
    #[error("{0}")]
    Config(String),
    /// The host or the controller could not be made.
    #[error(transparent)]
    Warden(#[from] warden_host::Error),
    /// Binding or serving failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A bound server, not yet serving.
#[derive(Debug)]
pub struct Server {
    state: state::Shared,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    options: ConnOptions,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Server {
    /// Make the host, the controller and the state, and bind.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let auth = if config.no_auth {
            if config.tokens.is_some() || config.jwt_secret_file.is_some() {
                return Err(ServerError::Config(
                    "--no-auth and --tokens/--jwt-secret-file exclude each other".into(),
                ));
            }
            if !config.listen.ip().is_loopback() {
                return Err(ServerError::Config(format!(
                    "--no-auth serves loopback addresses only, not {}: give --tokens or --jwt-secret-file to listen there",
                    config.listen
                )));
            }
            auth::Auth::open()
        } else {
            if config.tokens.is_none() && config.jwt_secret_file.is_none() {
                return Err(ServerError::Config(
                    "no way to authenticate callers: give --tokens FILE (make one with `warden token`) and/or --jwt-secret-file FILE, or --no-auth for a loopback development server".into(),
                ));
            }
            let tokens = match &config.tokens {
                Some(p) => Some(auth::TokenFile::read(p).map_err(ServerError::Config)?),
                None => None,
            };
            let secret = match &config.jwt_secret_file {
                Some(p) => {
                    let bytes = std::fs::read(p).map_err(|e| ServerError::Io {
                        context: format!("reading the JWT secret {}", p.display()),
                        source: e,
                    })?;
                    let secret = bytes.trim_ascii().to_vec();
                    if secret.len() < 32 {
                        return Err(ServerError::Config(format!(
                            "the JWT secret in {} is {} bytes; HS256 needs at least 32",
                            p.display(),
                            secret.len()
                        )));
                    }
                    Some(secret)
                }
                None => None,
            };
            auth::Auth::new(tokens, secret.as_deref())
        };
        let host = config.host.builder()?.build()?;
        let controller = warden_runtimes::controller(&host, config.runtimes.clone())?;
        let ceiling = controller.options().ceiling.clone();
        let job_ttl = controller.options().job_ttl;
        let http_routes = proxy::load_routes(
            &host,
            &config.http_routes,
            &config.http_route_config,
            &ceiling,
        )
        .map_err(ServerError::Config)?;
        let plugins = Arc::new(plugins::Plugins::new(host.clone()));
        let watcher = match &config.plugins_dir {
            Some(dir) => Some(
                plugins::watch_dir(plugins.clone(), dir.clone())
                    .await
                    .map_err(ServerError::Config)?,
            ),
            None => None,
        };
        let state = Arc::new(state::AppState {
            host,
            controller: controller.clone(),
            auth,
            ceiling,
            jobs: jobs::JobBook::new(job_ttl),
            sessions: sessions::Sessions::default(),
            plugins,
            http_routes,
            metrics: Arc::default(),
            body_limit: config.body_limit,
            request_timeout: config.request_timeout,
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServerError::Io {
                context: format!("listening on {}", config.listen),
                source: e,
            })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| ServerError::Io {
                context: format!("listening on {addr} (metrics)"),
                source: e,
            })?),
            None => None,
        };
        if config.warm_up {
            tokio::spawn(async move {
                for (name, result) in controller.start().await {
                    if let Err(e) = result {
                        tracing::warn!(runtime = %name, "runtime did not start: {e}");
                    }
                }
            });
        }
        Ok(Server {
            state,
            listener,
            metrics_listener,
            options: ConnOptions {
                header_read_timeout: config.header_read_timeout,
                drain: config.drain,
            },
            _watcher: watcher,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where `/metrics` is served without a token, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The shared state (for embedders and tests).
    pub fn state(&self) -> &state::Shared {
        &self.state
    }

    /// Serve until `shutdown` resolves, then drain and stop the runtimes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<DrainReport, ServerError> {
        let router = routes::router(self.state.clone());
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(listener) = self.metrics_listener {
            let metrics = routes::metrics_router(self.state.clone());
            let options = self.options;
            tokio::spawn(async move {
                let _ = serve::serve(listener, metrics, options, None, async {
                    let _ = metrics_stopped.await;
                })
                .await;
            });
        }
        let report = serve::serve(
            self.listener,
            router,
            self.options,
            Some(self.state.clone()),
            shutdown,
        )
        .await
        .map_err(|e| ServerError::Io {
            context: "serving".into(),
            source: e,
        })?;
        let _ = stop_metrics.send(());
        self.state.controller.stop().await;
        Ok(report)
    }
}
