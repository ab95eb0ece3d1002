//! What a caller sends: [`ExecuteRequest`] (code, language, input, config,
//! hints, runtime), [`ExecConfig`] (a trust preset, grants added to it,
//! limit overrides) and the scheduler's [`Hints`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::grants::{Capability, Grants, TrustLevel};
use crate::language::{Hints, Language};
use crate::limits::{LimitOverrides, Limits};

/// Per-call configuration: what the code may touch and its limits.
///
/// The one rule, for every front end: **a trust level is a preset; explicit
/// grants add to it; limit overrides replace its limits.** Without a trust
/// level nothing is granted but `grants`, under the default (medium) limits.
/// A whole policy is `grants` plus every limit in `limits`. The result is
/// checked against the caller's [`crate::Ceiling`] by [`crate::lower`].
///
/// ```json
/// { "trust": "low", "grants": { "event_topics": ["orders.*"] },
///   "limits": { "timeout": "500ms", "memory_bytes": "16MiB" } }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExecConfig {
    /// The preset to start from (`low`, `medium`, `high`); none: nothing
    /// granted, medium's limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustLevel>,
    /// Grants added to the preset's. These are also what the call asks for
    /// by name: a runtime that cannot grant one of them is not chosen.
    pub grants: Grants,
    /// Limits replacing the preset's.
    pub limits: LimitOverrides,
    /// Whether time spent queued counts against the timeout (default: yes).
    pub include_queue_time: bool,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            trust: None,
            grants: Grants::none(),
            limits: LimitOverrides::default(),
            include_queue_time: true,
        }
    }
}

impl ExecConfig {
    /// Grant exactly `grants` (on top of the trust preset, if any).
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Start from a trust level's preset.
    pub fn with_trust(mut self, level: TrustLevel) -> Self {
        self.trust = Some(level);
        self
    }

    /// Set the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// Set the memory limit.
    pub fn with_memory(mut self, bytes: usize) -> Self {
        self.limits.memory_bytes = Some(bytes);
        self
    }

    /// Set a fuel budget.
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.limits.fuel = Some(fuel);
        self
    }

    /// Replace every limit.
    pub fn with_limits(mut self, limits: &Limits) -> Self {
        self.limits = LimitOverrides::all(limits);
        self
    }

    /// The capabilities asked for by name: the explicit grants' (a trust
    /// preset asks for none: it only bounds).
    pub fn demanded(&self) -> Vec<Capability> {
        self.grants.granted()
    }
}

/// The input of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// JSON text: the argument of `run`, a snippet's `input`, a WASI
    /// command's stdin, or (for C) the bytes: `null` (none), a string (its
    /// UTF-8), or an array of 0–255.
    Json(String),
    /// A WAVE call of one export, `name(args…)` (Wasm only).
    Invoke(String),
    /// Raw bytes (C/eBPF: the packet data).
    Bytes(Vec<u8>),
}

