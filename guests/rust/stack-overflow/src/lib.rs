//! `stack-overflow` (misbehaving): unbounded non-tail recursion, until the
//! wasm stack (or the shadow stack) is exhausted (trap).
//!
//! Input: ignored. Output: never returns.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use std::hint::black_box;

struct StackOverflow;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // A local array used after the call keeps each frame alive and the call non-tail.
    let frame = black_box([depth; 8]);
    let below = recurse(black_box(depth + 1));
    below.wrapping_add(frame[black_box(depth as usize) % 8])
}

impl Guest for StackOverflow {
    fn run(_input: String) -> Result<String, String> {
        Ok(recurse(0).to_string())
    }
}

export!(StackOverflow);
