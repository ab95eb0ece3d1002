//! `hello` (guests/rust/hello) as an Extism plug-in, for the benchmark's
//! side-by-side: `greet` takes `{"name":"x"}` and returns
//! `{"greeting":"hello, x"}`, with the same serde_json work as warden's guest.

use extism_pdk::{FnResult, plugin_fn};

#[plugin_fn]
pub fn greet(input: String) -> FnResult<String> {
    let v: serde_json::Value = serde_json::from_str(&input)?;
    let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("world");
    Ok(serde_json::json!({ "greeting": format!("hello, {name}") }).to_string())
}
