//! `command` / `p1-command`: a WASI command (`fn main`).
//!
//! Reads all of stdin, writes it uppercased to stdout and "to stderr" to stderr.
//! If stdin contains "fail", exits with code 3 (after writing both). If stdin
//! is "argv", writes its arguments (argv[0] first) joined by spaces instead.

use std::io::{Read, Write};

fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("read stdin");
    let mut stdout = std::io::stdout();
    let out = if input == "argv" {
        std::env::args().collect::<Vec<_>>().join(" ")
    } else {
        input.to_uppercase()
    };
    stdout.write_all(out.as_bytes()).expect("write stdout");
    stdout.flush().expect("flush stdout");
    eprint!("to stderr");
    if input.contains("fail") {
        std::process::exit(3);
    }
}
