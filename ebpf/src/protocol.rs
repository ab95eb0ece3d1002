//! The wire protocol between [`crate::sidecar::SidecarClient`] and the
//! privileged `warden-ebpf-sidecar` process.
//!
//! Every message is one frame: a `u32` big-endian body length followed by a
//! JSON body. A client sends [`Request`]s and reads one [`Response`] per
//! request, carrying the same `id`. Frames longer than [`MAX_FRAME_LEN`] are
//! refused: the server answers with a `FRAME_TOO_LARGE` error (id 0) and
//! closes the connection. A body that is not a valid [`Request`] gets an
//! `INVALID_INPUT` error response and the connection stays usable.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use warden_api::{ErrorBody, ErrorCode};

use crate::{EbpfError, MAX_INPUT_LEN, MapEntries, RunOutput, Source};

/// The largest frame body accepted in either direction (1 MiB).
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// Error code sent when a frame exceeds [`MAX_FRAME_LEN`].
pub const FRAME_TOO_LARGE: &str = "FRAME_TOO_LARGE";

/// What the sidecar reports for [`EbpfError::NotPermitted`] on the client side.
const SIDECAR_PRIVILEGES: &str = "CAP_BPF and CAP_NET_ADMIN in the sidecar (run it as root)";

/// A program to run, as sent over the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceDto {
    /// [`Source::Function`].
    Function {
        /// The C text.
        c: String,
    },
    /// [`Source::Program`].
    Program {
        /// The C text.
        c: String,
        /// The function to run.
        #[serde(default)]
        section_fn: Option<String>,
    },
    /// [`Source::Object`].
    Object {
        /// The ELF bytes.
        bytes: Vec<u8>,
    },
}

impl From<&Source> for SourceDto {
    fn from(s: &Source) -> Self {
        match s {
            Source::Function(c) => Self::Function { c: c.clone() },
            Source::Program { c, section_fn } => Self::Program {
                c: c.clone(),
                section_fn: section_fn.clone(),
            },
            Source::Object(b) => Self::Object { bytes: b.clone() },
        }
    }
}

impl From<SourceDto> for Source {
    fn from(s: SourceDto) -> Self {
        match s {
            SourceDto::Function { c } => Self::Function(c),
            SourceDto::Program { c, section_fn } => Self::Program { c, section_fn },
            SourceDto::Object { bytes } => Self::Object(bytes),
        }
    }
}

/// One run request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client, echoed in the [`Response`].
    pub id: u64,
    /// The program.
    pub source: SourceDto,
    /// The input bytes (a JSON array of numbers).
    #[serde(default)]
    pub data: Vec<u8>,
}

/// [`RunOutput`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutputDto {
    /// See [`RunOutput::retval`].
    pub retval: u32,
    /// See [`RunOutput::duration_ns`].
    pub duration_ns: u64,
    /// See [`RunOutput::cached`].
    pub cached: bool,
    /// See [`RunOutput::maps`].
    #[serde(default)]
    pub maps: BTreeMap<String, MapEntries>,
}

impl From<RunOutput> for RunOutputDto {
    fn from(o: RunOutput) -> Self {
        Self {
            retval: o.retval,
            duration_ns: o.duration_ns,
            cached: o.cached,
            maps: o.maps,
        }
    }
}

impl From<RunOutputDto> for RunOutput {
    fn from(o: RunOutputDto) -> Self {
        Self {
            retval: o.retval,
            duration_ns: o.duration_ns,
            cached: o.cached,
            maps: o.maps,
        }
    }
}

/// An eBPF error on the wire: warden's one error body
/// ([`warden_api::ErrorBody`]), its code the matching [`warden_api::ErrorCode`]
/// and its detail `kind` the eBPF-specific kind ([`EbpfError::code`]), from
/// which the client rebuilds the [`EbpfError`].
pub fn error_body(e: &EbpfError) -> ErrorBody {
    let message = match e {
        EbpfError::Compile { message }
        | EbpfError::InvalidSource { message }
        | EbpfError::Load { message }
        | EbpfError::Run { message }
        | EbpfError::InvalidInput { message }
        | EbpfError::Sidecar { message } => message.clone(),
        EbpfError::VerifierRejected { log } => log.clone(),
        EbpfError::Internal(m) => m.clone(),
        other => other.to_string(),
    };
    ErrorBody::new(e.error_code(), message).with("kind", e.code())
}

/// An error body of kind `kind` with `message` (for the sidecar's own
/// refusals: a bad frame, an oversized one).
pub fn error_body_of(kind: &str, code: ErrorCode, message: String) -> ErrorBody {
    ErrorBody::new(code, message).with("kind", kind)
}

