//! `host-callback`: calls functions the embedder registered (`warden:plugin/host.call`).
//!
//! Input / output:
//! - `{"name":"fn","args":<any json>}` -> returns the host function's JSON text as-is.
//! - `{"calls":[{"name":..,"args":..},...]}` -> JSON array of the results (in order).
//!   `args` defaults to null.
//!
//! Errors: `Err("host call \"fn\": Error::Denied(\"...\")")` etc., `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::Value;
use warden::plugin::host;

struct HostCallback;

fn call(spec: &Value) -> Result<String, String> {
    let name = spec
        .get("name")
        .and_then(Value::as_str)
        .ok_or("invalid input: missing string field \"name\"")?;
    let args = spec.get("args").unwrap_or(&Value::Null).to_string();
    host::call(name, &args).map_err(|e| format!("host call {name:?}: {e:?}"))
}

impl Guest for HostCallback {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let Some(calls) = v.get("calls").and_then(Value::as_array) else {
            return call(&v);
        };
        let mut results = Vec::with_capacity(calls.len());
        for spec in calls {
            let text = call(spec)?;
            // Keep non-JSON results visible as strings rather than failing.
            results.push(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        Ok(Value::Array(results).to_string())
    }
}

export!(HostCallback);
