//! The eBPF sidecar: a privileged process holding `CAP_BPF` and
//! `CAP_NET_ADMIN` that runs programs for unprivileged hosts over a Unix
//! socket, so that the host itself needs no privileges.
//!
//! [`serve`] accepts connections on a [`UnixListener`] and answers each on
//! its own thread with blocking reads and writes: a request wakes the thread
//! that waits for it, with no reactor or scheduler hop in between, which is
//! most of a round trip's cost on a small VM. Requests on one connection are
//! handled in order. Dropping the `serve` future shuts every open connection
//! down, so its clients see the end of the stream at once.
//! [`SidecarClient`] is the matching client. The wire format is described in
//! [`crate::protocol`].

use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use warden_api::ErrorCode;

use crate::protocol::{
    FRAME_TOO_LARGE, FrameError, MAX_FRAME_LEN, Request, Response, RunOutputDto, error_body,
    error_body_of, error_from_body, read_frame_blocking, write_message, write_message_blocking,
};
use crate::{EbpfError, Kernel, RunOutput, Source};

/// The default socket path of `warden-ebpf-sidecar`.
pub const DEFAULT_SOCKET: &str = "/run/warden/ebpf.sock";

/// Binds a listener at `path`: creates the parent directory, removes a stale
/// socket file (refusing when a live sidecar answers there) and sets the
/// socket's mode to 0660.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("a sidecar is already serving at {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// How long either end busy-polls for the other's next message before it
/// blocks. A blocked thread on an idle virtual CPU takes ~50 µs to wake on
/// this kind of machine (the vCPU halts; waking it is a trip through the
/// hypervisor), ten times a whole cached run; polling for a short while
/// keeps back-to-back requests off that path. An idle connection costs this
/// much CPU once, then sleeps.
pub const SPIN: Duration = Duration::from_micros(100);

/// Waits until `fd` is readable or `budget` has passed, without sleeping:
/// `poll` with a zero timeout, in a loop.
fn spin_until_readable(fd: RawFd, budget: Duration) -> bool {
    let started = Instant::now();
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, zero timeout.
        if unsafe { libc::poll(&mut pfd, 1, 0) } != 0 {
            return true;
        }
        if started.elapsed() >= budget {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Connections open at most; one more is answered `BUSY` and closed.
pub const MAX_CONNECTIONS: usize = 256;

/// Serves clients on `listener` until the returned future is dropped (which
/// also shuts down every open connection).
pub async fn serve(listener: UnixListener, runtime: Arc<Kernel>) {
    let mut connections = Connections::default();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("warden-ebpf-sidecar: accept failed: {e}");
                // Avoid a hot loop on persistent errors (e.g. EMFILE).
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let stream = match stream.into_std().and_then(|s| {
            s.set_nonblocking(false)?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("warden-ebpf-sidecar: cannot take the connection: {e}");
                continue;
            }
        };
        if let Err(e) = connections.open(stream, Arc::clone(&runtime)) {
            eprintln!("warden-ebpf-sidecar: {e}");
        }
    }
}

/// The open connections, each served by its own thread; dropping this shuts
/// them all down (their threads then see the end of the stream and exit).
#[derive(Default)]
struct Connections {
    open: Arc<Mutex<HashMap<u64, StdUnixStream>>>,
    next: u64,
}

impl Connections {
    fn open(&mut self, stream: StdUnixStream, runtime: Arc<Kernel>) -> io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_CONNECTIONS {
            let busy = error_response(
                0,
                "BUSY",
                ErrorCode::Busy,
                format!("the sidecar serves {MAX_CONNECTIONS} connections at most"),
            );
            let _ = write_message_blocking(&mut &stream, &busy);
            return Ok(());
        }
        let id = self.next;
        self.next += 1;
        open.insert(id, stream.try_clone()?);
        drop(open);
        let all = Arc::clone(&self.open);
        let spawned = std::thread::Builder::new()
            .name(format!("warden-ebpf-conn-{id}"))
            .spawn(move || {
                handle_connection(&stream, &runtime);
                all.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            });
        if let Err(e) = spawned {
            if let Some(s) = self
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id)
            {
                let _ = s.shutdown(Shutdown::Both);
            }
            return Err(io::Error::other(format!(
                "cannot start a connection thread: {e}"
            )));
        }
        Ok(())
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        for s in self.open.lock().unwrap_or_else(|p| p.into_inner()).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn handle_connection(stream: &StdUnixStream, runtime: &Kernel) {
    let mut reader = std::io::BufReader::new(stream);
    let mut writer = stream;
    loop {
        if reader.buffer().is_empty() {
            spin_until_readable(stream.as_raw_fd(), SPIN);
        }
        let body = match read_frame_blocking(&mut reader) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(FrameError::TooLarge { len, max }) => {
                let response = error_response(
                    0,
                    FRAME_TOO_LARGE,
                    ErrorCode::InputTooLarge,
                    format!("frame of {len} bytes exceeds the {max}-byte limit; closing"),
                );
                let _ = write_message_blocking(&mut writer, &response);
                return;
            }
            Err(FrameError::Io(_)) => return,
        };
        let response = match serde_json::from_slice::<Request>(&body) {
            Ok(request) => run_request(request, runtime),
            Err(e) => {
                // Echo the id when the body is JSON with a numeric `id`.
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
                    .unwrap_or(0);
                error_response(
                    id,
                    "INVALID_INPUT",
                    ErrorCode::InvalidInput,
                    format!("malformed request: {e}"),
                )
            }
        };
        if write_message_blocking(&mut writer, &response).is_err() {
            return;
        }
    }
}

