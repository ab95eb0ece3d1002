//! `memory-bomb` (misbehaving): allocates 1 MiB buffers forever, keeping and
//! touching every one, until the memory limit makes allocation fail (trap).
//!
//! Input: ignored. Output: never returns.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use std::hint::black_box;

struct MemoryBomb;

impl Guest for MemoryBomb {
    fn run(_input: String) -> Result<String, String> {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            // Touch every page so the memory is really used.
            for page in block.chunks_mut(4096) {
                page[0] = 1;
            }
            kept.push(black_box(block));
            black_box(&kept);
        }
    }
}

export!(MemoryBomb);
