//! `warden exec --remote URL`: the same request, sent to a `warden serve`,
//! printed as a local `exec` prints it (output on stdout, guest streams and
//! the error line on stderr, the same exit codes).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use warden_host::ExecuteRequest;
use warden_host::api::{ErrorBody, ErrorCode, ExecutionReport};

use crate::report::{self, usage};
use crate::run::guest_streams_to_stderr;

/// The bearer token: the file's first line.
fn token(file: Option<&Path>) -> Result<Option<String>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the token file {}", file.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(usage(format!("the token file {} is empty", file.display())));
    }
    Ok(Some(token))
}

/// Send `request` to `url`'s `/v1/execute`: its report, or the server's
/// error (auth, rate, ceiling, bad request) as an error body.
pub async fn execute(
    url: &str,
    token_file: Option<&Path>,
    request: &ExecuteRequest,
) -> Result<std::result::Result<ExecutionReport, ErrorBody>> {
    let token = token(token_file)?;
    let endpoint = format!("{}/v1/execute", url.trim_end_matches('/'));
    let mut call = reqwest::Client::new().post(&endpoint).json(request);
    if let Some(t) = token {
        call = call.bearer_auth(t);
    }
    let response = call
        .send()
        .await
        .with_context(|| format!("calling {endpoint}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {endpoint}"))?;
    if let Ok(report) = serde_json::from_slice::<ExecutionReport>(&body) {
        return Ok(Ok(report));
    }
    #[derive(serde::Deserialize)]
    struct Failure {
        error: ErrorBody,
    }
    match serde_json::from_slice::<Failure>(&body) {
        Ok(f) => Ok(Err(f.error)),
        Err(_) => Ok(Err(ErrorBody::new(
            ErrorCode::Unavailable,
            format!(
                "{endpoint} answered {status} with no warden answer: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        ))),
    }
}

/// Print a remote execution as `exec` prints a local one.
pub fn print(
    answer: std::result::Result<ExecutionReport, ErrorBody>,
    summary: bool,
    explain: bool,
    receipt: bool,
) -> Result<ExitCode> {
    let report = match answer {
        Ok(r) => r,
        Err(e) => return Ok(report::report_body(&e)),
    };
    if explain && let Some(d) = &report.decision {
        report::print_decision(d);
    }
    if let Some(note) = report.compile.as_ref().and_then(|c| c.note.as_deref()) {
        eprintln!("note: {note}");
    }
    guest_streams_to_stderr(&report.stdout.0, &report.stderr.0, &report.logs);
    let exit = if summary {
        report::stdout_line(&serde_json::to_string_pretty(&report).context("serializing")?)?;
        match &report.error {
            None => ExitCode::SUCCESS,
            Some(e) => ExitCode::from(report::exit_code(e.code)),
        }
    } else {
        match (&report.output, &report.error) {
            (_, Some(e)) => report::report_body(e),
            (Some(out), None) => {
                report::stdout_line(&out.to_string())?;
                ExitCode::SUCCESS
            }
            (None, None) => {
                report::stdout_line("null")?;
                ExitCode::SUCCESS
            }
        }
    };
    crate::run::print_receipt(receipt, &report.receipt)?;
    Ok(exit)
}
