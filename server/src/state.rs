//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use warden_api::Ceiling;
use warden_host::{Controller, Host};

use crate::auth::{Auth, Principal};
use crate::jobs::JobBook;
use crate::metrics::HttpMetrics;
use crate::plugins::Plugins;
use crate::sessions::Sessions;

/// The server's state.
#[derive(Debug)]
pub struct AppState {
    /// The host (plugins, kv).
    pub host: Host,
    /// The controller (execute, jobs, runtimes).
    pub controller: Controller,
    /// Who may call.
    pub auth: Auth,
    /// The server's own ceiling; each request is checked against its meet
    /// with the caller's.
    pub ceiling: Ceiling,
    /// Jobs and their event streams.
    pub jobs: JobBook,
    /// Sessions.
    pub sessions: Sessions,
    /// Named plugins.
    pub plugins: Arc<Plugins>,
    /// `wasi:http` routes.
    pub http_routes: Vec<crate::proxy::HttpRoute>,
    /// HTTP metrics.
    pub metrics: Arc<HttpMetrics>,
    /// The largest request body.
    pub body_limit: usize,
    /// The longest a non-streaming request may take.
    pub request_timeout: Duration,
}

impl AppState {
    /// The ceiling a request of `who` is checked against.
    pub fn ceiling_for(&self, who: &Principal) -> Ceiling {
        self.ceiling.meet(&who.ceiling)
    }
}

/// The state as handlers take it.
pub type Shared = Arc<AppState>;
