//! `panic` (misbehaving): panics; the panic message goes to stderr and the
//! guest traps (wasm has no unwinding here: panics abort).
//!
//! Input: ignored. Output: never returns.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

struct Panic;

impl Guest for Panic {
    fn run(_input: String) -> Result<String, String> {
        panic!("guest panicked on purpose")
    }
}

export!(Panic);
