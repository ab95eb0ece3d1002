//! Error lines and exit codes.
//!
//! Every failure ends as exactly one line on stderr, `error[CODE]: message`,
//! where `CODE` is the stable [`ErrorCode`] of a warden error, `USAGE` for a
//! bad command line, or `IO` for a file the CLI itself could not read. The
//! exit code depends only on the code (see [`exit_code`]).

use std::io::Write;
use std::process::ExitCode;

use warden_host::{Error, ErrorCode};

/// A bad command line that clap could not catch (conflicting or incomplete
/// grants, a flag that does not apply to this kind of plugin).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A [`Usage`] error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// An error the CLI itself detected that maps onto a warden error code (for
/// example MISSING_EXPORT for a library run without --invoke).
#[derive(Debug)]
pub struct Coded {
    pub code: ErrorCode,
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// A [`Coded`] error as an `anyhow::Error`.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        message: message.into(),
    })
}

/// The exit code for a warden error code: its class's
/// ([`warden_host::ErrorClass::exit_code`]). Stable: documented in `--help`.
pub fn exit_code(code: ErrorCode) -> u8 {
    code.class().exit_code()
}

/// Exit code of usage errors (clap's and ours).
pub const USAGE_EXIT: u8 = 2;

/// Join the lines of a message into one.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one-line message of a warden error (a trap's backtrace left out).
fn warden_message(e: &Error) -> String {
    match e {
        Error::Trap {
            plugin, message, ..
        } => one_line(&format!("plugin `{plugin}`: trap: {message}")),
        other => one_line(&other.to_string()),
    }
}

/// Print `error[CODE]: message` for a warden error (plus the guest backtrace
/// when `verbose`) and return its exit code.
pub fn report_warden(e: &Error, verbose: bool) -> ExitCode {
    let mut err = std::io::stderr().lock();
    // Compiler and verifier output keeps its lines: the first is the error
    // line, the rest follow indented.
    let diagnostics = match e {
        Error::Runtime { .. } => true,
        Error::Compile { plugin, .. } => plugin.starts_with("rust"),
        _ => false,
    };
    if diagnostics {
        let text = e.to_string();
        let mut lines = text.lines();
        let _ = writeln!(
            err,
            "error[{}]: {}",
            e.code(),
            lines.next().unwrap_or_default()
        );
        for l in lines {
            let _ = writeln!(err, "  {l}");
        }
        return ExitCode::from(exit_code(e.code()));
    }
    let _ = writeln!(err, "error[{}]: {}", e.code(), warden_message(e));
    if verbose
        && let Error::Trap {
            backtrace: Some(bt),
            ..
        } = e
    {
        let _ = writeln!(err, "{bt}");
    }
    ExitCode::from(exit_code(e.code()))
}

/// Print `error[CODE]: message` for an error that came over the wire (a
/// server's `ErrorBody`), as [`report_warden`] prints the same error here,
/// and return its exit code.
pub fn report_body(e: &warden_host::ErrorBody) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let mut lines = e.message.lines();
    if e.code == ErrorCode::Compile && e.message.lines().count() > 1 {
        let _ = writeln!(
            err,
            "error[{}]: {}",
            e.code,
            lines.next().unwrap_or_default()
        );
        for l in lines {
            let _ = writeln!(err, "  {l}");
        }
    } else {
        let _ = writeln!(err, "error[{}]: {}", e.code, one_line(&e.message));
    }
    ExitCode::from(exit_code(e.code))
}

/// Print the scheduler's decision on stderr: the runtime, why, and why
/// not each other.
pub fn print_decision(d: &warden_host::controller::Decision) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "runtime: {}{} — {}",
        d.runtime,
        if d.overridden { " (requested)" } else { "" },
        d.reason
    );
    for r in &d.rejected {
        let _ = writeln!(err, "  not {}: {}", r.runtime, r.reason);
    }
}

/// Print any error as one line and return the exit code.
pub fn report(e: &anyhow::Error, verbose: bool) -> ExitCode {
    if let Some(w) = e.downcast_ref::<Error>() {
        return report_warden(w, verbose);
    }
    let (code, exit) = if let Some(c) = e.downcast_ref::<Coded>() {
        (c.code.as_str(), exit_code(c.code))
    } else if e.downcast_ref::<Usage>().is_some() {
        ("USAGE", USAGE_EXIT)
    } else if e.chain().any(|c| c.is::<std::io::Error>()) {
        ("IO", exit_code(ErrorCode::Io))
    } else {
        ("INTERNAL", exit_code(ErrorCode::Internal))
    };
    let _ = writeln!(
        std::io::stderr().lock(),
        "error[{code}]: {}",
        one_line(&format!("{e:#}"))
    );
    ExitCode::from(exit)
}

/// Help and version go to stdout with exit 0; every other clap error becomes
/// one `error[USAGE]` line with exit code 2.
pub fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(USAGE_EXIT)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let text = e.to_string();
            let relevant: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .collect();
            let message = one_line(&relevant.join("\n"));
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            let _ = writeln!(
                std::io::stderr().lock(),
                "error[USAGE]: {message} (see --help)"
            );
            ExitCode::from(USAGE_EXIT)
        }
    }
}

/// Write to stdout, treating a closed pipe (`warden run … | head`) as success.
pub fn stdout_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Write one line to stdout (see [`stdout_bytes`]).
pub fn stdout_line(line: &str) -> std::io::Result<()> {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    stdout_bytes(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_documented_exits() {
        assert_eq!(exit_code(ErrorCode::NotWasm), 2);
        assert_eq!(exit_code(ErrorCode::CapabilityDenied), 3);
        assert_eq!(exit_code(ErrorCode::Timeout), 4);
        assert_eq!(exit_code(ErrorCode::OutputTooLarge), 4);
        assert_eq!(exit_code(ErrorCode::GuestError), 5);
        assert_eq!(exit_code(ErrorCode::Compile), 1);
        assert_eq!(exit_code(ErrorCode::Internal), 1);
        assert_eq!(exit_code(ErrorCode::NoRuntime), 2);
        assert_eq!(exit_code(ErrorCode::NotFound), 2);
        assert_eq!(exit_code(ErrorCode::VerifierRejected), 5);
        assert_eq!(exit_code(ErrorCode::Busy), 6);
        assert_eq!(exit_code(ErrorCode::Unavailable), 6);
        // CANCELLED is in the try-again class (the CLI itself never cancels).
        assert_eq!(exit_code(ErrorCode::Cancelled), 6);
        assert_eq!(exit_code(ErrorCode::OverCeiling), 3);
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n  b\n\nc"), "a b c");
    }
}
