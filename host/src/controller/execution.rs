//! What one execution gave: [`Execution`] with its typed result, and its
//! wire form [`ExecutionReport`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use warden_api::{Blob, CompileReport, Decision, ExecutionReport, LogLine, Receipt};

use crate::error::{Error, Result};

/// The result of one execution, whatever happened.
#[derive(Debug)]
pub struct Execution {
    /// The output (JSON), or the typed error.
    pub result: Result<serde_json::Value>,
    /// Which runtime ran it and why (`None` when refused before scheduling).
    pub decision: Option<Decision>,
    /// How compiling went (`None` for an instance id or an early refusal).
    pub compile: Option<CompileReport>,
    /// Time spent waiting for a slot.
    pub queued: Duration,
    /// Time the runtime spent on the call (instantiation included).
    pub execution_time: Duration,
    /// Everything, from the call to its result.
    pub total_time: Duration,
    /// Peak linear memory, in bytes (0 for eBPF).
    pub memory_bytes: u64,
    /// What the call cost and touched.
    pub receipt: Receipt,
    /// What the guest wrote to stdout.
    pub stdout: Bytes,
    /// What the guest wrote to stderr.
    pub stderr: Bytes,
    /// What the guest logged.
    pub logs: Vec<LogLine>,
}

impl Execution {
    pub(super) fn refused(error: Error, decision: Option<Decision>, started: Instant) -> Self {
        Execution {
            result: Err(error),
            decision,
            compile: None,
            queued: Duration::ZERO,
            execution_time: Duration::ZERO,
            total_time: started.elapsed(),
            memory_bytes: 0,
            receipt: Receipt::default(),
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            logs: Vec::new(),
        }
    }

    /// The runtime that ran it.
    pub fn runtime(&self) -> Option<&str> {
        self.decision.as_ref().map(|d| d.runtime.as_str())
    }

    /// The output or the error, dropping the rest.
    pub fn into_result(self) -> Result<serde_json::Value> {
        self.result
    }

    /// The wire form: output or typed error, runtime and decision, compile
    /// report, timings in µs, memory, receipt, guest output and logs. What
    /// the CLI's `--summary`, the server and the Node binding send.
    pub fn report(&self) -> ExecutionReport {
        let (output, error) = match &self.result {
            Ok(v) => (Some(v.clone()), None),
            Err(e) => (None, Some(e.body())),
        };
        ExecutionReport {
            ok: self.result.is_ok(),
            output,
            error,
            runtime: self.runtime().map(str::to_string),
            decision: self.decision.clone(),
            compile: self.compile.clone(),
            queued_us: self.queued.as_micros() as u64,
            execution_us: self.execution_time.as_micros() as u64,
            total_us: self.total_time.as_micros() as u64,
            memory_bytes: self.memory_bytes,
            receipt: self.receipt.clone(),
            stdout: Blob(self.stdout.to_vec()),
            stderr: Blob(self.stderr.to_vec()),
            logs: self.logs.clone(),
        }
    }
}

/// What [`Controller::compile`] made.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleHandle {
    /// The module id.
    pub id: String,
    /// The runtime chosen and why.
    pub decision: Decision,
    /// How compiling went.
    pub compile: CompileReport,
}
