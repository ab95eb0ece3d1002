//! Per-call store state: the WASI context built from the grants, the resource
//! table, the capability contexts, the counters and the receipt in progress.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::http::HttpHooks;
use crate::capabilities::sockets::SocketLog;
use crate::error::{Error, Result};
use crate::host::HostShared;
use crate::limits::{Limiter, Limits, Tripped};
use crate::policy::{Capability, Grants};
use crate::receipt::{LogLine, Receipt};

/// One budget of output bytes shared by the result, stdout, stderr and logs.
#[derive(Debug)]
pub(crate) struct OutputBudget {
    limit: usize,
    used: std::sync::atomic::AtomicUsize,
    tripped: Mutex<Option<&'static str>>,
}

impl OutputBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(OutputBudget {
            limit,
            used: 0.into(),
            tripped: Mutex::new(None),
        })
    }

    /// Take `n` bytes for `stream`; false (and remember who crossed) when over.
    pub(crate) fn take(&self, n: usize, stream: &'static str) -> bool {
        use std::sync::atomic::Ordering;
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before + n > self.limit {
            let mut t = self.tripped.lock().unwrap_or_else(|p| p.into_inner());
            t.get_or_insert(stream);
            false
        } else {
            true
        }
    }

    pub(crate) fn tripped(&self) -> Option<&'static str> {
        *self.tripped.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn reset(&self) {
        self.used.store(0, std::sync::atomic::Ordering::Relaxed);
        *self.tripped.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// stdout/stderr that capture into memory and trap once the shared output
/// budget is spent (so an output flood ends as `OUTPUT_TOO_LARGE`).
#[derive(Clone, Debug)]
pub(crate) struct CappedPipe {
    budget: Arc<OutputBudget>,
    buffer: Arc<Mutex<BytesMut>>,
    stream: &'static str,
}

impl CappedPipe {
    pub(crate) fn new(budget: Arc<OutputBudget>, stream: &'static str) -> Self {
        CappedPipe {
            budget,
            buffer: Arc::default(),
            stream,
        }
    }

    /// The last `max` bytes written, as text (for trap messages).
    pub(crate) fn peek_tail(&self, max: usize) -> String {
        let buf = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let start = buf.len().saturating_sub(max);
        String::from_utf8_lossy(&buf[start..]).into_owned()
    }

    pub(crate) fn take_contents(&self) -> Bytes {
        std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner())).freeze()
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if !self.budget.take(bytes.len(), self.stream) {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "{} exceeded the output limit of {} bytes",
                self.stream,
                self.budget.limit()
            )));
        }
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(AsyncCapped(self.clone()))
    }
}

struct AsyncCapped(CappedPipe);

impl tokio::io::AsyncWrite for AsyncCapped {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = OutputStream::write(&mut self.0, Bytes::copy_from_slice(buf))
            .map(|()| buf.len())
            .map_err(|e| std::io::Error::other(e.to_string()));
        std::task::Poll::Ready(r)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Handles kept outside the store to read results after the call.
#[derive(Clone, Debug)]
pub(crate) struct Captures {
    pub(crate) budget: Arc<OutputBudget>,
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
    pub(crate) sockets: SocketLog,
}

/// The `T` of every `Store<T>` warden creates.
pub struct CallState {
    pub(crate) plugin: Arc<str>,
    pub(crate) shared: Arc<HostShared>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: HttpHooks,
    pub(crate) limiter: Limiter,
    pub(crate) host_call_limit: u64,
    pub(crate) host_calls_total: u64,
    pub(crate) receipt: Receipt,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) captures: Captures,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl CallState {
    pub(crate) fn new(
        plugin: Arc<str>,
        shared: Arc<HostShared>,
        grants: Arc<Grants>,
        limits: &Limits,
        stdin: Option<Vec<u8>>,
        args: &[String],
    ) -> Result<Self> {
        let budget = OutputBudget::new(limits.output_bytes);
        let stdout = CappedPipe::new(budget.clone(), "stdout");
        let stderr = CappedPipe::new(budget.clone(), "stderr");
        let sockets = SocketLog::default();

        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone()).stderr(stderr.clone());
        if !args.is_empty() {
            b.arg(&*plugin);
            b.args(args);
        }
        if let Some(stdin) = stdin {
            b.stdin(StdinPipe(MemoryInputPipe::new(stdin)));
        }
        // Environment: only allow-listed names.
        for e in &grants.env {
            let value = match &e.value {
                Some(v) => Some(v.clone()),
                None => std::env::var(&e.name).ok(),
            };
            if let Some(v) = value {
                b.env(&e.name, v);
            }
        }
        // Files: preopens only (cap-std underneath: `..`, absolute paths and
        // symlinks out of the directory fail in the guest).
        for d in &grants.dirs {
            b.preopened_dir(&d.host, &d.guest, crate::policy::dir_perms(d))
                .map_err(|e| {
                    Error::io(
                        format!("granting directory {}", d.host.display()),
                        std::io::Error::other(e.to_string()),
                    )
                })?;
        }
        crate::capabilities::sockets::configure(&mut b, &grants, &plugin, sockets.clone());

        Ok(CallState {
            http_hooks: HttpHooks::new(plugin.clone(), grants.clone()),
            plugin,
            shared,
            limiter: Limiter::new(limits),
            host_call_limit: limits.host_calls,
            host_calls_total: 0,
            grants,
            wasi: b.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            receipt: Receipt::default(),
            logs: Vec::new(),
            captures: Captures {
                budget,
                stdout,
                stderr,
                sockets,
            },
        })
    }

    /// Reset the per-call parts for a reused instance.
    pub(crate) fn reset_for_call(&mut self, limits: &Limits) {
        self.host_call_limit = limits.host_calls;
        self.host_calls_total = 0;
        self.limiter.tripped = None;
        self.receipt = Receipt::default();
        self.logs.clear();
        self.http_hooks.reset();
        self.captures.budget.reset();
        self.captures.stdout.take_contents();
        self.captures.stderr.take_contents();
        self.captures.sockets.take();
    }

    /// Count one host call of `cap`; trap when the limit is passed.
    pub(crate) fn count_call(&mut self, cap: Capability) -> wasmtime::Result<()> {
        self.host_calls_total += 1;
        self.receipt.host_calls.bump(cap);
        if self.host_calls_total > self.host_call_limit {
            self.limiter.trip(Tripped::HostCalls);
            wasmtime::bail!("host call limit of {} reached", self.host_call_limit);
        }
        Ok(())
    }

    /// Record a denial in the receipt.
    pub(crate) fn denied(&mut self, cap: Capability, what: &str) -> String {
        let msg = format!("{cap}: {what} is not granted");
        tracing::debug!(plugin = %self.plugin, "denied {msg}");
        self.receipt.denials.push(msg.clone());
        msg
    }
}

/// stdin from bytes (a newtype so warden controls the trait impls it relies on).
struct StdinPipe(MemoryInputPipe);

impl IsTerminal for StdinPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for StdinPipe {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::InputStream> {
        self.0.p2_stream()
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        self.0.async_stream()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
