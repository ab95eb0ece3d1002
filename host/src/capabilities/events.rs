//! `warden:plugin/events`: the guest emits a topic with a JSON payload; the
//! embedder's [`EventSink`] receives it. Topics are allow-listed by pattern.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::bindings::WitError;
use crate::bindings::warden::plugin::events::Host;
use crate::policy::Capability;
use crate::state::CallState;

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

/// A sink that keeps events in memory (tests, simple embedders).
#[derive(Debug, Clone, Default)]
pub struct MemoryEventSink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemoryEventSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take the events received so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl EventSink for MemoryEventSink {
    fn emit(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }
}

/// The default sink: events become `tracing` records (target `warden::event`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingEventSink;

impl EventSink for TracingEventSink {
    fn emit(&self, event: Event) {
        tracing::info!(target: "warden::event", plugin = %event.plugin, topic = %event.topic, payload = %event.payload, "event");
    }
}

impl Host for CallState {
    fn emit(
        &mut self,
        topic: String,
        payload_json: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        self.count_call(Capability::Events)?;
        if !self.grants.event_topics.iter().any(|p| p.matches(&topic)) {
            let msg = self.denied(Capability::Events, &format!("topic `{topic}`"));
            return Ok(Err(WitError::Denied(msg)));
        }
        let payload = match serde_json::from_str(&payload_json) {
            Ok(v) => v,
            Err(e) => return Ok(Err(WitError::Invalid(format!("payload is not JSON: {e}")))),
        };
        self.receipt.event_topics.insert(topic.clone());
        self.shared.events.emit(Event {
            plugin: self.plugin.to_string(),
            topic,
            payload,
        });
        Ok(Ok(()))
    }
}
