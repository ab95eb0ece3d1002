//! `hello`: the smallest warden plugin. Uses only Rust std (no warden imports).
//!
//! Input:  `{"name":"x"}` (`name` optional, defaults to "world")
//! Output: `{"greeting":"hello, x"}`
//! Errors: input that is not JSON -> `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

struct Hello;

impl Guest for Hello {
    fn run(input: String) -> Result<String, String> {
        let v: serde_json::Value =
            serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("world");
        Ok(serde_json::json!({ "greeting": format!("hello, {name}") }).to_string())
    }
}

export!(Hello);
