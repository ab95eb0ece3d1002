//! `logger`: logs through the host (`warden:plugin/log.log`).
//!
//! Input:  `{"level":"info","message":"m","count":1}`
//!         (`level`: trace|debug|info|warn|error, default info; `message` default "";
//!         `count` default 1)
//! Output: `{"logged":count}`
//! Errors: `Err("invalid input: ...")` (bad JSON or unknown level), `Err("log: Error::Denied(..)")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::{Value, json};
use warden::plugin::log::{self, Level};

struct Logger;

impl Guest for Logger {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let level = match v.get("level").and_then(Value::as_str).unwrap_or("info") {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            other => return Err(format!("invalid input: unknown level {other:?}")),
        };
        let message = v.get("message").and_then(Value::as_str).unwrap_or("");
        let count = v.get("count").and_then(Value::as_u64).unwrap_or(1);
        for _ in 0..count {
            log::log(level, message).map_err(|e| format!("log: {e:?}"))?;
        }
        Ok(json!({ "logged": count }).to_string())
    }
}

export!(Logger);
