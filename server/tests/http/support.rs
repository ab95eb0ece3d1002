//! A server on a free loopback port, its tokens, and a client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use warden_api::Ceiling;
use warden_runtimes::RuntimesConfig;
use warden_server::auth::{Allowance, TokenEntry, TokenFile, new_token};
use warden_server::{Server, ServerConfig};

pub const JWT_SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

/// A running server and what tests need to call it.
pub struct TestServer {
    pub addr: SocketAddr,
    /// `admin`: no ceiling of its own.
    pub admin: String,
    /// `tenant`: trust at most low, no http, timeouts up to 10 s, plugins
    /// `hello` and `panel` only.
    pub tenant: String,
    /// `slow`: 2 requests per minute.
    pub limited: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<warden_server::DrainReport>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Options of a test server.
#[derive(Default)]
pub struct Options {
    pub body_limit: Option<usize>,
    pub request_timeout: Option<Duration>,
    pub header_read_timeout: Option<Duration>,
    pub max_in_flight: Option<usize>,
    pub queue: Option<usize>,
    pub plugins_dir: Option<PathBuf>,
    pub metrics_listen: bool,
    pub http_routes: Vec<(String, PathBuf)>,
}

pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("warden-server-cache")
}

pub async fn start(options: Options) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let (admin, admin_hash) = new_token();
    let (tenant, tenant_hash) = new_token();
    let (limited, limited_hash) = new_token();
    let tenant_ceiling: Ceiling = serde_json::from_value(json!({
        "max_trust": "low",
        "capabilities": ["log", "kv", "events"],
        "limits": { "timeout": "10s" }
    }))
    .unwrap();
    let file = TokenFile {
        tokens: vec![
            TokenEntry {
                name: "admin".into(),
                sha256: admin_hash,
                allowance: Allowance::default(),
            },
            TokenEntry {
                name: "tenant".into(),
                sha256: tenant_hash,
                allowance: Allowance {
                    ceiling: tenant_ceiling,
                    plugins: Some(["hello".to_string(), "panel".to_string()].into()),
                    rate: None,
                },
            },
            TokenEntry {
                name: "limited".into(),
                sha256: limited_hash,
                allowance: Allowance {
                    rate: Some("2/min".parse().unwrap()),
                    ..Allowance::default()
                },
            },
        ],
    };
    let tokens = dir.path().join("tokens.json");
    std::fs::write(&tokens, serde_json::to_string(&file).unwrap()).unwrap();
    let secret = dir.path().join("jwt.secret");
    std::fs::write(&secret, JWT_SECRET).unwrap();
    let mut runtimes = RuntimesConfig {
        js: true,
        python: false,
        rust: None,
        ebpf: None,
        ..RuntimesConfig::default()
    };
    if let Some(n) = options.max_in_flight {
        runtimes.controller.max_in_flight = n;
    }
    if let Some(n) = options.queue {
        runtimes.controller.queue_capacity = n;
    }
    let mut host = warden_host::HostConfig {
        cache_dir: Some(cache_dir()),
        ..Default::default()
    };
    host.host_fns = vec![warden_host::BuiltinFn::Echo];
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: options
            .metrics_listen
            .then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        host,
        runtimes,
        tokens: Some(tokens),
        jwt_secret_file: Some(secret),
        no_auth: false,
        body_limit: options.body_limit.unwrap_or(defaults.body_limit),
        request_timeout: options.request_timeout.unwrap_or(defaults.request_timeout),
        header_read_timeout: options
            .header_read_timeout
            .unwrap_or(defaults.header_read_timeout),
        drain: Duration::from_secs(30),
        plugins_dir: options.plugins_dir,
        warm_up: false,
        http_routes: options.http_routes,
        http_route_config: Default::default(),
    };
    let server = Server::bind(config).await.expect("the server starts");
    let addr = server.local_addr();
    let metrics = server.metrics_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("serves")
    });
    let s = TestServer {
        addr,
        admin,
        tenant,
        limited,
        client: reqwest::Client::new(),
        dir,
        stop: Some(stop),
        done: Some(done),
    };
    if let Some(m) = metrics {
        std::fs::write(s.dir.path().join("metrics.addr"), m.to_string()).unwrap();
    }
    s
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `method path` with `token` and an optional JSON body: status and JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/execute` of the JS `code` (no input, nothing granted) with
    /// the admin token.
    pub async fn js(&self, code: &str) -> (u16, Value) {
        let body = json!({ "language": "js", "code": code });
        self.post("/v1/execute", &self.admin, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Stop and wait for the drain.
    pub async fn stop(mut self) -> warden_server::DrainReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done.take().unwrap().await.unwrap()
    }
}

/// An HS256 JWT for `sub` expiring `exp_in` seconds from now (negative:
/// already expired), with `allowance` as claims.
pub fn jwt(sub: &str, exp_in: i64, allowance: Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = json!({ "sub": sub, "exp": now + exp_in });
    if let (Some(c), Some(a)) = (claims.as_object_mut(), allowance.as_object()) {
        c.extend(a.clone());
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// The code of an error answer.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}