/// Rebuild the [`EbpfError`] an [`error_body`] carries; `data_len` is the
/// length of the request's input (for `INPUT_TOO_LARGE`).
pub fn error_from_body(body: ErrorBody, data_len: usize) -> EbpfError {
    let kind = body
        .details
        .get("kind")
        .and_then(|k| k.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.code.as_str().to_string());
    let message = body.message;
    match kind.as_str() {
        "COMPILE" => EbpfError::Compile { message },
        "INVALID_SOURCE" => EbpfError::InvalidSource { message },
        "VERIFIER_REJECTED" => EbpfError::VerifierRejected { log: message },
        "INPUT_TOO_LARGE" => EbpfError::BufferTooLarge {
            len: data_len,
            max: MAX_INPUT_LEN,
        },
        "NOT_PERMITTED" => EbpfError::NotPermitted {
            what: SIDECAR_PRIVILEGES,
        },
        "LOAD" => EbpfError::Load { message },
        "RUN" => EbpfError::Run { message },
        "IO" => EbpfError::Io {
            context: "in the eBPF sidecar".into(),
            source: io::Error::other(message),
        },
        "INVALID_INPUT" => EbpfError::InvalidInput { message },
        "INTERNAL" => EbpfError::Internal(message),
        code => EbpfError::Sidecar {
            message: format!("the eBPF sidecar answered {code}: {message}"),
        },
    }
}

/// One response, matching the [`Request::id`] it answers (0 when the
/// request could not be read far enough to know its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// The run's outcome.
    pub result: Result<RunOutputDto, ErrorBody>,
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The announced or actual body length exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The length.
        len: usize,
        /// [`MAX_FRAME_LEN`].
        max: usize,
    },
    /// The connection failed or closed mid-frame.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
}

/// Reads one frame body; `Ok(None)` on a clean end of stream before a frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return end_of_stream(got);
        }
        got += n;
    }
    let mut body = vec![0u8; body_len(len)?];
    r.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// [`read_frame`] on a blocking reader (the sidecar's connection threads).
pub fn read_frame_blocking<R: Read>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = match r.read(&mut len[got..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            n => n?,
        };
        if n == 0 {
            return end_of_stream(got);
        }
        got += n;
    }
    let mut body = vec![0u8; body_len(len)?];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

/// The end of the stream after `got` bytes of a length prefix.
fn end_of_stream(got: usize) -> Result<Option<Vec<u8>>, FrameError> {
    if got == 0 {
        Ok(None)
    } else {
        Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()))
    }
}

/// The body length a prefix announces, if it is within [`MAX_FRAME_LEN`].
fn body_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// `msg` as one frame: the length prefix and the JSON body.
fn frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = vec![0u8; 4];
    serde_json::to_writer(&mut buf, msg).map_err(io::Error::other)?;
    let len = buf.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf)
}

/// Writes one frame (length and body in a single write) and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), FrameError> {
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Serializes `msg` as JSON and writes it as one frame, in one write.
pub async fn write_message<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    w.write_all(&frame(msg)?).await?;
    w.flush().await?;
    Ok(())
}

/// [`write_message`] on a blocking writer.
pub fn write_message_blocking<W: Write, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    w.write_all(&frame(msg)?)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        let e = EbpfError::Compile {
            message: "snippet.c:1:1: error".into(),
        };
        let body = error_body(&e);
        assert_eq!(body.code, ErrorCode::Compile);
        assert_eq!(body.details["kind"], "COMPILE");
        let back = error_from_body(body, 0);
        assert!(
            matches!(back, EbpfError::Compile { ref message } if message.contains("snippet.c"))
        );
        let body = error_body(&EbpfError::NotPermitted { what: "root" });
        assert_eq!(body.code, ErrorCode::Unavailable);
        assert!(matches!(
            error_from_body(body, 0),
            EbpfError::NotPermitted { .. }
        ));
        let back = error_from_body(
            error_body_of("INPUT_TOO_LARGE", ErrorCode::InputTooLarge, String::new()),
            5000,
        );
        assert!(matches!(back, EbpfError::BufferTooLarge { len: 5000, .. }));
    }

    #[tokio::test]
    async fn frames_round_trip_and_limit() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"{}").await.expect("write");
        let mut r = buf.as_slice();
        assert_eq!(
            read_frame(&mut r).await.expect("read"),
            Some(b"{}".to_vec())
        );
        assert!(read_frame(&mut r).await.expect("eof").is_none());
        let big = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let mut r = &big[..];
        assert!(matches!(
            read_frame(&mut r).await,
            Err(FrameError::TooLarge { .. })
        ));
    }
}
