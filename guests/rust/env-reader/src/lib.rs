//! `env-reader`: reads environment variables through Rust std (`wasi:cli/environment`).
//!
//! Input:  `{"names":["A","B"]}`
//! Output: `{"A":"value","B":null}` (null when unset or not unicode)
//! Errors: `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::{Map, Value};

struct EnvReader;

impl Guest for EnvReader {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let names = v
            .get("names")
            .and_then(Value::as_array)
            .ok_or("invalid input: missing array field \"names\"")?;
        let mut out = Map::new();
        for name in names.iter().filter_map(Value::as_str) {
            let value = std::env::var(name)
                .map(Value::String)
                .unwrap_or(Value::Null);
            out.insert(name.to_string(), value);
        }
        Ok(Value::Object(out).to_string())
    }
}

export!(EnvReader);