fn run_request(request: Request, runtime: &Kernel) -> Response {
    let source = Source::from(request.source);
    let result = match runtime.run(&source, &request.data) {
        Ok(out) => Ok(RunOutputDto::from(out)),
        Err(e) => Err(error_body(&e)),
    };
    Response {
        id: request.id,
        result,
    }
}

fn error_response(id: u64, kind: &str, code: ErrorCode, message: String) -> Response {
    Response {
        id,
        result: Err(error_body_of(kind, code, message)),
    }
}

/// A connection to a running sidecar.
#[derive(Debug)]
pub struct SidecarClient {
    stream: BufReader<UnixStream>,
    path: PathBuf,
    next_id: u64,
}

impl SidecarClient {
    /// Connects to the sidecar listening at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, EbpfError> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).await.map_err(|e| {
            let shown = path.display();
            match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => EbpfError::Sidecar {
                    message: format!(
                        "the eBPF sidecar is not running at {shown}: start it with \
                             `warden-ebpf-sidecar --socket {shown}` as root"
                    ),
                },
                io::ErrorKind::PermissionDenied => EbpfError::Sidecar {
                    message: format!(
                        "no permission to connect to the eBPF sidecar at {shown}: \
                         the socket is mode 0660, join its group or run as its owner"
                    ),
                },
                _ => EbpfError::Sidecar {
                    message: format!("cannot connect to the eBPF sidecar at {shown}: {e}"),
                },
            }
        })?;
        Ok(Self {
            stream: BufReader::new(stream),
            path,
            next_id: 1,
        })
    }

    /// The socket path this client connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `source` on `data` in the sidecar (see [`Kernel::run`]).
    pub async fn run(&mut self, source: &Source, data: &[u8]) -> Result<RunOutput, EbpfError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let request = Request {
            id,
            source: source.into(),
            data: data.to_vec(),
        };
        write_message(&mut self.stream, &request)
            .await
            .map_err(|e| self.broken("sending the request", e))?;
        // A cached run answers in a few µs: poll for the answer rather than
        // park this thread (see [`SPIN`]).
        let mut prefix = [0u8; 4];
        match self.read_exact_spinning(&mut prefix).await {
            Ok(4) => {}
            Ok(0) => {
                return Err(EbpfError::Sidecar {
                    message: format!(
                        "the eBPF sidecar at {} closed the connection",
                        self.path.display()
                    ),
                });
            }
            Ok(_) => {
                let e = io::Error::from(io::ErrorKind::UnexpectedEof);
                return Err(self.broken("reading the response", e.into()));
            }
            Err(e) => return Err(self.broken("reading the response", e)),
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len > MAX_FRAME_LEN {
            let e = FrameError::TooLarge {
                len,
                max: MAX_FRAME_LEN,
            };
            return Err(self.broken("reading the response", e));
        }
        let mut body = vec![0u8; len];
        match self.read_exact_spinning(&mut body).await {
            Ok(n) if n == len => {}
            Ok(_) => {
                let e = io::Error::from(io::ErrorKind::UnexpectedEof);
                return Err(self.broken("reading the response", e.into()));
            }
            Err(e) => return Err(self.broken("reading the response", e)),
        }
        let response: Response = serde_json::from_slice(&body).map_err(|e| EbpfError::Sidecar {
            message: format!("malformed response from the eBPF sidecar: {e}"),
        })?;
        match response.result {
            Ok(out) if response.id == id => Ok(out.into()),
            Err(err) if response.id == id || response.id == 0 => {
                Err(error_from_body(err, data.len()))
            }
            _ => Err(EbpfError::Sidecar {
                message: format!(
                    "the eBPF sidecar answered request {} instead of {id}",
                    response.id
                ),
            }),
        }
    }

    /// Fills `buf` from the socket, polling it without sleeping for up to
    /// [`SPIN`], then through the reactor. The count read: short only at the
    /// end of the stream. The buffered reader holds nothing here (one
    /// response per request, read whole), so reading the descriptor
    /// directly keeps the bytes in order.
    async fn read_exact_spinning(&mut self, buf: &mut [u8]) -> Result<usize, FrameError> {
        debug_assert!(self.stream.buffer().is_empty());
        let fd = self.stream.get_ref().as_raw_fd();
        let started = Instant::now();
        let mut got = 0;
        while got < buf.len() {
            let rest = &mut buf[got..];
            // SAFETY: `rest` is valid for writes of its length.
            let n =
                unsafe { libc::recv(fd, rest.as_mut_ptr().cast(), rest.len(), libc::MSG_DONTWAIT) };
            if n > 0 {
                got += n as usize;
                continue;
            }
            if n == 0 {
                return Ok(got);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock if started.elapsed() < SPIN => std::hint::spin_loop(),
                io::ErrorKind::WouldBlock => {
                    return match self.stream.read_exact(&mut buf[got..]).await {
                        Ok(_) => Ok(buf.len()),
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(got),
                        Err(e) => Err(e.into()),
                    };
                }
                _ => return Err(e.into()),
            }
        }
        Ok(got)
    }

    fn broken(&self, what: &str, e: FrameError) -> EbpfError {
        EbpfError::Sidecar {
            message: format!(
                "{what} to/from the eBPF sidecar at {} failed: {e}",
                self.path.display()
            ),
        }
    }
}
