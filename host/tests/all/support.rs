//! Shared helpers: a host per test binary with a temp `.cwasm` cache, and
//! loopback servers the tests start themselves (never anything else).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use warden_host::{Host, HostBuilder, Plugin};

/// A cache directory shared by every host in this test binary.
pub fn cache_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .to_path_buf()
}

/// A builder with the shared cache and the test host functions `echo`, `add`
/// and `hang` (never returns).
pub fn builder() -> HostBuilder {
    Host::builder()
        .cache_dir(cache_dir())
        .host_fn("echo", |call| async move { Ok(call.args) })
        .host_fn("add", |call| async move {
            let a = call.args["a"].as_i64().ok_or("a must be an integer")?;
            let b = call.args["b"].as_i64().ok_or("b must be an integer")?;
            Ok(serde_json::json!(a + b))
        })
        .host_fn("hang", |_| async move {
            std::future::pending::<()>().await;
            Ok(serde_json::Value::Null)
        })
}

/// The shared host.
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| builder().build().expect("host"))
}

/// Load a fixture by path on the shared host.
pub fn load(path: &str) -> Plugin {
    host().load_file(path).expect("load fixture")
}

/// The fixture path of a guest crate name (`kv-counter`).
pub fn guest_path(name: &str) -> &'static str {
    warden_fixtures::all()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no fixture named {name}"))
}

/// Start a loopback HTTP server answering every request with
/// `you asked for <path>` and status 200. Returns its address.
pub async fn http_server() -> SocketAddr {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let body = format!("you asked for {}", req.uri());
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        body,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Start a loopback TCP server that reads to EOF and answers `echo:<data>`.
pub async fn echo_server() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = stream.read_to_end(&mut buf).await;
                let _ = stream.write_all(b"echo:").await;
                let _ = stream.write_all(&buf).await;
            });
        }
    });
    addr
}

/// Is `expected` a subset of `actual` (objects by key, everything else equal)?
pub fn json_subset(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| json_subset(v, av))),
        (e, a) => e == a,
    }
}
