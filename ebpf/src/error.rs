//! [`EbpfError`], the crate's one error type, and the helpers that turn
//! aya's and the kernel's errors into it (`EPERM` anywhere in a chain means
//! missing privileges).

use std::io;

use warden_api::ErrorCode;

/// What the user is told when privileges are missing.
const PRIVILEGE_NEEDED: &str = "CAP_BPF and CAP_NET_ADMIN (run as root)";

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    /// clang rejected the source; `message` holds its diagnostics with
    /// `snippet.c:LINE:COL` positions.
    #[error("compile error:\n{message}")]
    Compile {
        /// clang's diagnostics.
        message: String,
    },
    /// The source is not of an accepted shape.
    #[error("invalid source: {message}")]
    InvalidSource {
        /// What is wrong.
        message: String,
    },
    /// The kernel verifier rejected the program.
    #[error("verifier rejected the program:\n{log}")]
    VerifierRejected {
        /// The verifier log (with C source lines, the code is built with `-g`).
        log: String,
    },
    /// The input is longer than XDP's linear data limit.
    #[error("input is {len} bytes; at most {max} bytes are supported")]
    BufferTooLarge {
        /// Input length.
        len: usize,
        /// The limit ([`MAX_INPUT_LEN`](crate::MAX_INPUT_LEN)).
        max: usize,
    },
    /// The process lacks the privileges to use eBPF.
    #[error("operation not permitted: eBPF needs {what}")]
    NotPermitted {
        /// What is needed.
        what: &'static str,
    },
    /// Loading the object failed for another reason than the verifier.
    #[error("load failed: {message}")]
    Load {
        /// The error chain.
        message: String,
    },
    /// `BPF_PROG_TEST_RUN` failed.
    #[error("test run failed: {message}")]
    Run {
        /// The error chain.
        message: String,
    },
    /// An I/O error (temporary files, starting clang).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A malformed request reached the sidecar (bad JSON, wrong shape).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
    /// The eBPF sidecar could not be reached or broke the protocol.
    #[error("{message}")]
    Sidecar {
        /// What happened, and what to do about it.
        message: String,
    },
    /// A bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EbpfError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Compile { .. } => "COMPILE",
            Self::InvalidSource { .. } => "INVALID_SOURCE",
            Self::VerifierRejected { .. } => "VERIFIER_REJECTED",
            Self::BufferTooLarge { .. } => "INPUT_TOO_LARGE",
            Self::NotPermitted { .. } => "NOT_PERMITTED",
            Self::Load { .. } => "LOAD",
            Self::Run { .. } => "RUN",
            Self::Io { .. } => "IO",
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::Sidecar { .. } => "SIDECAR",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The matching warden error code.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Compile { .. } | Self::Load { .. } => ErrorCode::Compile,
            Self::InvalidSource { .. } | Self::InvalidInput { .. } => ErrorCode::InvalidInput,
            Self::VerifierRejected { .. } => ErrorCode::VerifierRejected,
            Self::BufferTooLarge { .. } => ErrorCode::InputTooLarge,
            Self::NotPermitted { .. } | Self::Sidecar { .. } => ErrorCode::Unavailable,
            Self::Run { .. } => ErrorCode::Trap,
            Self::Io { .. } => ErrorCode::Io,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

pub(crate) fn not_permitted() -> EbpfError {
    EbpfError::NotPermitted {
        what: PRIVILEGE_NEEDED,
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

pub(crate) fn chain_has_eperm(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<io::Error>()
            && io.raw_os_error() == Some(libc::EPERM)
        {
            return true;
        }
        cur = c.source();
    }
    false
}
