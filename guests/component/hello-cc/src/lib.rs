//! `hello-cc`: the `hello` plugin, authored for cargo-component (which
//! generates `src/bindings.rs` from the `plugin` world of ../../../wit).
//!
//! Input:  `{"name":"x"}` (`name` optional, defaults to "world")
//! Output: `{"greeting":"hello from cargo-component, x"}`
//! Errors: input that is not JSON -> `Err("invalid input: ...")`.

#[allow(warnings)]
mod bindings;

use bindings::Guest;

struct Component;

impl Guest for Component {
    fn run(input: String) -> Result<String, String> {
        let v: serde_json::Value =
            serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("world");
        Ok(serde_json::json!({ "greeting": format!("hello from cargo-component, {name}") }).to_string())
    }
}

bindings::export!(Component with_types_in bindings);
