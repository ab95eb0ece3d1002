//! The one error type of the public API. Every variant names the plugin it is
//! about and has a stable [`ErrorCode`] that embedders, the CLI and the HTTP
//! server can match on.

use std::fmt;
use std::time::Duration;

pub use warden_api::{ErrorBody, ErrorClass, ErrorCode, OverCeiling};

/// Everything that can go wrong loading or calling a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorCode::NotWasm`].
    #[error("plugin `{plugin}`: not WebAssembly: {detail}")]
    NotWasm {
        /// The plugin's name.
        plugin: String,
        /// What was found instead.
        detail: String,
    },
    /// See [`ErrorCode::NotAComponent`].
    #[error("plugin `{plugin}`: not a component: {detail}")]
    NotAComponent {
        /// The plugin's name.
        plugin: String,
        /// Why it cannot be used as a component.
        detail: String,
    },
    /// See [`ErrorCode::Compile`].
    #[error("plugin `{plugin}`: compile failed: {message}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// The compiler's or validator's message.
        message: String,
    },
    /// See [`ErrorCode::MissingExport`].
    #[error("plugin `{plugin}`: missing export `{export}` (exports: {})", available.join(", "))]
    MissingExport {
        /// The plugin's name.
        plugin: String,
        /// The export that was asked for.
        export: String,
        /// What the component does export.
        available: Vec<String>,
    },
    /// See [`ErrorCode::InvalidInput`].
    #[error("plugin `{plugin}`: invalid input: {reason}")]
    InvalidInput {
        /// The plugin's name.
        plugin: String,
        /// What is wrong with the input.
        reason: String,
    },
    /// See [`ErrorCode::InputTooLarge`].
    #[error("plugin `{plugin}`: input is {size} bytes, over the {limit}-byte input limit")]
    InputTooLarge {
        /// The plugin's name.
        plugin: String,
        /// The input's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// See [`ErrorCode::CapabilityDenied`].
    #[error("plugin `{plugin}`: capability `{capability}` denied: {detail}")]
    CapabilityDenied {
        /// The plugin's name.
        plugin: String,
        /// The capability, e.g. `kv`, `http`, or `unknown` for an import warden does not provide.
        capability: String,
        /// The import or resource that was asked for.
        detail: String,
    },
    /// A script's entry point returned a promise that can never settle
    /// (nothing is left to run). Its code is `TIMEOUT`: the call would
    /// otherwise wait until its deadline.
    #[error("plugin `{plugin}`: the promise never settles: {reason}")]
    Stalled {
        /// The plugin's name.
        plugin: String,
        /// What the engine said.
        reason: String,
    },
    /// See [`ErrorCode::Timeout`].
    #[error("plugin `{plugin}`: timed out after {limit:?}")]
    Timeout {
        /// The plugin's name.
        plugin: String,
        /// The wall-clock limit.
        limit: Duration,
    },
    /// See [`ErrorCode::MemoryLimit`].
    #[error("plugin `{plugin}`: memory limit of {limit} bytes reached (wanted {wanted} bytes)")]
    MemoryLimit {
        /// The plugin's name.
        plugin: String,
        /// The limit in bytes.
        limit: usize,
        /// The size the guest tried to grow to.
        wanted: usize,
    },
    /// See [`ErrorCode::TableLimit`].
    #[error("plugin `{plugin}`: table limit of {limit} elements reached (wanted {wanted})")]
    TableLimit {
        /// The plugin's name.
        plugin: String,
        /// The limit in elements.
        limit: usize,
        /// The size the guest tried to grow to.
        wanted: usize,
    },
    /// See [`ErrorCode::FuelExhausted`].
    #[error("plugin `{plugin}`: fuel budget of {limit} exhausted")]
    FuelExhausted {
        /// The plugin's name.
        plugin: String,
        /// The budget.
        limit: u64,
    },
    /// See [`ErrorCode::HostCallLimit`].
    #[error("plugin `{plugin}`: more than {limit} host calls")]
    HostCallLimit {
        /// The plugin's name.
        plugin: String,
        /// The limit.
        limit: u64,
    },
    /// See [`ErrorCode::OutputTooLarge`].
    #[error("plugin `{plugin}`: output over the {limit}-byte output limit ({stream})")]
    OutputTooLarge {
        /// The plugin's name.
        plugin: String,
        /// The limit.
        limit: usize,
        /// Which output crossed it: `result`, `stdout`, `stderr` or `log`.
        stream: String,
    },
    /// See [`ErrorCode::Trap`].
    #[error("plugin `{plugin}`: trap: {message}{}", backtrace.as_deref().map(|b| format!("\n{b}")).unwrap_or_default())]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// The trap's message (e.g. `wasm trap: call stack exhausted`).
        message: String,
        /// The guest backtrace, when Wasmtime captured one.
        backtrace: Option<String>,
    },
    /// See [`ErrorCode::GuestError`].
    #[error("plugin `{plugin}`: guest error: {message}")]
    GuestError {
        /// The plugin's name.
        plugin: String,
        /// The guest's own error value.
        message: String,
    },
    /// See [`ErrorCode::Serialization`].
    #[error("plugin `{plugin}`: serialization: {reason}")]
    Serialization {
        /// The plugin's name.
        plugin: String,
        /// What could not be converted.
        reason: String,
    },
    /// See [`ErrorCode::Io`].
    #[error("{context}: {source}")]
    Io {
        /// What warden was doing (names the path).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The call waited in the controller's queue for its whole timeout.
    /// Its code is `TIMEOUT`.
    #[error("timed out after {limit:?} waiting in the queue (the timeout includes queueing)")]
    QueueTimeout {
        /// The call's timeout.
        limit: Duration,
    },
    /// See [`ErrorCode::Busy`].
    #[error(
        "busy: {in_flight} calls running (the limit) and {queued} queued (the queue's capacity); try again later"
    )]
    Busy {
        /// Calls running.
        in_flight: usize,
        /// Calls waiting.
        queued: usize,
    },
    /// See [`ErrorCode::NotFound`].
    #[error("unknown {kind} id `{id}` (never created, destroyed, or expired)")]
    NotFound {
        /// `module`, `instance` or `job`.
        kind: &'static str,
        /// The id that was given.
        id: String,
    },
    /// See [`ErrorCode::NoRuntime`].
    #[error("no runtime for {language}: {reason}")]
    NoRuntime {
        /// The language asked for.
        language: String,
        /// Why each candidate was refused.
        reason: String,
    },
    /// See [`ErrorCode::Unavailable`].
    #[error("runtime `{runtime}` is unavailable: {reason}")]
    Unavailable {
        /// The runtime.
        runtime: String,
        /// Why.
        reason: String,
    },
    /// See [`ErrorCode::Cancelled`].
    #[error("job `{job}` was cancelled")]
    Cancelled {
        /// The job id.
        job: String,
    },
    /// See [`ErrorCode::Cancelled`]: a call its caller gave up on (an
    /// `AbortSignal`, a closed connection) was stopped.
    #[error("the call was cancelled by {by}")]
    Aborted {
        /// Who cancelled it.
        by: String,
    },
    /// An error a runtime outside this crate reports with its own code
    /// (e.g. the eBPF runtime's `VERIFIER_REJECTED`).
    #[error("{runtime}: {message}")]
    Runtime {
        /// The runtime.
        runtime: String,
        /// The code.
        code: ErrorCode,
        /// The message (may span lines).
        message: String,
    },
    /// See [`ErrorCode::OverCeiling`].
    #[error("request over its ceiling: {0}")]
    OverCeiling(#[from] OverCeiling),
    /// See [`ErrorCode::Internal`].
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotWasm { .. } => ErrorCode::NotWasm,
            Error::NotAComponent { .. } => ErrorCode::NotAComponent,
            Error::Compile { .. } => ErrorCode::Compile,
            Error::MissingExport { .. } => ErrorCode::MissingExport,
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::InputTooLarge { .. } => ErrorCode::InputTooLarge,
            Error::CapabilityDenied { .. } => ErrorCode::CapabilityDenied,
            Error::Timeout { .. } | Error::Stalled { .. } => ErrorCode::Timeout,
            Error::MemoryLimit { .. } => ErrorCode::MemoryLimit,
            Error::TableLimit { .. } => ErrorCode::TableLimit,
            Error::FuelExhausted { .. } => ErrorCode::FuelExhausted,
            Error::HostCallLimit { .. } => ErrorCode::HostCallLimit,
            Error::OutputTooLarge { .. } => ErrorCode::OutputTooLarge,
            Error::Trap { .. } => ErrorCode::Trap,
            Error::GuestError { .. } => ErrorCode::GuestError,
            Error::Serialization { .. } => ErrorCode::Serialization,
            Error::Io { .. } => ErrorCode::Io,
            Error::Internal { .. } => ErrorCode::Internal,
            Error::QueueTimeout { .. } => ErrorCode::Timeout,
            Error::Busy { .. } => ErrorCode::Busy,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::NoRuntime { .. } => ErrorCode::NoRuntime,
            Error::Unavailable { .. } => ErrorCode::Unavailable,
            Error::Cancelled { .. } | Error::Aborted { .. } => ErrorCode::Cancelled,
            Error::Runtime { code, .. } => *code,
            Error::OverCeiling(_) => ErrorCode::OverCeiling,
        }
    }

    /// The class of this error's code (exit codes, HTTP statuses and Node
    /// error classes come from it).
    pub fn class(&self) -> ErrorClass {
        self.code().class()
    }

    /// The error on the wire: its code, its message, and details naming
    /// what it is about (plugin, capability, limit, field, …).
    pub fn body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code(), self.to_string());
        match self {
            Error::NotWasm { plugin, .. }
            | Error::NotAComponent { plugin, .. }
            | Error::Compile { plugin, .. }
            | Error::InvalidInput { plugin, .. }
            | Error::Stalled { plugin, .. }
            | Error::Trap { plugin, .. }
            | Error::GuestError { plugin, .. }
            | Error::Serialization { plugin, .. } => body.with("plugin", plugin.as_str()),
            Error::MissingExport {
                plugin,
                export,
                available,
            } => body
                .with("plugin", plugin.as_str())
                .with("export", export.as_str())
                .with("available", available.clone()),
            Error::InputTooLarge {
                plugin,
                size,
                limit,
            } => body
                .with("plugin", plugin.as_str())
                .with("limit", "input_bytes")
                .with("size", *size)
                .with("allowed", *limit),
            Error::CapabilityDenied {
                plugin,
                capability,
                detail,
            } => body
                .with("plugin", plugin.as_str())
                .with("capability", capability.as_str())
                .with("detail", detail.as_str()),
            Error::Timeout { plugin, limit } => body
                .with("plugin", plugin.as_str())
                .with("limit", "timeout")
                .with("allowed_ms", limit.as_millis() as u64),
            Error::MemoryLimit {
                plugin,
                limit,
                wanted,
            } => body
                .with("plugin", plugin.as_str())
                .with("limit", "memory_bytes")
                .with("allowed", *limit)
                .with("wanted", *wanted),
            Error::TableLimit {
                plugin,
                limit,
                wanted,
            } => body
                .with("plugin", plugin.as_str())
                .with("limit", "table_elements")
                .with("allowed", *limit)
                .with("wanted", *wanted),
            Error::FuelExhausted { plugin, limit } => body
                .with("plugin", plugin.as_str())
                .with("limit", "fuel")
                .with("allowed", *limit),
            Error::HostCallLimit { plugin, limit } => body
                .with("plugin", plugin.as_str())
                .with("limit", "host_calls")
                .with("allowed", *limit),
            Error::OutputTooLarge {
                plugin,
                limit,
                stream,
            } => body
                .with("plugin", plugin.as_str())
                .with("limit", "output_bytes")
                .with("allowed", *limit)
                .with("stream", stream.as_str()),
            Error::QueueTimeout { limit } => body
                .with("limit", "timeout")
                .with("allowed_ms", limit.as_millis() as u64),
            Error::Busy { in_flight, queued } => {
                body.with("in_flight", *in_flight).with("queued", *queued)
            }
            Error::NotFound { kind, id } => body.with("kind", *kind).with("id", id.as_str()),
            Error::NoRuntime { language, reason } => body
                .with("language", language.as_str())
                .with("reason", reason.as_str()),
            Error::Unavailable { runtime, reason } => body
                .with("runtime", runtime.as_str())
                .with("reason", reason.as_str()),
            Error::Cancelled { job } => body.with("job", job.as_str()),
            Error::Aborted { by } => body.with("by", by.as_str()),
            Error::Runtime { runtime, .. } => body.with("runtime", runtime.as_str()),
            Error::OverCeiling(e) => ErrorBody::from(e),
            Error::Io { context, .. } => body.with("context", context.as_str()),
            Error::Internal { .. } => body,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn internal(message: impl fmt::Display) -> Self {
        Error::Internal {
            message: message.to_string(),
        }
    }
}

impl From<warden_api::ApiError> for Error {
    fn from(e: warden_api::ApiError) -> Self {
        match e {
            warden_api::ApiError::OverCeiling(o) => Error::OverCeiling(o),
            other => Error::InvalidInput {
                plugin: String::new(),
                reason: other.to_string(),
            },
        }
    }
}

/// Result alias for the host crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
