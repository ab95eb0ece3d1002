//! The accept loop: hyper-util's server with a header read timeout (slow
//! clients are cut off), WebSocket upgrades, and graceful shutdown: stop
//! accepting, let in-flight requests and running jobs finish for up to the
//! drain time, then return.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::state::Shared;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ConnOptions {
    /// The longest a client may take to send its request head.
    pub header_read_timeout: Duration,
    /// The longest shutdown waits for in-flight requests and jobs.
    pub drain: Duration,
}

/// Serve `router` on `listener` until `shutdown` resolves, then drain.
/// `jobs`: running jobs are waited for too (up to the same drain time).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ConnOptions,
    jobs: Option<Shared>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<DrainReport> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, go on.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + options.drain;
    let requests_drained = tokio::time::timeout_at(deadline, graceful.shutdown())
        .await
        .is_ok();
    let mut jobs_left = 0;
    if let Some(jobs) = jobs {
        loop {
            jobs_left = jobs.jobs.running();
            if jobs_left == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(DrainReport {
        requests_drained,
        jobs_left,
        took: started.elapsed(),
    })
}

/// How shutdown went.
#[derive(Debug, Clone, Copy)]
pub struct DrainReport {
    /// Every in-flight request finished within the drain time.
    pub requests_drained: bool,
    /// Jobs still running at the end of the drain time.
    pub jobs_left: usize,
    /// How long draining took.
    pub took: Duration,
}
