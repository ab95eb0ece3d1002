//! Error codes, their classes, the error body on the wire, and the errors of
//! this crate itself.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::interfaces::Capability;

/// Stable, machine-readable error codes. The string form (`TIMEOUT`, …) is part
/// of the public contract: it never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
    /// The request asks for more than its caller's ceiling allows (a trust
    /// level, a capability or a limit); the details name the field, what was
    /// asked and what is allowed. Never silently lowered.
    OverCeiling,
    /// No credentials, or credentials that are wrong or expired (a server's
    /// bearer token or JWT).
    Unauthenticated,
    /// The caller sent more requests than its rate allows; try again after
    /// the time the details (and HTTP's `Retry-After`) give.
    RateLimited,
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
            ErrorCode::OverCeiling => "OVER_CEILING",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::RateLimited => "RATE_LIMITED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorCode {
    /// Every code, in a stable order.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::NotWasm,
        ErrorCode::NotAComponent,
        ErrorCode::Compile,
        ErrorCode::MissingExport,
        ErrorCode::InvalidInput,
        ErrorCode::InputTooLarge,
        ErrorCode::CapabilityDenied,
        ErrorCode::Timeout,
        ErrorCode::MemoryLimit,
        ErrorCode::TableLimit,
        ErrorCode::FuelExhausted,
        ErrorCode::HostCallLimit,
        ErrorCode::OutputTooLarge,
        ErrorCode::Trap,
        ErrorCode::GuestError,
        ErrorCode::Serialization,
        ErrorCode::Io,
        ErrorCode::Internal,
        ErrorCode::VerifierRejected,
        ErrorCode::Busy,
        ErrorCode::NotFound,
        ErrorCode::NoRuntime,
        ErrorCode::Unavailable,
        ErrorCode::Cancelled,
        ErrorCode::OverCeiling,
        ErrorCode::Unauthenticated,
        ErrorCode::RateLimited,
    ];

    /// The group this code belongs to; exit codes, HTTP statuses and Node
    /// error classes are derived from it, never from single codes.
    pub fn class(self) -> ErrorClass {
        use ErrorCode::*;
        match self {
            InvalidInput | InputTooLarge | NotWasm | NotAComponent | MissingExport | NoRuntime
            | NotFound | Io => ErrorClass::BadInput,
            Compile => ErrorClass::Compile,
            CapabilityDenied | OverCeiling | Unauthenticated => ErrorClass::Denied,
            Timeout | MemoryLimit | TableLimit | FuelExhausted | HostCallLimit | OutputTooLarge => {
                ErrorClass::Limit
            }
            Trap | GuestError | Serialization | VerifierRejected => ErrorClass::GuestFailure,
            Busy | Unavailable | Cancelled | RateLimited => ErrorClass::Unavailable,
            Internal => ErrorClass::Internal,
        }
    }

    /// The HTTP status a server answers with: the class's
    /// ([`ErrorClass::http_status`]), refined for the codes HTTP has a
    /// word of its own for (404, 413, 401, 429, 409).
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            NotFound => 404,
            InputTooLarge => 413,
            Unauthenticated => 401,
            RateLimited => 429,
            Cancelled => 409,
            _ => self.class().http_status(),
        }
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown error code `{s}`"))
    }
}

/// What kind of failure a code is. Front ends map classes, not codes:
///
/// | class | meaning | CLI exit | HTTP |
/// |---|---|---|---|
/// | `bad-input` | the request itself is wrong (bytes, JSON, export, language, id) | 2 | 400 (404 for `NOT_FOUND`) |
/// | `compile` | the code did not compile (syntax, types, validation) | 1 | 422 |
/// | `denied` | a capability not granted, or a request over its ceiling | 3 | 403 |
/// | `limit` | a limit stopped the call | 4 | 422 |
/// | `guest-failure` | the guest trapped, threw or returned an error | 5 | 422 |
/// | `unavailable` | busy, unavailable or cancelled: try again | 6 | 503 (409 for `CANCELLED`) |
/// | `internal` | a bug in warden | 1 | 500 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// The request itself is wrong.
    BadInput,
    /// The code did not compile.
    Compile,
    /// Not granted, or over the caller's ceiling.
    Denied,
    /// A limit stopped the call.
    Limit,
    /// The guest failed on its own.
    GuestFailure,
    /// Busy, unavailable or cancelled.
    Unavailable,
    /// A bug in warden.
    Internal,
}

