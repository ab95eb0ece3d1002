//! `warden-bench http` (`make bench-http`): `warden serve` against
//! `wasmtime serve` on the same `wasi:http/proxy` component (the hello-http
//! guest), the same load generator (this file: keep-alive HTTP/1.1
//! connections on hyper, one request in flight per connection) and the
//! same cores, alternated round by round; then `POST /v1/execute` of a JS
//! snippet at concurrency 1, 16 and 256. Every row in the shape of the
//! public hyperlight-bench runs: req/s, p50, p99 and the server's RSS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

use crate::common::{self, usage};

/// What the suite is told.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    pub(crate) duration: Duration,
    pub(crate) rounds: u32,
    pub(crate) concurrency: usize,
    pub(crate) wasmtime: Option<PathBuf>,
    pub(crate) skip_peer: bool,
    pub(crate) json: bool,
}

/// One measurement.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    requests: u64,
    errors: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Resident memory now, in MiB (from /proc).
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

async fn wait_for(server: &mut Server, path: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(load) = one_request(server.addr, "GET", path, None).await
            && load
        {
            return Ok(());
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!("{what} exited ({status}) before answering {path}");
        }
        if Instant::now() > deadline {
            bail!("{what} did not answer {path} within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One request on a new connection: whether it got a 2xx.
async fn one_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<bool> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = send.send_request(request(addr, method, path, body)).await?;
    let ok = resp.status().is_success();
    let _ = resp.into_body().collect().await;
    Ok(ok)
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b.body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .expect("a valid request")
}

/// `concurrency` connections, each sending requests one after another for
/// `duration`.
async fn load(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    concurrency: usize,
    duration: Duration,
) -> Result<Load> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        tasks.spawn(async move {
            let mut latencies: Vec<u64> = Vec::new();
            let mut errors = 0u64;
            let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                return (latencies, 1);
            };
            let _ = stream.set_nodelay(true);
            let Ok((mut send, conn)) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
            else {
                return (latencies, 1);
            };
            tokio::spawn(conn);
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = match send.send_request(request(addr, method, path, body)).await {
                    Ok(resp) => {
                        let status = resp.status();
                        resp.into_body().collect().await.is_ok() && status.is_success()
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                    if send.ready().await.is_err() {
                        break;
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r.context("a load task failed")?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pick = |q: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1] as f64
        }
    };
    Ok(Load {
        requests: all.len() as u64,
        errors,
        rps: all.len() as f64 / elapsed,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
    })
}

fn start_warden(warden: &Path, component: &Path, cache: &Path) -> Result<Server> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(warden)
        .args([
            "serve",
            "--no-auth",
            "--runtimes",
            "wasm,js",
            "--listen",
            &addr.to_string(),
            "--route",
        ])
        .arg(format!("/hello={}", component.display()))
        .arg("--cache-dir")
        .arg(cache)
        .args(["--max-in-flight", "512", "--queue", "4096"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", warden.display()))?;
    Ok(Server { child, addr })
}

fn start_wasmtime(wasmtime: &Path, component: &Path, extra: &[&str]) -> Result<Server> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(wasmtime)
        // `-Scli`: the guest's std imports wasi:cli (warden links it always).
        .args(["serve", "-Scli", "--addr", &addr.to_string()])
        .args(extra)
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", wasmtime.display()))?;
    Ok(Server { child, addr })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// Rows: (name, medians, RSS in MiB).
type Row = (String, Load, f64);

fn summarize(name: &str, runs: &[Load], rss: f64) -> Row {
    let m = Load {
        requests: runs.iter().map(|l| l.requests).sum(),
        errors: runs.iter().map(|l| l.errors).sum(),
        rps: median(runs.iter().map(|l| l.rps).collect()),
        p50_us: median(runs.iter().map(|l| l.p50_us).collect()),
        p99_us: median(runs.iter().map(|l| l.p99_us).collect()),
    };
    (name.to_string(), m, rss)
}

pub(crate) async fn bench_http(o: HttpOptions) -> Result<std::process::ExitCode> {
    let warden = common::find_in_repo("target/release/warden", |p| p.is_file())
        .ok_or_else(|| usage("target/release/warden not found: make build"))?;
    let component =
        common::find_in_repo("target/guests/wasm32-wasip2/release/hello_http.wasm", |p| {
            p.is_file()
        })
        .ok_or_else(|| usage("the hello-http guest was not found: make guests"))?;
    let wasmtime = if o.skip_peer {
        None
    } else {
        let found = o
            .wasmtime
            .clone()
            .or_else(|| common::find_in_repo("target/wasmtime-cli/bin/wasmtime", |p| p.is_file()));
        Some(found.ok_or_else(|| {
            usage("no wasmtime CLI: `make bench-http` installs wasmtime-cli 50.0.1 into target/wasmtime-cli (or give --wasmtime PATH, or --skip-peer)")
        })?)
    };
    // A cache beside the binary: the JS engine is compiled once, not per run.
    let cache = warden
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("bench-cache"))
        .unwrap_or_else(|| PathBuf::from("target/bench-cache"));
    let mut w = start_warden(&warden, &component, &cache)?;
    wait_for(&mut w, "/hello", "warden serve").await?;
    // Let the runtimes' warm-up finish, so it does not share the cores
    // with the measurement.
    wait_for(&mut w, "/ready", "warden serve").await?;
    // The peer as its users run it, and tuned with the pooling allocator
    // (what warden uses).
    const PEERS: [(&str, &[&str]); 2] = [
        ("wasmtime serve", &[]),
        (
            "wasmtime serve -O pooling-allocator",
            &["-O", "pooling-allocator=y"],
        ),
    ];
    let mut peers = Vec::new();
    if let Some(path) = &wasmtime {
        for (name, extra) in PEERS {
            let mut p = start_wasmtime(path, &component, extra)?;
            wait_for(&mut p, "/hello", name).await?;
            peers.push((name, p));
        }
    }
    let c = o.concurrency;
    let mut warden_runs = Vec::new();
    let mut peer_runs: Vec<Vec<Load>> = vec![Vec::new(); peers.len()];
    let warm = Duration::from_millis(500).min(o.duration);
    for _ in 0..o.rounds {
        load(w.addr, "GET", "/hello", None, c, warm).await?;
        warden_runs.push(load(w.addr, "GET", "/hello", None, c, o.duration).await?);
        for (i, (_, p)) in peers.iter().enumerate() {
            load(p.addr, "GET", "/hello", None, c, warm).await?;
            peer_runs[i].push(load(p.addr, "GET", "/hello", None, c, o.duration).await?);
        }
    }
    let mut rows = vec![summarize(
        &format!("wasi:http hello, warden serve (c={c})"),
        &warden_runs,
        w.rss_mib(),
    )];
    for (i, (name, p)) in peers.iter().enumerate() {
        rows.push(summarize(
            &format!("wasi:http hello, {name} (c={c})"),
            &peer_runs[i],
            p.rss_mib(),
        ));
    }
    let n_peers = peers.len();
    drop(peers);
    const SNIPPET: &str = r#"{"language":"js","code":"(i) => i.n * 2","input":{"n":21}}"#;
    for conc in [1usize, 16, 256] {
        let mut runs = Vec::new();
        for _ in 0..o.rounds {
            load(w.addr, "POST", "/v1/execute", Some(SNIPPET), conc, warm).await?;
            runs.push(
                load(
                    w.addr,
                    "POST",
                    "/v1/execute",
                    Some(SNIPPET),
                    conc,
                    o.duration,
                )
                .await?,
            );
        }
        rows.push(summarize(
            &format!("POST /v1/execute JS snippet (c={conc})"),
            &runs,
            w.rss_mib(),
        ));
    }
    let ratios: Vec<(String, f64, f64)> = (1..=n_peers)
        .map(|i| {
            (
                PEERS[i - 1].0.to_string(),
                rows[0].1.rps / rows[i].1.rps,
                rows[i].1.p99_us,
            )
        })
        .collect();
    if o.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(name, l, rss)| {
                serde_json::json!({ "name": name, "rps": l.rps, "p50_us": l.p50_us, "p99_us": l.p99_us,
                                    "rss_mib": rss, "requests": l.requests, "errors": l.errors })
            })
            .collect();
        let ratios: Vec<_> = ratios
            .iter()
            .map(|(peer, r, _)| serde_json::json!({ "peer": peer, "throughput_ratio": r }))
            .collect();
        let doc = serde_json::json!({ "rows": json, "ratios": ratios });
        common::stdout_line(&serde_json::to_string_pretty(&doc)?)?;
    } else {
        let mut out = format!(
            "{} rounds of {:.1} s per row, medians; {} cores\n{:<58} {:>8} {:>10} {:>10} {:>8} {:>6}\n",
            o.rounds,
            o.duration.as_secs_f64(),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            "row",
            "req/s",
            "p50",
            "p99",
            "RSS MiB",
            "errors"
        );
        for (name, l, rss) in &rows {
            out.push_str(&format!(
                "{:<58} {:>8.0} {:>10} {:>10} {:>8.1} {:>6}\n",
                name,
                l.rps,
                common::fmt_ns(l.p50_us * 1e3),
                common::fmt_ns(l.p99_us * 1e3),
                rss,
                l.errors
            ));
        }
        for (peer, r, p99) in &ratios {
            out.push_str(&format!(
                "warden serve / {peer}: {r:.2}x the throughput (goal >= 1.0x); p99 {} vs {}\n",
                common::fmt_ns(rows[0].1.p99_us * 1e3),
                common::fmt_ns(p99 * 1e3)
            ));
        }
        common::stdout_line(out.trim_end())?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}
