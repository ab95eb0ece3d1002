//! The one error type of the public API. Every variant names the plugin it is
//! about and has a stable [`ErrorCode`] that embedders, the CLI and the HTTP
//! server can match on.

use std::fmt;
use std::time::Duration;

/// Stable, machine-readable error codes. The string form (`TIMEOUT`, …) is part
/// of the public contract: it never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The bytes are not WebAssembly (nor WAT text).
    NotWasm,
    /// Valid Wasm, but not a component and not a WASI preview1 module that can be adapted.
    NotAComponent,
    /// Cranelift or the component validator rejected the component.
    Compile,
    /// The requested export does not exist (or has the wrong type).
    MissingExport,
    /// The input is malformed (bad JSON, bad WAVE, wrong argument types).
    InvalidInput,
    /// The input is larger than the input cap.
    InputTooLarge,
    /// The component imports, or asked at run time for, something the grants do not cover.
    CapabilityDenied,
    /// The wall-clock timeout passed.
    Timeout,
    /// Linear memory would grow past the memory limit.
    MemoryLimit,
    /// A table would grow past the table-element limit.
    TableLimit,
    /// The fuel budget ran out.
    FuelExhausted,
    /// The guest made more host calls than allowed.
    HostCallLimit,
    /// The guest produced more output (result, stdout, stderr, logs) than allowed.
    OutputTooLarge,
    /// The guest trapped (unreachable, stack overflow, panic, bad memory access …).
    Trap,
    /// The guest returned its own error value.
    GuestError,
    /// A value could not be converted to or from JSON.
    Serialization,
    /// Reading or writing a file of the host failed.
    Io,
    /// A bug or an unexpected failure inside warden itself.
    Internal,
    /// The kernel's eBPF verifier rejected the program.
    VerifierRejected,
    /// The controller is at its concurrency limit and its queue is full.
    Busy,
    /// An unknown, destroyed or expired module, instance or job id.
    NotFound,
    /// No runtime can run this language under these hints (the reason says why).
    NoRuntime,
    /// The runtime exists but cannot run now (stopped, unhealthy, missing a tool or privilege).
    Unavailable,
    /// The job was cancelled.
    Cancelled,
}

impl ErrorCode {
    /// The stable string form, e.g. `"CAPABILITY_DENIED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotWasm => "NOT_WASM",
            ErrorCode::NotAComponent => "NOT_A_COMPONENT",
            ErrorCode::Compile => "COMPILE",
            ErrorCode::MissingExport => "MISSING_EXPORT",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::InputTooLarge => "INPUT_TOO_LARGE",
            ErrorCode::CapabilityDenied => "CAPABILITY_DENIED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::MemoryLimit => "MEMORY_LIMIT",
            ErrorCode::TableLimit => "TABLE_LIMIT",
            ErrorCode::FuelExhausted => "FUEL_EXHAUSTED",
            ErrorCode::HostCallLimit => "HOST_CALL_LIMIT",
            ErrorCode::OutputTooLarge => "OUTPUT_TOO_LARGE",
            ErrorCode::Trap => "TRAP",
            ErrorCode::GuestError => "GUEST_ERROR",
            ErrorCode::Serialization => "SERIALIZATION",
            ErrorCode::Io => "IO",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::VerifierRejected => "VERIFIER_REJECTED",
            ErrorCode::Busy => "BUSY",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::NoRuntime => "NO_RUNTIME",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
            Error::Cancelled { .. } => ErrorCode::Cancelled,
            Error::Runtime { code, .. } => *code,
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

/// Result alias for the host crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
