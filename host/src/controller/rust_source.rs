//! How the `rust` runtime turns a snippet into a program: the entry
//! conventions it recognises, and the `main` it adds.
//!
//! A source is, by these rules, in this order:
//!
//! 1. **A value `main`**: a `fn main()` that returns a value or is written as
//!    a C entry point, as runtime controllers' READMEs show it:
//!    `#[no_mangle] pub extern "C" fn main() -> u32 { fibonacci(20) }`
//!    (`#[unsafe(no_mangle)]`, edition 2024's spelling, too), or
//!    `fn main() -> Vec<f64> { … }`. The attributes and qualifiers are
//!    dropped, the function is renamed, and warden's `main` prints its result
//!    as JSON: numbers, `bool`, `char`, strings (as JSON strings), `()` and
//!    `None` (`null`), `Option`, `Vec`, slices, arrays, tuples, `Box`, and
//!    maps with string keys (`HashMap`, `BTreeMap`), nested freely (the
//!    snippet is built by `rustc` alone, so serde is not available; the
//!    trait `__warden_json::Json` covers these). A `Result` is its `Ok`
//!    value, or its `Err` (`Display`) as `GUEST_ERROR`. No input.
//! 2. **A whole program**: any other `fn main` (returning nothing,
//!    `Result<(), E>` or `ExitCode`): the input JSON is on stdin and stdout
//!    must be JSON.
//! 3. **A `run` function**: `fn run(input: &str) -> T`, where `T` is a
//!    `String` holding JSON text, a number, a `bool`, or a `Result` of one of
//!    those with an error that implements `Display` (an `Err` is
//!    `GUEST_ERROR`); warden adds a `main` that reads the JSON input from
//!    stdin and prints the result.
//!
//! Rewrites keep every line where it was, so compiler errors point at the
//! snippet's own lines.

use crate::error::{Error, Result};

/// The program rustc compiles for `source`.
pub(super) fn program_of(source: &str) -> Result<String> {
    if let Some(main) = find_main(source) {
        return Ok(match value_main(source, &main) {
            Some(rewritten) => format!("{rewritten}{VALUE_MAIN_WRAPPER}"),
            None => source.to_string(),
        });
    }
    if source.contains("fn run") {
        return Ok(format!("{source}{RUN_WRAPPER}"));
    }
    Err(Error::Compile {
        plugin: "rust".into(),
        message: "the source defines neither `fn run(input: &str) -> …` nor `fn main()` \
                  (`fn main() -> T` prints T as JSON)"
            .into(),
    })
}

/// Where a `fn main(` is: the start of its item (attributes and qualifiers
/// included), of `fn`, and of its body's `{`.
struct Main {
    item: usize,
    fn_at: usize,
    body: usize,
}

fn find_main(source: &str) -> Option<Main> {
    let fn_at = source.match_indices("fn main").map(|(i, _)| i).find(|&i| {
        let before_ok = i == 0 || !is_ident(source.as_bytes()[i - 1]);
        before_ok && source[i + 7..].trim_start().starts_with('(')
    })?;
    let body = fn_at + source[fn_at..].find('{')?;
    // Walk back over qualifiers and attributes to the start of the item.
    let mut item = fn_at;
    loop {
        let head = source[..item].trim_end();
        let next = if head.ends_with(']') {
            // An attribute: back to its `#[`.
            head.rfind("#[")
        } else if head.ends_with("\"C\"") || head.ends_with("\"C-unwind\"") {
            head[..head.len() - 1].rfind('"')
        } else {
            ["pub", "extern", "unsafe", "pub(crate)"]
                .iter()
                .find(|q| {
                    head.ends_with(*q)
                        && head[..head.len() - q.len()]
                            .bytes()
                            .last()
                            .is_none_or(|b| !is_ident(b))
                })
                .map(|q| head.len() - q.len())
        };
        match next {
            Some(start) => item = start,
            None => break,
        }
    }
    Some(Main { item, fn_at, body })
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The source with a value `main` renamed to `__warden_user_main` and its
/// C-entry-point dressing removed, or `None` when `main` is a program's.
fn value_main(source: &str, main: &Main) -> Option<String> {
    let dressing = &source[main.item..main.fn_at];
    let signature = &source[main.fn_at..main.body];
    let returns = signature
        .split_once("->")
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    let c_entry = dressing.contains("no_mangle") || dressing.contains("extern");
    let compact: String = returns.split_whitespace().collect();
    let program_return = compact.is_empty()
        || compact == "()"
        || compact.ends_with("ExitCode")
        || compact.ends_with("Result<()>")
        || compact.starts_with("Result<(),")
        || compact.contains("::Result<(),");
    if !c_entry && program_return {
        return None;
    }
    // Keep other attributes (`#[allow(…)]`), drop `no_mangle` and the
    // qualifiers; keep the line breaks so every line keeps its number.
    let kept: String = attributes(dressing)
        .filter(|a| !a.contains("no_mangle"))
        .collect::<Vec<_>>()
        .join(" ");
    let breaks = "\n".repeat(dressing.matches('\n').count());
    let rest = &signature["fn main".len()..];
    Some(format!(
        "{}{kept}{breaks}fn __warden_user_main{rest}{}",
        &source[..main.item],
        &source[main.body..]
    ))
}

/// The `#[…]` attributes in `text`.
fn attributes(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("#[").filter_map(move |(i, _)| {
        let mut depth = 0;
        for (j, c) in text[i + 1..].char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&text[i..i + 1 + j + 1]);
                    }
                }
                _ => {}
            }
        }
        None
    })
}

