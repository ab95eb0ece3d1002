//! `warden:plugin/log`: guest log lines go to `tracing` (target `warden::guest`)
//! and into the call's output, and count toward the output cap.

use std::sync::Arc;

use super::Ctx;
use super::stdio::OutputBudget;
use crate::bindings::WitError;
use crate::bindings::warden::plugin::log::{Host, Level};
use crate::limits::Tripped;
use crate::policy::Capability;
use crate::receipt::LogLine;

pub use super::sinks::LogSink;

/// The log capability of one call: granted or not, the lines so far.
pub(crate) struct LogCtx {
    plugin: Arc<str>,
    granted: bool,
    budget: Arc<OutputBudget>,
    sink: Option<Arc<dyn LogSink>>,
    lines: Vec<LogLine>,
}

impl std::fmt::Debug for LogCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCtx")
            .field("granted", &self.granted)
            .field("lines", &self.lines.len())
            .finish_non_exhaustive()
    }
}

impl LogCtx {
    pub(crate) fn new(
        plugin: Arc<str>,
        granted: bool,
        budget: Arc<OutputBudget>,
        sink: Option<Arc<dyn LogSink>>,
    ) -> Self {
        LogCtx {
            plugin,
            granted,
            budget,
            sink,
            lines: Vec::new(),
        }
    }

    /// The lines logged so far (and start again).
    pub(crate) fn take(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.lines)
    }
}

impl Host for Ctx<'_, LogCtx> {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<Result<(), WitError>> {
        self.meter.count(Capability::Log)?;
        let log = &mut *self.cap;
        if !log.granted {
            let msg = self.meter.deny(Capability::Log, "logging");
            return Ok(Err(WitError::Denied(msg)));
        }
        if !log.budget.take(message.len(), "log") {
            self.meter.trip(Tripped::Output { stream: "log" });
            wasmtime::bail!("log output exceeded the output limit");
        }
        let plugin = &*log.plugin;
        let level = match level {
            Level::Trace => {
                tracing::trace!(target: "warden::guest", plugin, "{message}");
                "trace"
            }
            Level::Debug => {
                tracing::debug!(target: "warden::guest", plugin, "{message}");
                "debug"
            }
            Level::Info => {
                tracing::info!(target: "warden::guest", plugin, "{message}");
                "info"
            }
            Level::Warn => {
                tracing::warn!(target: "warden::guest", plugin, "{message}");
                "warn"
            }
            Level::Error => {
                tracing::error!(target: "warden::guest", plugin, "{message}");
                "error"
            }
        };
        if let Some(sink) = &log.sink {
            sink.log(plugin, level, &message);
        }
        super::host_call::log_to_scope(plugin, level, &message);
        log.lines.push(LogLine {
            level: level.to_string(),
            message,
        });
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Meter;
    use super::*;

    #[test]
    fn logs_when_granted_denies_otherwise_and_traps_past_the_budget() {
        let mut meter = Meter::new("p".into(), 100);
        let budget = OutputBudget::new(10);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let sink: Arc<dyn LogSink> = Arc::new(move |p: &str, l: &str, m: &str| {
            sink.lock().unwrap().push(format!("{p} {l} {m}"))
        });
        let mut log = LogCtx::new("p".into(), true, budget.clone(), Some(sink));
        let mut cx = Ctx {
            cap: &mut log,
            meter: &mut meter,
        };
        assert!(matches!(cx.log(Level::Warn, "hello".into()), Ok(Ok(()))));
        assert!(cx.log(Level::Info, "too long now".into()).is_err());
        assert_eq!(meter.tripped, Some(Tripped::Output { stream: "log" }));
        let lines = log.take();
        assert_eq!(lines.len(), 1);
        assert_eq!((&*lines[0].level, &*lines[0].message), ("warn", "hello"));
        // The sink saw the line as it was written, and nothing over the budget.
        assert_eq!(*seen.lock().unwrap(), ["p warn hello"]);

        let mut denied = LogCtx::new("p".into(), false, budget, None);
        let mut cx = Ctx {
            cap: &mut denied,
            meter: &mut meter,
        };
        match cx.log(Level::Info, "x".into()) {
            Ok(Err(WitError::Denied(m))) => assert!(m.contains("log"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
