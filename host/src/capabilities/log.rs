//! `warden:plugin/log`: guest log lines go to `tracing` (target `warden::guest`)
//! and into the call's output, and count toward the output cap.

use crate::bindings::WitError;
use crate::bindings::warden::plugin::log::{Host, Level};
use crate::limits::Tripped;
use crate::policy::Capability;
use crate::receipt::LogLine;
use crate::state::CallState;

impl Host for CallState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<Result<(), WitError>> {
        self.count_call(Capability::Log)?;
        if !self.grants.log {
            let msg = self.denied(Capability::Log, "logging");
            return Ok(Err(WitError::Denied(msg)));
        }
        if !self.captures.budget.take(message.len(), "log") {
            self.limiter.trip(Tripped::Output { stream: "log" });
            wasmtime::bail!("log output exceeded the output limit");
        }
        let plugin = &*self.plugin;
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
        self.logs.push(LogLine {
            level: level.to_string(),
            message,
        });
        Ok(Ok(()))
    }
}
