//! `file-reader`: exercises WASI filesystem access through Rust std (preopens granted by policy).
//!
//! Input / output:
//! - `{"path":"p"}` -> `std::fs::read_to_string` -> `{"content":"..."}`
//! - `{"path":"p","write":"text"}` -> `std::fs::write` -> `{"written":N}` (N = bytes written)
//!
//! Errors: `Err("io error: <Display> (kind: <io::ErrorKind Debug>)")`, `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::{Value, json};

struct FileReader;

fn io_err(e: std::io::Error) -> String {
    format!("io error: {e} (kind: {:?})", e.kind())
}

impl Guest for FileReader {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let path = v
            .get("path")
            .and_then(Value::as_str)
            .ok_or("invalid input: missing string field \"path\"")?;
        match v.get("write").and_then(Value::as_str) {
            Some(text) => {
                std::fs::write(path, text).map_err(io_err)?;
                Ok(json!({ "written": text.len() }).to_string())
            }
            None => {
                let content = std::fs::read_to_string(path).map_err(io_err)?;
                Ok(json!({ "content": content }).to_string())
            }
        }
    }
}

export!(FileReader);
