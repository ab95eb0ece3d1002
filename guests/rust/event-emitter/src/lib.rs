//! `event-emitter`: emits events to the embedder's sink (`warden:plugin/events.emit`).
//!
//! Input:  `{"topic":"t","payload":<json>,"count":1}` (`payload` default null, `count` default 1)
//! Output: `{"emitted":count}`
//! Errors: `Err("emit: Error::LimitExceeded(\"...\")")` etc., `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::{Value, json};
use warden::plugin::events;

struct EventEmitter;

impl Guest for EventEmitter {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let topic = v
            .get("topic")
            .and_then(Value::as_str)
            .ok_or("invalid input: missing string field \"topic\"")?;
        let payload = v.get("payload").unwrap_or(&Value::Null).to_string();
        let count = v.get("count").and_then(Value::as_u64).unwrap_or(1);
        for _ in 0..count {
            events::emit(topic, &payload).map_err(|e| format!("emit: {e:?}"))?;
        }
        Ok(json!({ "emitted": count }).to_string())
    }
}

export!(EventEmitter);
