//! Sessions (the replaced kernel's panels): a plugin under grants, with a
//! kv namespace of its own (`session-<id>`, whatever the request named)
//! and an event stream. Triggers of one session run one at a time, so the
//! `PATCH` after each is exactly what that trigger changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use warden_api::session::ServerMessage;
use warden_api::{Ceiling, ErrorCode, ExecConfig, Grants, LimitOverrides, Policy, TrustLevel};
use warden_host::{CallFunctions, Host};

use crate::error::ApiError;
use crate::plugins::Plugins;

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The plugin (by name, as uploaded or in the plugins directory).
    pub plugin: String,
    /// A trust preset.
    #[serde(default)]
    pub trust: Option<TrustLevel>,
    /// Grants added to it (a kv grant's namespace is replaced by the
    /// session's own).
    #[serde(default)]
    pub grants: Grants,
    /// Limit overrides.
    #[serde(default)]
    pub limits: LimitOverrides,
}

/// What `POST /v1/sessions` answers.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Its id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// Its kv namespace (none: kv not granted).
    pub namespace: Option<String>,
}

/// One session.
#[derive(Debug)]
pub struct Session {
    /// Its id.
    pub id: String,
    owner: String,
    plugin: String,
    policy: Policy,
    namespace: Option<String>,
    /// `PATCH` and `EVENT` for every socket of the session.
    pub hub: broadcast::Sender<Arc<ServerMessage>>,
    triggers: tokio::sync::Mutex<()>,
}

impl Session {
    /// What it answers `POST` with.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            plugin: self.plugin.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Its kv state: key → value (JSON when it parses, else a string).
    pub fn state(&self, host: &Host) -> Result<BTreeMap<String, Value>, ApiError> {
        let Some(ns) = &self.namespace else {
            return Ok(BTreeMap::new());
        };
        snapshot(host, ns)
    }

    /// Run one trigger: `PROGRESS` and `RESULT` go to `reply`, `PATCH` and
    /// `EVENT` to the hub.
    pub async fn trigger(
        &self,
        state: &crate::state::AppState,
        id: Option<String>,
        export: &str,
        args: Value,
        reply: &mpsc::UnboundedSender<ServerMessage>,
    ) {
        let (host, controller, plugins) = (&state.host, &state.controller, &*state.plugins);
        let _one_at_a_time = self.triggers.lock().await;
        let fail = |e: ApiError| {
            let _ = reply.send(ServerMessage::Result {
                id: id.clone(),
                ok: false,
                value: None,
                error: Some(e.body),
                receipt: Box::default(),
            });
        };
        let prepared = match plugins.current(&self.plugin).and_then(|v| {
            v.plugin
                .prepare(self.policy.clone())
                .map_err(ApiError::from)
        }) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        let before = match self.state(host) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let _ = reply.send(ServerMessage::Progress {
            id: id.clone(),
            stage: "started".into(),
            level: None,
            message: None,
        });
        let (log_reply, log_id, hub) = (reply.clone(), id.clone(), self.hub.clone());
        let scope = CallFunctions::new()
            .log_sink(move |_p: &str, level: &str, message: &str| {
                let _ = log_reply.send(ServerMessage::Progress {
                    id: log_id.clone(),
                    stage: "log".into(),
                    level: Some(level.into()),
                    message: Some(message.into()),
                });
            })
            .event_sink(move |e: warden_host::Event| {
                let _ = hub.send(Arc::new(ServerMessage::Event {
                    topic: e.topic,
                    payload: e.payload,
                }));
            });
        // In one of the controller's slots, like every execution.
        let (result, receipt) = if export == "run" {
            let input = args.to_string();
            let call = scope.scope(prepared.run(&input));
            let outcome = match controller.admitted(None, call).await {
                Ok(o) => o,
                Err(e) => return fail(e.into()),
            };
            let plugin = prepared.plugin().name().to_string();
            let result = outcome.result.and_then(|out| {
                warden_host::controller::runtime::parse_output(&plugin, &out.output)
            });
            (result, outcome.receipt)
        } else {
            let args = match args {
                Value::Array(a) => a,
                Value::Null => Vec::new(),
                other => vec![other],
            };
            let call = scope.scope(prepared.invoke_json(export, &args));
            let outcome = match controller.admitted(None, call).await {
                Ok(o) => o,
                Err(e) => return fail(e.into()),
            };
            let result = outcome.result.map(|inv| inv.json.unwrap_or(Value::Null));
            (result, outcome.receipt)
        };
        if let Ok(after) = self.state(host) {
            let changes = diff(&before, &after);
            if !changes.is_empty() {
                let _ = self.hub.send(Arc::new(ServerMessage::Patch {
                    id: id.clone(),
                    changes,
                }));
            }
        }
        let _ = reply.send(match result {
            Ok(value) => ServerMessage::Result {
                id,
                ok: true,
                value: Some(value),
                error: None,
                receipt: Box::new(receipt),
            },
            Err(e) => ServerMessage::Result {
                id,
                ok: false,
                value: None,
                error: Some(e.body()),
                receipt: Box::new(receipt),
            },
        });
    }
}

