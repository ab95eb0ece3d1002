//! `warden:plugin/events`: the guest emits a topic with a JSON payload; the
//! embedder's [`EventSink`] receives it. Topics are allow-listed by pattern.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::Ctx;
use crate::bindings::WitError;
use crate::bindings::warden::plugin::events::Host;
use crate::policy::{Capability, Pattern};
use crate::receipt::Receipt;

pub use super::sinks::{Event, EventSink};

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

/// The events capability of one call: the sink, the granted topic
/// patterns, and the topics emitted.
pub(crate) struct EventsCtx {
    plugin: Arc<str>,
    sink: Arc<dyn EventSink>,
    topics: Vec<Pattern>,
    emitted: BTreeSet<String>,
}

impl std::fmt::Debug for EventsCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsCtx")
            .field("topics", &self.topics)
            .field("emitted", &self.emitted)
            .finish_non_exhaustive()
    }
}

impl EventsCtx {
    pub(crate) fn new(plugin: Arc<str>, sink: Arc<dyn EventSink>, topics: Vec<Pattern>) -> Self {
        EventsCtx {
            plugin,
            sink,
            topics,
            emitted: BTreeSet::new(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.emitted.clear();
    }

    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        receipt.event_topics.append(&mut self.emitted);
    }
}

impl Host for Ctx<'_, EventsCtx> {
    fn emit(
        &mut self,
        topic: String,
        payload_json: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        self.meter.count(Capability::Events)?;
        let cx = &mut *self.cap;
        if !cx.topics.iter().any(|p| p.matches(&topic)) {
            let msg = self
                .meter
                .deny(Capability::Events, &format!("topic `{topic}`"));
            return Ok(Err(WitError::Denied(msg)));
        }
        let payload = match serde_json::from_str(&payload_json) {
            Ok(v) => v,
            Err(e) => return Ok(Err(WitError::Invalid(format!("payload is not JSON: {e}")))),
        };
        cx.emitted.insert(topic.clone());
        let event = Event {
            plugin: cx.plugin.to_string(),
            topic,
            payload,
        };
        super::host_call::emit_to_scope(&event);
        cx.sink.emit(event);
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Meter;
    use super::*;

    #[test]
    fn emits_on_granted_topics_only_without_wasm() {
        let sink = MemoryEventSink::new();
        let mut meter = Meter::new("p".into(), 100);
        let topics = vec![Pattern("orders.*".into())];
        let mut ev = EventsCtx::new("p".into(), Arc::new(sink.clone()), topics);
        let mut cx = Ctx {
            cap: &mut ev,
            meter: &mut meter,
        };
        cx.emit("orders.new".into(), r#"{"id":1}"#.into())
            .unwrap()
            .unwrap();
        assert!(matches!(
            cx.emit("users.new".into(), "1".into()).unwrap(),
            Err(WitError::Denied(m)) if m == "events: topic `users.new` is not granted"
        ));
        assert!(matches!(
            cx.emit("orders.bad".into(), "{".into()).unwrap(),
            Err(WitError::Invalid(_))
        ));
        let got = sink.take();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload, serde_json::json!({"id": 1}));
        assert_eq!(got[0].plugin, "p");
        let mut receipt = Receipt::default();
        ev.record(&mut receipt);
        assert_eq!(
            receipt.event_topics.iter().collect::<Vec<_>>(),
            ["orders.new"]
        );
    }
}
