//! `typed-exports`: a component with typed exports (its own world, `wit/world.wit`,
//! package `warden:typed@0.1.0`), for dynamic invocation tests with WAVE / JSON values.
//!
//! Exports `version() -> "1.0"` and interface `calc`:
//! - `add(a, b)` -> a + b (wrapping)
//! - `greet(name, times)` -> `["hello, name"; times]` (times default 1)
//! - `norm({x, y})` -> sqrt(x² + y²)
//! - `area(shape)` -> circle(r): πr², square(s): s², none: 0
//! - `describe(color, flags)` -> `ok("red: 2 flags, 1 set")`, `err("no flags")` when flags is empty
//! - `toggle-write(perms)` -> `perms` with `write` toggled
//! - `reverse-bytes(data)` -> `ok(reversed)`, `err("no bytes")` when empty

wit_bindgen::generate!({ world: "typed", path: "wit" });

use exports::warden::typed::calc::{Color, Perms, Point, Shape};

struct Typed;

impl Guest for Typed {
    fn version() -> String {
        "1.0".to_string()
    }
}

impl exports::warden::typed::calc::Guest for Typed {
    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    fn greet(name: String, times: Option<u32>) -> Vec<String> {
        (0..times.unwrap_or(1))
            .map(|_| format!("hello, {name}"))
            .collect()
    }

    fn norm(p: Point) -> f64 {
        p.x.hypot(p.y)
    }

    fn area(s: Shape) -> f64 {
        match s {
            Shape::Circle(r) => std::f64::consts::PI * r * r,
            Shape::Square(side) => side * side,
            Shape::None => 0.0,
        }
    }

    fn describe(c: Color, flags: Vec<bool>) -> Result<String, String> {
        if flags.is_empty() {
            return Err("no flags".to_string());
        }
        let name = match c {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
        };
        let set = flags.iter().filter(|f| **f).count();
        Ok(format!("{name}: {} flags, {set} set", flags.len()))
    }

    fn toggle_write(p: Perms) -> Perms {
        p ^ Perms::WRITE
    }

    fn reverse_bytes(mut data: Vec<u8>) -> Result<Vec<u8>, String> {
        if data.is_empty() {
            return Err("no bytes".to_string());
        }
        data.reverse();
        Ok(data)
    }
}

export!(Typed);
