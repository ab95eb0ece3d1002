//! `output-flood` (misbehaving): `println!`s a line to stdout in a loop forever.
//! Tests expect the host to stop it (output cap / fuel / epoch deadline); if the
//! host closes stdout, `println!` panics and the guest traps.
//!
//! Input: ignored. Output: never returns.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

struct OutputFlood;

impl Guest for OutputFlood {
    fn run(_input: String) -> Result<String, String> {
        let mut i: u64 = 0;
        loop {
            println!("output flood line {i}");
            i = i.wrapping_add(1);
        }
    }
}

export!(OutputFlood);
