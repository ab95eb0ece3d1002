//! The eBPF sidecar: a privileged process holding `CAP_BPF` and
//! `CAP_NET_ADMIN` that runs programs for unprivileged hosts over a Unix
//! socket, so that the host itself needs no privileges.
//!
//! [`serve`] accepts connections on a [`UnixListener`] and answers each with
//! its own task; requests on one connection are handled in order, and the
//! blocking [`Runtime::run`] goes through [`tokio::task::spawn_blocking`]
//! (except for cached, map-free programs, which [`Runtime::try_run_cached`]
//! runs inline at the cost of one syscall).
//! [`SidecarClient`] is the matching client. The wire format is described in
//! [`crate::protocol`].

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use crate::protocol::{
    ErrorDto, FRAME_TOO_LARGE, FrameError, Request, Response, RunOutputDto, read_frame,
    write_message,
};
use crate::{EbpfError, RunOutput, Runtime, Source};

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

/// Serves clients on `listener` until the returned future is dropped (which
/// also drops every open connection).
pub async fn serve(listener: UnixListener, runtime: Arc<Runtime>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(handle_connection(stream, Arc::clone(&runtime)));
                }
                Err(e) => {
                    eprintln!("warden-ebpf-sidecar: accept failed: {e}");
                    // Avoid a hot loop on persistent errors (e.g. EMFILE).
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle_connection(stream: UnixStream, runtime: Arc<Runtime>) {
    let mut stream = BufReader::new(stream);
    loop {
        let body = match read_frame(&mut stream).await {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(FrameError::TooLarge { len, max }) => {
                let response = error_response(
                    0,
                    FRAME_TOO_LARGE,
                    format!("frame of {len} bytes exceeds the {max}-byte limit; closing"),
                );
                let _ = write_message(&mut stream, &response).await;
                return;
            }
            Err(FrameError::Io(_)) => return,
        };
        let response = match serde_json::from_slice::<Request>(&body) {
            Ok(request) => run_request(request, &runtime).await,
            Err(e) => {
                // Echo the id when the body is JSON with a numeric `id`.
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
                    .unwrap_or(0);
                error_response(id, "INVALID_INPUT", format!("malformed request: {e}"))
            }
        };
        if write_message(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn run_request(request: Request, runtime: &Arc<Runtime>) -> Response {
    let id = request.id;
    let runtime = Arc::clone(runtime);
    let source = Source::from(request.source);
    let data = request.data;
    // A cached map-free program costs one syscall: run it inline rather than
    // paying for a hand-off to a blocking thread.
    let result = match runtime.try_run_cached(&source, &data) {
        Some(r) => Ok(r),
        None => tokio::task::spawn_blocking(move || runtime.run(&source, &data)).await,
    };
    let result = match result {
        Ok(Ok(out)) => Ok(RunOutputDto::from(out)),
        Ok(Err(e)) => Err(ErrorDto::from(&e)),
        Err(e) => Err(ErrorDto {
            code: "INTERNAL".into(),
            message: format!("run task failed: {e}"),
        }),
    };
    Response { id, result }
}

fn error_response(id: u64, code: &str, message: String) -> Response {
    Response {
        id,
        result: Err(ErrorDto {
            code: code.to_owned(),
            message,
        }),
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

    /// Runs `source` on `data` in the sidecar (see [`Runtime::run`]).
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
        let body = match read_frame(&mut self.stream).await {
            Ok(Some(body)) => body,
            Ok(None) => {
                return Err(EbpfError::Sidecar {
                    message: format!(
                        "the eBPF sidecar at {} closed the connection",
                        self.path.display()
                    ),
                });
            }
            Err(e) => return Err(self.broken("reading the response", e)),
        };
        let response: Response = serde_json::from_slice(&body).map_err(|e| EbpfError::Sidecar {
            message: format!("malformed response from the eBPF sidecar: {e}"),
        })?;
        match response.result {
            Ok(out) if response.id == id => Ok(out.into()),
            Err(err) if response.id == id || response.id == 0 => Err(err.into_error(data.len())),
            _ => Err(EbpfError::Sidecar {
                message: format!(
                    "the eBPF sidecar answered request {} instead of {id}",
                    response.id
                ),
            }),
        }
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
