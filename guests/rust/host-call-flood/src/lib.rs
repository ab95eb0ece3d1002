//! `host-call-flood` (misbehaving): calls `log::log` in a loop forever.
//! Tests expect the host to stop it (output cap / fuel / epoch deadline).
//!
//! Input: ignored. Output: never returns.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use warden::plugin::log::{self, Level};

struct HostCallFlood;

impl Guest for HostCallFlood {
    fn run(_input: String) -> Result<String, String> {
        let mut i: u64 = 0;
        loop {
            // Denied or not, every call counts toward the host-call limit.
            let _ = log::log(Level::Info, &format!("flood {i}"));
            i = i.wrapping_add(1);
        }
    }
}

export!(HostCallFlood);
