//! Sidecar tests against the real kernel: an in-process [`serve`] on a
//! temporary socket and [`SidecarClient`]s. Without eBPF privileges each test
//! prints a SKIP line and passes, unless `REQUIRE_EBPF=1`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use warden_ebpf::protocol::{Response, read_frame, write_frame};
use warden_ebpf::sidecar::{SidecarClient, bind, serve};
use warden_ebpf::{EbpfError, Kernel, KernelOptions, Source};

mod common;

fn runtime() -> Option<Arc<Kernel>> {
    let rt = Kernel::new(KernelOptions::default());
    common::ebpf_usable(&rt).then(|| Arc::new(rt))
}

struct Server {
    _dir: tempfile::TempDir,
    path: PathBuf,
    task: JoinHandle<()>,
}

async fn start_at(path: &Path, rt: Arc<Kernel>) -> JoinHandle<()> {
    let listener = bind(path).await.expect("bind");
    tokio::spawn(serve(listener, rt))
}

async fn start() -> Option<Server> {
    let rt = runtime()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ebpf.sock");
    let task = start_at(&path, rt).await;
    Some(Server {
        _dir: dir,
        path,
        task,
    })
}

fn ret_const(n: u32) -> Source {
    Source::Function(format!(
        "int c{n}(void *data, int data_len)\n{{\n    return data_len + {n};\n}}\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bare_function_over_socket() {
    let Some(server) = start().await else { return };
    let mut client = SidecarClient::connect(&server.path).await.expect("connect");
    let out = client.run(&ret_const(0), &[7; 20]).await.expect("runs");
    assert_eq!(out.retval, 20);
    assert!(!out.cached);
    let out = client.run(&ret_const(0), &[1, 2, 3]).await.expect("runs");
    assert_eq!(out.retval, 3);
    assert!(out.cached);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_clients() {
    let Some(server) = start().await else { return };
    let mut tasks = Vec::new();
    for i in 0..8u32 {
        let path = server.path.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = SidecarClient::connect(&path).await.expect("connect");
            for len in [1usize, 10, 100] {
                let out = client
                    .run(&ret_const(100 + i), &vec![0; len])
                    .await
                    .expect("runs");
                assert_eq!(out.retval, 100 + i + len as u32, "client {i}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_travel_back_typed() {
    let Some(server) = start().await else { return };
    let mut client = SidecarClient::connect(&server.path).await.expect("connect");
    let err = client
        .run(
            &Source::Function("int f(void *data, int data_len) { return nope; }".into()),
            &[],
        )
        .await
        .expect_err("compile error");
    assert_eq!(err.code(), "COMPILE");
    match &err {
        EbpfError::Compile { message } => assert!(message.contains("snippet.c"), "{message}"),
        other => panic!("unexpected {other:?}"),
    }
    let err = client
        .run(&Source::Function("int nothing;".into()), &[])
        .await
        .expect_err("invalid source");
    assert_eq!(err.code(), "INVALID_SOURCE");
    let err = client
        .run(&ret_const(1), &[0; 4000])
        .await
        .expect_err("too large");
    assert!(matches!(err, EbpfError::BufferTooLarge { len: 4000, .. }));
    // The connection is still good.
    assert_eq!(
        client
            .run(&ret_const(1), &[0; 2])
            .await
            .expect("runs")
            .retval,
        3
    );
    server.task.abort();
}

async fn read_response(stream: &mut UnixStream) -> Response {
    let body = read_frame(stream).await.expect("frame").expect("not eof");
    serde_json::from_slice(&body).expect("response json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_frames_get_invalid_input() {
    let Some(server) = start().await else { return };
    let mut raw = UnixStream::connect(&server.path).await.expect("connect");
    write_frame(&mut raw, b"this is not json")
        .await
        .expect("write");
    let resp = read_response(&mut raw).await;
    assert_eq!(resp.id, 0);
    let err = resp.result.expect_err("error");
    assert_eq!(err.code.as_str(), "INVALID_INPUT");
    // Valid JSON of the wrong shape keeps its id.
    write_frame(&mut raw, br#"{"id": 42, "source": {"kind": "bogus"}}"#)
        .await
        .expect("write");
    let resp = read_response(&mut raw).await;
    assert_eq!(resp.id, 42);
    assert_eq!(
        resp.result.expect_err("error").code.as_str(),
        "INVALID_INPUT"
    );
    // The same connection still serves a good request.
    write_frame(
        &mut raw,
        br#"{"id": 7, "source": {"kind": "function", "c": "int g(void *d, int l) { return l * 2; }"}, "data": [1, 2, 3]}"#,
    )
    .await
    .expect("write");
    let resp = read_response(&mut raw).await;
    assert_eq!(resp.id, 7);
    assert_eq!(resp.result.expect("runs").retval, 6);

    // An oversized frame: error, connection closed, server keeps serving.
    let mut big = UnixStream::connect(&server.path).await.expect("connect");
    big.write_all(&(64u32 << 20).to_be_bytes())
        .await
        .expect("write");
    let resp = read_response(&mut big).await;
    assert_eq!(
        resp.result.expect_err("error").details["kind"],
        "FRAME_TOO_LARGE"
    );
    assert!(read_frame(&mut big).await.expect("clean eof").is_none());
    let mut client = SidecarClient::connect(&server.path).await.expect("connect");
    assert_eq!(
        client
            .run(&ret_const(2), &[0; 5])
            .await
            .expect("runs")
            .retval,
        7
    );
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_on_same_path() {
    let Some(server) = start().await else { return };
    let rt = runtime().expect("available");
    let mut client = SidecarClient::connect(&server.path).await.expect("connect");
    assert_eq!(
        client
            .run(&ret_const(3), &[0; 1])
            .await
            .expect("runs")
            .retval,
        4
    );
    server.task.abort();
    let _ = server.task.await;
    // The old connection is gone with the server.
    assert_eq!(
        client
            .run(&ret_const(3), &[0; 1])
            .await
            .expect_err("dead")
            .code(),
        "SIDECAR"
    );
    let task = start_at(&server.path, rt).await;
    let mut client = SidecarClient::connect(&server.path)
        .await
        .expect("reconnect");
    assert_eq!(
        client
            .run(&ret_const(3), &[0; 2])
            .await
            .expect("runs")
            .retval,
        5
    );
    task.abort();
}

#[tokio::test]
async fn missing_socket_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nobody-here.sock");
    let err = SidecarClient::connect(&path).await.expect_err("missing");
    let msg = err.to_string();
    assert_eq!(err.code(), "SIDECAR");
    assert!(
        msg.contains("the eBPF sidecar is not running at")
            && msg.contains(&format!("warden-ebpf-sidecar --socket {}", path.display()))
            && msg.contains("as root"),
        "{msg}"
    );
}
