//! The session WebSocket protocol (`GET /v1/sessions/{id}/ws`), version
//! [`PROTOCOL_VERSION`]: every message is a JSON object with `"v": 1` and a
//! `"type"`. The client sends [`ClientMessage`]s, the server
//! [`ServerMessage`]s. A message with another version, an unknown type or a
//! malformed body gets an `ERROR` and the socket stays open.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorCode};
use crate::receipt::Receipt;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum ClientMessage {
    /// Call an export of the session's plugin: `run` with any JSON `args`
    /// as its input, or another export with `args` as the array of its
    /// arguments. Answered by `RESULT` (and `PATCH` when kv changed).
    Trigger {
        /// The client's id for it, echoed in `PROGRESS`, `RESULT`, `PATCH`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The export (`run`, `name` or `interface#name`).
        export: String,
        /// The input (`run`) or the arguments (other exports).
        #[serde(default)]
        args: serde_json::Value,
    },
    /// Receive `EVENT`s whose topic matches one of these patterns.
    Subscribe {
        /// Topic patterns (`orders.*`, `*`).
        topics: Vec<String>,
    },
    /// Stop receiving these patterns.
    Unsubscribe {
        /// The patterns, as subscribed.
        topics: Vec<String>,
    },
    /// Answered by `PONG`.
    Ping {
        /// Echoed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum ServerMessage {
    /// The result of a `TRIGGER`.
    Result {
        /// The trigger's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Whether it returned a value.
        ok: bool,
        /// The value, when `ok`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<serde_json::Value>,
        /// The typed error, when not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorBody>,
        /// What the call cost and touched.
        receipt: Box<Receipt>,
    },
    /// The session's kv changes a trigger made: key → new value (JSON when
    /// the value is JSON, else a string), `null` for a deleted key. Sent to
    /// every socket of the session.
    Patch {
        /// The trigger's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The changes.
        changes: BTreeMap<String, serde_json::Value>,
    },
    /// An event the guest emitted, to sockets subscribed to its topic.
    Event {
        /// The topic.
        topic: String,
        /// The payload.
        payload: serde_json::Value,
    },
    /// A trigger's progress: `started`, then each line it logs.
    Progress {
        /// The trigger's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// `started` or `log`.
        stage: String,
        /// The log level (`log`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<String>,
        /// The log line (`log`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A message that could not be handled; the socket stays open.
    Error {
        /// The id of the message, when it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// What was wrong.
        error: ErrorBody,
    },
    /// The answer to `PING`.
    Pong {
        /// The ping's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

impl ServerMessage {
    /// The message as JSON text, with `"v"`.
    pub fn to_text(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("v".into(), PROTOCOL_VERSION.into());
        }
        value.to_string()
    }

    /// An `ERROR` with `code` and `message`.
    pub fn error(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            id,
            error: ErrorBody::new(code, message),
        }
    }
}

impl ClientMessage {
    /// Read a client message: `ERROR`'s body (naming what was wrong) when
    /// it is not JSON, lacks `"v": 1`, or is not a known message.
    pub fn parse(text: &str) -> Result<ClientMessage, (Option<String>, ErrorBody)> {
        let invalid =
            |id: Option<String>, m: String| (id, ErrorBody::new(ErrorCode::InvalidInput, m));
        let mut value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid(None, format!("the message is not JSON: {e}")))?;
        let Some(map) = value.as_object_mut() else {
            return Err(invalid(None, "a message is a JSON object".into()));
        };
        let id = map.get("id").and_then(|v| v.as_str()).map(String::from);
        match map.remove("v") {
            Some(v) if v.as_u64() == Some(PROTOCOL_VERSION) => {}
            Some(v) => {
                return Err(invalid(
                    id,
                    format!(
                        "protocol version {v} is not spoken here (this server speaks {PROTOCOL_VERSION})"
                    ),
                ));
            }
            None => {
                return Err(invalid(
                    id,
                    format!("the message has no \"v\" (send \"v\": {PROTOCOL_VERSION})"),
                ));
            }
        }
        crate::json::from_json(&value.to_string())
            .map_err(|e| invalid(id, format!("not a valid message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_version_and_bad_ones_say_why() {
        let m = ClientMessage::parse(
            r#"{"v":1,"type":"TRIGGER","id":"a","export":"run","args":{"n":1}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::Trigger {
                id: Some("a".into()),
                export: "run".into(),
                args: serde_json::json!({"n": 1})
            }
        );
        let (_, e) = ClientMessage::parse(r#"{"type":"PING"}"#).unwrap_err();
        assert!(e.message.contains("\"v\""), "{e}");
        let (id, e) = ClientMessage::parse(r#"{"v":2,"type":"PING","id":"x"}"#).unwrap_err();
        assert_eq!(id.as_deref(), Some("x"));
        assert!(e.message.contains("version 2"), "{e}");
        let (_, e) = ClientMessage::parse(r#"{"v":1,"type":"LAUNCH"}"#).unwrap_err();
        assert!(e.message.contains("LAUNCH"), "{e}");
        let (_, e) = ClientMessage::parse("{").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        let text = ServerMessage::Pong { id: None }.to_text();
        assert_eq!(text, r#"{"type":"PONG","v":1}"#);
    }
}
