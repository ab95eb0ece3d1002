//! `kv-counter`: exercises the warden `kv` capability.
//!
//! Input / output:
//! - `{"key":"k"}` (`key` optional, default "counter"): reads the value as a
//!   decimal u64 (missing -> 0), adds 1, stores it back -> `{"count":N}`.
//! - `{"key":"k","value_bytes":N}`: stores a value of N bytes (quota tests) -> `{"ok":true}`.
//! - `{"list":"prefix"}`: `kv::list-keys(prefix)` -> `{"keys":[...]}`.
//!
//! Errors: `Err("invalid input: ...")`, or `Err("kv get: Error::Denied(\"...\")")` etc.
//! (the Debug of the WIT `error` value).

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::{Value, json};
use warden::plugin::kv;

struct KvCounter;

impl Guest for KvCounter {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        if let Some(prefix) = v.get("list").and_then(Value::as_str) {
            let keys = kv::list_keys(prefix).map_err(|e| format!("kv list-keys: {e:?}"))?;
            return Ok(json!({ "keys": keys }).to_string());
        }
        let key = v.get("key").and_then(Value::as_str).unwrap_or("counter");
        if let Some(n) = v.get("value_bytes").and_then(Value::as_u64) {
            kv::set(key, &vec![b'x'; n as usize]).map_err(|e| format!("kv set: {e:?}"))?;
            return Ok(json!({ "ok": true }).to_string());
        }
        let current = match kv::get(key).map_err(|e| format!("kv get: {e:?}"))? {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("kv value of {key:?} is not a decimal u64"))?,
        };
        let count = current + 1;
        kv::set(key, count.to_string().as_bytes()).map_err(|e| format!("kv set: {e:?}"))?;
        Ok(json!({ "count": count }).to_string())
    }
}

export!(KvCounter);