impl Input {
    /// `null`.
    pub fn null() -> Self {
        Input::Json("null".into())
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Input::Json(s) | Input::Invoke(s) => s.len(),
            Input::Bytes(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<serde_json::Value> for Input {
    fn from(v: serde_json::Value) -> Self {
        Input::Json(v.to_string())
    }
}

/// One `execute`: `code` in `language`, on `input`, under `config`, placed
/// by `hints` (or on `runtime`).
///
/// On the wire (JSON):
///
/// ```json
/// { "language": "js", "code": "(i) => i.n * 2", "input": { "n": 21 },
///   "config": { "trust": "low" }, "hints": { "latency": "low" } }
/// ```
///
/// `code` is text, or `{ "base64": "…" }` for bytes (a Wasm binary, an
/// eBPF object). The input is one of `input` (any JSON; default `null`),
/// `invoke` (a WAVE call of one export, `"add(1, 2)"`, Wasm only) or `data`
/// (`{ "base64": "…" }`, raw bytes for C). Unknown fields are refused.
#[derive(Debug, Clone)]
pub struct ExecuteRequest {
    /// The language of `code`.
    pub language: Language,
    /// Source text (UTF-8) or Wasm bytes.
    pub code: Arc<[u8]>,
    /// The input.
    pub input: Input,
    /// Limits and grants.
    pub config: ExecConfig,
    /// Scheduler hints.
    pub hints: Hints,
    /// Run on this runtime (the scheduler's rules still apply).
    pub runtime: Option<String>,
}

impl ExecuteRequest {
    /// `code` in `language`, with `null` input, nothing granted, no hints.
    pub fn new(language: Language, code: impl AsRef<[u8]>) -> Self {
        ExecuteRequest {
            language,
            code: Arc::from(code.as_ref()),
            input: Input::null(),
            config: ExecConfig::default(),
            hints: Hints::default(),
            runtime: None,
        }
    }

    /// JSON input.
    pub fn input_json(mut self, json: impl Into<String>) -> Self {
        self.input = Input::Json(json.into());
        self
    }

    /// Any input.
    pub fn input(mut self, input: Input) -> Self {
        self.input = input;
        self
    }

    /// The config.
    pub fn config(mut self, config: ExecConfig) -> Self {
        self.config = config;
        self
    }

    /// The hints.
    pub fn hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }

    /// An explicit runtime.
    pub fn runtime(mut self, name: impl Into<String>) -> Self {
        self.runtime = Some(name.into());
        self
    }
}

/// Bytes on the wire: written as a string when they are UTF-8, else as
/// `{ "base64": "…" }`; read either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl Blob {
    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(
                    "base64",
                    &base64::engine::general_purpose::STANDARD.encode(&self.0),
                )?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text, or an object { \"base64\": \"…\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Blob, E> {
                Ok(Blob(v.as_bytes().to_vec()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Blob, A::Error> {
                let mut bytes = None;
                while let Some(key) = m.next_key::<String>()? {
                    if key != "base64" {
                        return Err(de::Error::unknown_field(&key, &["base64"]));
                    }
                    let text: String = m.next_value()?;
                    bytes = Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(text.trim())
                            .map_err(|e| de::Error::custom(format!("`base64`: {e}")))?,
                    );
                }
                bytes
                    .map(Blob)
                    .ok_or_else(|| de::Error::missing_field("base64"))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Blob {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Blob".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Text (its UTF-8 bytes), or base64 for any bytes.",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": { "base64": { "type": "string" } },
                    "required": ["base64"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// The JSON form of [`ExecuteRequest`].
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "ExecuteRequest")]
#[schemars(rename = "ExecuteRequest")]
struct RequestWire {
    /// The language of `code`.
    language: Language,
    /// The source text, or `{ "base64": "…" }` for bytes.
    code: Blob,
    /// The JSON input (default `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    input: Option<Box<RawValue>>,
    /// Wasm: a WAVE call of one export, e.g. `add(1, 2)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    invoke: Option<String>,
    /// C: raw bytes to run the program on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Blob>,
    /// Grants and limits.
    #[serde(default)]
    config: ExecConfig,
    /// Scheduler hints.
    #[serde(default)]
    hints: Hints,
    /// Run on this runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    runtime: Option<String>,
}

impl Serialize for ExecuteRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (mut input, mut invoke, mut data) = (None, None, None);
        match &self.input {
            Input::Json(j) => {
                input = Some(RawValue::from_string(j.clone()).map_err(|e| {
                    S::Error::custom(format!("the request's input is not JSON: {e}"))
                })?)
            }
            Input::Invoke(c) => invoke = Some(c.clone()),
            Input::Bytes(b) => data = Some(Blob(b.clone())),
        }
        RequestWire {
            language: self.language,
            code: Blob(self.code.to_vec()),
            input,
            invoke,
            data,
            config: self.config.clone(),
            hints: self.hints,
            runtime: self.runtime.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ExecuteRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = RequestWire::deserialize(d)?;
        let input = match (w.input, w.invoke, w.data) {
            (None, None, None) => Input::null(),
            (Some(j), None, None) => Input::Json(j.get().to_string()),
            (None, Some(call), None) => Input::Invoke(call),
            (None, None, Some(b)) => Input::Bytes(b.0),
            _ => {
                return Err(de::Error::custom(ApiError::InvalidRequest(
                    "give at most one of `input`, `invoke` and `data`".into(),
                )));
            }
        };
        Ok(ExecuteRequest {
            language: w.language,
            code: Arc::from(w.code.0),
            input,
            config: w.config,
            hints: w.hints,
            runtime: w.runtime,
        })
    }
}

impl JsonSchema for ExecuteRequest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExecuteRequest".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        RequestWire::json_schema(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_refuse_unknown_fields_by_name() {
        let text = r#"{"language":"wasm","code":{"base64":"AGFzbQ=="},"invoke":"add(1, 2)",
            "config":{"trust":"medium","limits":{"memory_bytes":"16MiB"}},"hints":{"latency":"low"}}"#;
        let req: ExecuteRequest = serde_json::from_str(text).unwrap();
        assert_eq!(&*req.code, b"\0asm");
        assert_eq!(req.input, Input::Invoke("add(1, 2)".into()));
        assert_eq!(req.config.limits.memory_bytes, Some(16 << 20));
        let again: ExecuteRequest =
            serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
        assert_eq!(&*again.code, &*req.code);
        assert_eq!(again.input, req.input);
        assert_eq!(again.config, req.config);

        let req: ExecuteRequest = serde_json::from_str(
            r#"{"language":"javascript","code":"() => 1","input":[1, {"a":2}]}"#,
        )
        .unwrap();
        assert_eq!(req.language, Language::JavaScript);
        assert_eq!(req.input, Input::Json(r#"[1, {"a":2}]"#.into()));
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["language"], "js");
        assert_eq!(v["code"], "() => 1");

        for (text, field) in [
            (r#"{"language":"js","code":"1","colour":1}"#, "colour"),
            (
                r#"{"language":"js","code":"1","config":{"timout":5}}"#,
                "timout",
            ),
            (
                r#"{"language":"js","code":"1","config":{"limits":{"memroy":5}}}"#,
                "memroy",
            ),
            (
                r#"{"language":"js","code":"1","config":{"grants":{"kv":{"quota":1}}}}"#,
                "quota",
            ),
            (
                r#"{"language":"js","code":"1","hints":{"fast":true}}"#,
                "fast",
            ),
            (r#"{"language":"js","code":{"base65":"x"}}"#, "base65"),
        ] {
            let e = serde_json::from_str::<ExecuteRequest>(text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("unknown field `{field}`")),
                "{text}: {e}"
            );
        }
        let e = serde_json::from_str::<ExecuteRequest>(
            r#"{"language":"js","code":"1","input":1,"invoke":"f()"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("at most one of `input`, `invoke` and `data`"),
            "{e}"
        );
        let e = serde_json::from_str::<ExecuteRequest>(r#"{"language":"cobol","code":"1"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `cobol`"), "{e}");
        // Input that is not JSON cannot be sent as JSON.
        let bad = ExecuteRequest::new(Language::JavaScript, "1").input_json("{nope");
        assert!(serde_json::to_string(&bad).is_err());
    }
}