impl ErrorClass {
    /// The process exit code the CLI uses for this class (stable).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Internal | ErrorClass::Compile => 1,
            ErrorClass::BadInput => 2,
            ErrorClass::Denied => 3,
            ErrorClass::Limit => 4,
            ErrorClass::GuestFailure => 5,
            ErrorClass::Unavailable => 6,
        }
    }

    /// The HTTP status for this class (stable): 400 bad input, 422 a
    /// compile error, a limit or a guest failure (the request was well
    /// formed; the code failed), 403 denied, 503 unavailable (with
    /// `Retry-After` for `BUSY`), 500 internal.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::BadInput => 400,
            ErrorClass::Compile | ErrorClass::Limit | ErrorClass::GuestFailure => 422,
            ErrorClass::Denied => 403,
            ErrorClass::Unavailable => 503,
            ErrorClass::Internal => 500,
        }
    }
}

/// An error on the wire: the stable code, a one-paragraph message, and
/// structured details (which plugin, capability, limit or field; what was
/// asked and what is allowed) whose keys depend on the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The stable code.
    pub code: ErrorCode,
    /// For humans.
    pub message: String,
    /// For programs (`{}` when there is nothing more to say).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ErrorBody {
    /// A body with no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            details: serde_json::Map::new(),
        }
    }

    /// Add one detail.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A request asks for more than its ceiling allows: which field, what was
/// asked, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is over the ceiling: asked for {asked}, allowed {allowed}")]
pub struct OverCeiling {
    /// The field, e.g. `trust`, `grants.http`, `limits.timeout`.
    pub field: String,
    /// What the request asked for.
    pub asked: String,
    /// The most the ceiling allows.
    pub allowed: String,
}

impl From<&OverCeiling> for ErrorBody {
    fn from(e: &OverCeiling) -> Self {
        ErrorBody::new(ErrorCode::OverCeiling, e.to_string())
            .with("field", e.field.clone())
            .with("asked", e.asked.clone())
            .with("allowed", e.allowed.clone())
    }
}

/// Errors of this crate: a request that cannot be turned into a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A scoped capability was granted without its scope.
    #[error(
        "capability `{capability}` needs a scope: grant hosts, addresses, directories or names"
    )]
    NeedsScope {
        /// The capability.
        capability: Capability,
    },
    /// Above the ceiling.
    #[error(transparent)]
    OverCeiling(#[from] OverCeiling),
    /// A request whose parts do not fit together (for example `invoke` and
    /// `data` both given).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ApiError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::NeedsScope { .. } | ApiError::InvalidRequest(_) => ErrorCode::InvalidInput,
            ApiError::OverCeiling(_) => ErrorCode::OverCeiling,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_classes() {
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            let _ = c.class().exit_code();
        }
        assert_eq!(ErrorCode::CapabilityDenied.class().exit_code(), 3);
        assert_eq!(ErrorCode::OverCeiling.class(), ErrorClass::Denied);
        assert_eq!(ErrorCode::Timeout.class().exit_code(), 4);
        assert_eq!(ErrorCode::Trap.class().exit_code(), 5);
        assert_eq!(ErrorCode::Busy.class().exit_code(), 6);
        assert_eq!(ErrorCode::NoRuntime.class().exit_code(), 2);
        assert_eq!(ErrorCode::Compile.class().exit_code(), 1);
    }

    #[test]
    fn http_statuses_follow_the_class_with_a_few_named_refinements() {
        let status = |c: ErrorCode| c.http_status();
        assert_eq!(status(ErrorCode::InvalidInput), 400);
        assert_eq!(status(ErrorCode::NoRuntime), 400);
        assert_eq!(status(ErrorCode::NotFound), 404);
        assert_eq!(status(ErrorCode::InputTooLarge), 413);
        assert_eq!(status(ErrorCode::Compile), 422);
        assert_eq!(status(ErrorCode::Timeout), 422);
        assert_eq!(status(ErrorCode::GuestError), 422);
        assert_eq!(status(ErrorCode::CapabilityDenied), 403);
        assert_eq!(status(ErrorCode::OverCeiling), 403);
        assert_eq!(status(ErrorCode::Unauthenticated), 401);
        assert_eq!(status(ErrorCode::RateLimited), 429);
        assert_eq!(status(ErrorCode::Busy), 503);
        assert_eq!(status(ErrorCode::Cancelled), 409);
        assert_eq!(status(ErrorCode::Internal), 500);
        for c in ErrorCode::ALL {
            assert!((400..600).contains(&c.http_status()), "{c}");
        }
    }
}