/// Appended to a source with a `run` and no `main`.
const RUN_WRAPPER: &str = r#"

#[allow(dead_code)]
mod __warden_main {
    pub trait Output {
        fn emit(self) -> Result<String, String>;
    }
    impl Output for String {
        fn emit(self) -> Result<String, String> { Ok(self) }
    }
    impl Output for &str {
        fn emit(self) -> Result<String, String> { Ok(self.to_string()) }
    }
    macro_rules! display_output {
        ($($t:ty),*) => {$(
            impl Output for $t {
                fn emit(self) -> Result<String, String> { Ok(self.to_string()) }
            }
        )*};
    }
    display_output!(bool, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);
    impl<T: Output, E: std::fmt::Display> Output for Result<T, E> {
        fn emit(self) -> Result<String, String> {
            match self {
                Ok(v) => v.emit(),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

fn main() {
    use std::io::{Read, Write};
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("reading the input: {e}");
        std::process::exit(2);
    }
    match __warden_main::Output::emit(run(&input)) {
        Ok(out) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
"#;

/// Appended to a source whose value `main` was renamed.
const VALUE_MAIN_WRAPPER: &str = r#"

#[allow(dead_code)]
mod __warden_json {
    use std::fmt::Write as _;
    /// The JSON form of a value (serde is not available to a bare rustc).
    pub trait Json {
        fn json(&self, out: &mut String) -> Result<(), String>;
    }
    macro_rules! number {
        ($($t:ty),*) => {$(
            impl Json for $t {
                fn json(&self, out: &mut String) -> Result<(), String> {
                    let _ = write!(out, "{}", self);
                    Ok(())
                }
            }
        )*};
    }
    number!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, bool);
    macro_rules! float {
        ($($t:ty),*) => {$(
            impl Json for $t {
                fn json(&self, out: &mut String) -> Result<(), String> {
                    if !self.is_finite() {
                        return Err(format!("the result holds {}, which JSON cannot carry", self));
                    }
                    let _ = write!(out, "{:?}", self);
                    Ok(())
                }
            }
        )*};
    }
    float!(f32, f64);
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => { let _ = write!(out, "\\u{:04x}", c as u32); }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    impl Json for str {
        fn json(&self, out: &mut String) -> Result<(), String> { string(self, out); Ok(()) }
    }
    impl Json for String {
        fn json(&self, out: &mut String) -> Result<(), String> { string(self, out); Ok(()) }
    }
    impl Json for char {
        fn json(&self, out: &mut String) -> Result<(), String> { string(&self.to_string(), out); Ok(()) }
    }
    impl Json for () {
        fn json(&self, out: &mut String) -> Result<(), String> { out.push_str("null"); Ok(()) }
    }
    impl<T: Json + ?Sized> Json for &T {
        fn json(&self, out: &mut String) -> Result<(), String> { (**self).json(out) }
    }
    impl<T: Json + ?Sized> Json for Box<T> {
        fn json(&self, out: &mut String) -> Result<(), String> { (**self).json(out) }
    }
    impl<T: Json> Json for Option<T> {
        fn json(&self, out: &mut String) -> Result<(), String> {
            match self { Some(v) => v.json(out), None => { out.push_str("null"); Ok(()) } }
        }
    }
    fn seq<'a, T: Json + 'a>(items: impl Iterator<Item = &'a T>, out: &mut String) -> Result<(), String> {
        out.push('[');
        for (i, v) in items.enumerate() {
            if i > 0 { out.push(','); }
            v.json(out)?;
        }
        out.push(']');
        Ok(())
    }
    impl<T: Json> Json for [T] {
        fn json(&self, out: &mut String) -> Result<(), String> { seq(self.iter(), out) }
    }
    impl<T: Json, const N: usize> Json for [T; N] {
        fn json(&self, out: &mut String) -> Result<(), String> { seq(self.iter(), out) }
    }
    impl<T: Json> Json for Vec<T> {
        fn json(&self, out: &mut String) -> Result<(), String> { seq(self.iter(), out) }
    }
    impl<T: Json> Json for std::collections::VecDeque<T> {
        fn json(&self, out: &mut String) -> Result<(), String> { seq(self.iter(), out) }
    }
    impl<T: Json> Json for std::collections::BTreeSet<T> {
        fn json(&self, out: &mut String) -> Result<(), String> { seq(self.iter(), out) }
    }
    fn map<'a, K: AsRef<str> + 'a, V: Json + 'a>(
        entries: impl Iterator<Item = (&'a K, &'a V)>,
        out: &mut String,
    ) -> Result<(), String> {
        out.push('{');
        for (i, (k, v)) in entries.enumerate() {
            if i > 0 { out.push(','); }
            string(k.as_ref(), out);
            out.push(':');
            v.json(out)?;
        }
        out.push('}');
        Ok(())
    }
    impl<K: AsRef<str>, V: Json> Json for std::collections::BTreeMap<K, V> {
        fn json(&self, out: &mut String) -> Result<(), String> { map(self.iter(), out) }
    }
    impl<K: AsRef<str> + Ord, V: Json, S> Json for std::collections::HashMap<K, V, S> {
        fn json(&self, out: &mut String) -> Result<(), String> {
            // Sorted, so the output does not depend on the hasher.
            let mut entries: Vec<_> = self.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            map(entries.into_iter(), out)
        }
    }
    macro_rules! tuple {
        ($($n:tt $t:ident),+) => {
            impl<$($t: Json),+> Json for ($($t,)+) {
                fn json(&self, out: &mut String) -> Result<(), String> {
                    out.push('[');
                    $( if $n > 0 { out.push(','); } self.$n.json(out)?; )+
                    out.push(']');
                    Ok(())
                }
            }
        };
    }
    tuple!(0 A);
    tuple!(0 A, 1 B);
    tuple!(0 A, 1 B, 2 C);
    tuple!(0 A, 1 B, 2 C, 3 D);
    tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
    /// What `main` may return: a JSON value, or a `Result` of one (`Ok`
    /// prints, `Err` fails).
    pub trait Output {
        fn emit(self) -> Result<String, String>;
    }
    impl<T: Json> Output for T {
        fn emit(self) -> Result<String, String> {
            let mut out = String::new();
            self.json(&mut out)?;
            Ok(out)
        }
    }
    impl<T: Json, E: std::fmt::Display> Output for Result<T, E> {
        fn emit(self) -> Result<String, String> {
            match self {
                Ok(v) => v.emit(),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

fn main() {
    use std::io::Write;
    match __warden_json::Output::emit(__warden_user_main()) {
        Ok(out) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(src: &str) -> Option<String> {
        value_main(src, &find_main(src).expect("a main"))
    }

    #[test]
    fn c_entry_points_and_value_mains_are_renamed_in_place() {
        let src = "fn fibonacci(n: u32) -> u32 { n }\n\n#[no_mangle]\npub extern \"C\" fn main() -> u32 {\n    fibonacci(20)\n}\n";
        let out = rewritten(src).unwrap();
        assert!(
            !out.contains("no_mangle") && !out.contains("extern"),
            "{out}"
        );
        assert!(out.contains("fn __warden_user_main() -> u32 {"), "{out}");
        // Every line where it was.
        assert_eq!(out.lines().count(), src.lines().count());
        assert_eq!(out.lines().nth(4).unwrap().trim(), "fibonacci(20)");

        let src = "#[unsafe(no_mangle)] pub extern \"C\" fn main() -> u32 { 1 }";
        assert_eq!(
            rewritten(src).unwrap(),
            "fn __warden_user_main() -> u32 { 1 }"
        );
        let src = "#[allow(unused)]\nfn main() -> Vec<f64> { vec![] }";
        assert_eq!(
            rewritten(src).unwrap(),
            "#[allow(unused)]\nfn __warden_user_main() -> Vec<f64> { vec![] }"
        );
    }

    #[test]
    fn program_mains_and_run_functions_are_left_alone() {
        for src in [
            "fn main() { println!(\"1\"); }",
            "fn main() -> Result<(), String> { Ok(()) }",
            "fn main() -> std::io::Result<()> { Ok(()) }",
            "fn main() -> std::process::ExitCode { std::process::ExitCode::SUCCESS }",
        ] {
            assert_eq!(rewritten(src), None, "{src}");
            assert_eq!(program_of(src).unwrap(), src);
        }
        // `fn mainly` and `fn domain` are not `main`.
        assert!(find_main("fn mainly() {} fn domain() {}").is_none());
        assert!(
            program_of("fn run(i: &str) -> u32 { 1 }")
                .unwrap()
                .contains("__warden_main::Output::emit(run(&input))")
        );
        let err = program_of("fn helper() {}").unwrap_err().to_string();
        assert!(err.contains("fn run") && err.contains("fn main"), "{err}");
    }
}
