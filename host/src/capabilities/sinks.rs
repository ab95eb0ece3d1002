//! Where a call's events and log lines go: the sink traits, shared by the
//! host's own sinks (`events`, `log`) and a call's scope (`host_call`'s
//! [`crate::CallFunctions`]). A leaf: it imports no other capability.

use serde::Serialize;

/// One event a guest emitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The plugin that emitted it.
    pub plugin: String,
    /// The topic.
    pub topic: String,
    /// The payload, parsed.
    pub payload: serde_json::Value,
}

/// Where events go. Implemented for closures `Fn(Event)`.
pub trait EventSink: Send + Sync {
    /// Deliver one event. Called on the guest's thread: hand off, don't block.
    fn emit(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// Where guest log lines go as they are written (besides `tracing` and the
/// call's outcome). Implemented for closures `Fn(&str, &str, &str)`
/// (plugin, level, message).
pub trait LogSink: Send + Sync {
    /// One line. Called on the guest's thread: hand off, don't block.
    fn log(&self, plugin: &str, level: &str, message: &str);
}

impl<F: Fn(&str, &str, &str) + Send + Sync> LogSink for F {
    fn log(&self, plugin: &str, level: &str, message: &str) {
        self(plugin, level, message)
    }
}