fn snapshot(host: &Host, ns: &str) -> Result<BTreeMap<String, Value>, ApiError> {
    let kv = host.kv();
    let io = |e: warden_host::KvError| ApiError::new(ErrorCode::Io, format!("reading kv: {e}"));
    let mut state = BTreeMap::new();
    for key in kv.list(ns, "").map_err(io)? {
        if let Some(bytes) = kv.get(ns, &key).map_err(io)? {
            state.insert(key, value_of(&bytes));
        }
    }
    Ok(state)
}

fn value_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn diff(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut changes = BTreeMap::new();
    for (k, v) in after {
        if before.get(k) != Some(v) {
            changes.insert(k.clone(), v.clone());
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            changes.insert(k.clone(), Value::Null);
        }
    }
    changes
}

/// The most sessions one caller may hold open.
pub const MAX_SESSIONS_PER_CALLER: usize = 256;

/// Every session, by id.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// Open a session for `owner` under `ceiling`; the plugin must load
    /// under the grants (else `CAPABILITY_DENIED` naming what it needs).
    pub fn open(
        &self,
        plugins: &Plugins,
        owner: &str,
        request: SessionRequest,
        ceiling: &Ceiling,
    ) -> Result<Arc<Session>, ApiError> {
        let held = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| s.owner == owner)
            .count();
        if held >= MAX_SESSIONS_PER_CALLER {
            return Err(ApiError::new(
                ErrorCode::Busy,
                format!("`{owner}` holds {held} sessions, the most one caller may; end one first"),
            )
            .with("limit", MAX_SESSIONS_PER_CALLER as u64));
        }
        let version = plugins.current(&request.plugin)?;
        let config = ExecConfig {
            trust: request.trust,
            grants: request.grants,
            limits: request.limits,
            ..ExecConfig::default()
        };
        let mut policy = warden_api::lower(&config, ceiling)?;
        let id = format!("ses-{}", hex::encode(rand::random::<[u8; 12]>()));
        let namespace = policy.grants.kv.as_mut().map(|kv| {
            let ns = format!("session-{id}");
            kv.namespace = Some(ns.clone());
            ns
        });
        version.plugin.prepare(policy.clone())?;
        let session = Arc::new(Session {
            id: id.clone(),
            owner: owner.to_string(),
            plugin: request.plugin,
            policy,
            namespace,
            hub: broadcast::channel(1024).0,
            triggers: tokio::sync::Mutex::new(()),
        });
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, session.clone());
        Ok(session)
    }

    /// Session `id` if `owner` owns it (another's is "not found").
    pub fn get(&self, owner: &str, id: &str) -> Result<Arc<Session>, ApiError> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(id) {
            Some(s) if s.owner == owner => Ok(s.clone()),
            _ => Err(ApiError::not_found("session", id)),
        }
    }

    /// End session `id` (its kv state is deleted).
    pub fn close(&self, host: &Host, owner: &str, id: &str) -> Result<(), ApiError> {
        let session = self.get(owner, id)?;
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(ns) = &session.namespace {
            let kv = host.kv();
            for key in kv.list(ns, "").unwrap_or_default() {
                let _ = kv.delete(ns, &key);
            }
        }
        Ok(())
    }
}
