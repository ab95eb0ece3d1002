//! `wasi:cli` stdio glue: stdout and stderr captured in memory under one
//! output budget shared with the result and the `log` capability (an output
//! flood ends as `OUTPUT_TOO_LARGE`), and stdin from bytes.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

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

/// stdin from bytes (a newtype so warden controls the trait impls it relies on).
pub(crate) struct StdinPipe(pub(crate) MemoryInputPipe);

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

/// A call's stdio: stdout and stderr captured under one output budget (which
/// the result and the `log` capability share), stdin from bytes. Cheap to
/// clone: the clones read what the guest wrote after the store is gone.
#[derive(Clone, Debug)]
pub(crate) struct Stdio {
    pub(crate) budget: Arc<OutputBudget>,
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
}

impl Stdio {
    pub(crate) fn new(output_limit: usize) -> Self {
        let budget = OutputBudget::new(output_limit);
        Stdio {
            stdout: CappedPipe::new(budget.clone(), "stdout"),
            stderr: CappedPipe::new(budget.clone(), "stderr"),
            budget,
        }
    }

    /// Wire the pipes (and `stdin`, empty when `None`) into the WASI context.
    pub(crate) fn configure(&self, b: &mut WasiCtxBuilder, stdin: Option<Vec<u8>>) {
        b.stdout(self.stdout.clone()).stderr(self.stderr.clone());
        if let Some(stdin) = stdin {
            b.stdin(StdinPipe(MemoryInputPipe::new(stdin)));
        }
    }

    /// Empty the pipes and the budget for the next call of a reused instance.
    pub(crate) fn reset(&self) {
        self.budget.reset();
        self.stdout.take_contents();
        self.stderr.take_contents();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_budget_for_both_streams_and_the_first_to_cross_is_named() {
        let stdio = Stdio::new(8);
        let mut out = stdio.stdout.clone();
        let mut err = stdio.stderr.clone();
        out.write(Bytes::from_static(b"12345")).unwrap();
        assert!(err.write(Bytes::from_static(b"6789")).is_err());
        assert!(out.write(Bytes::from_static(b"x")).is_err());
        assert_eq!(stdio.budget.tripped(), Some("stderr"));
        assert_eq!(&stdio.stdout.take_contents()[..], b"12345");
        stdio.reset();
        assert_eq!(stdio.budget.used(), 0);
        assert_eq!(stdio.budget.tripped(), None);
        err.write(Bytes::from_static(b"ok")).unwrap();
        assert_eq!(stdio.stderr.peek_tail(1), "k");
    }
}
