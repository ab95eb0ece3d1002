//! `infinite-loop` (misbehaving): spins forever without calling the host.
//! Tests expect the host to stop it (fuel / epoch deadline).
//!
//! Input: ignored. Output: never returns.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use std::hint::black_box;

struct InfiniteLoop;

impl Guest for InfiniteLoop {
    fn run(_input: String) -> Result<String, String> {
        let mut i: u64 = 0;
        loop {
            // black_box keeps the optimizer from proving the loop side-effect free.
            i = black_box(i.wrapping_add(1));
        }
    }
}

export!(InfiniteLoop);
