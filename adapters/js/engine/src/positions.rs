//! Error positions: a QuickJS error becomes a `Failure`, and the positions in
//! compile errors and in stacks are mapped from the compiled text (1-based
//! line, 1-based UTF-8 byte column, the codemode wrapper on line 1) to the
//! source's own 1-based line and character column.

use rquickjs::{self as qjs, Coerced, Ctx, Value};

use crate::Failure;
use crate::capabilities::{class, format_value};

/// A script's module name and how it was wrapped.
pub(crate) struct Source {
    pub(crate) module: String,
    /// Length of the codemode prefix on line 1 (0 for an ES module).
    pub(crate) shift: usize,
    /// The script as compiled, less the codemode wrapper.
    pub(crate) text: String,
}

/// A thrown error (or rejection) as a `Failure`: `denied` for a `CapabilityDenied`,
/// else `thrown` with the message and stack.
pub(crate) fn caught(ctx: &Ctx<'_>, e: qjs::Error, src: &Source) -> Failure {
    if !e.is_exception() {
        return Failure::Thrown(e.to_string());
    }
    let value = ctx.catch();
    if let Some(obj) = value.as_object()
        && let Some(class) = class(ctx, "CapabilityDenied")
        && obj.is_instance_of(&class)
    {
        return Failure::Denied(
            obj.get::<_, Coerced<String>>("message")
                .map(|c| c.0)
                .unwrap_or_default(),
        );
    }
    let (head, stack) = describe_value(ctx, value);
    match stack {
        Some(stack) if !stack.trim().is_empty() => {
            Failure::Thrown(format!("{head}\n{}", fix_columns(stack.trim_end(), src)))
        }
        _ => Failure::Thrown(head),
    }
}

/// The message of a thrown error, without the stack.
pub(crate) fn failure_message(ctx: &Ctx<'_>, e: qjs::Error) -> String {
    if e.is_exception() {
        let value = ctx.catch();
        match value.as_exception() {
            Some(exc) => exc.message().unwrap_or_default(),
            None => describe_value(ctx, value).0,
        }
    } else {
        e.to_string()
    }
}

/// A compile (or link) error: `<message> at <line>:<col>` in the source's own coordinates.
pub(crate) fn compile_failure(ctx: &Ctx<'_>, e: qjs::Error, src: &Source) -> Failure {
    let Some((message, loc)) = syntax_error(ctx, e, &src.module) else {
        return Failure::Compile("the source does not compile".into());
    };
    match loc {
        Some((line, col)) => {
            let (line, col) = src_position(src, line, col);
            Failure::Compile(format!("{message} at {line}:{col}"))
        }
        None => Failure::Compile(message),
    }
}

/// The `line:col` at the end of a compile failure's message
/// (`<message> at <line>:<col>`).
pub(crate) fn position_of(message: &str) -> Option<(usize, usize)> {
    let (_, at) = message.rsplit_once(" at ")?;
    let (line, col) = at.split_once(':')?;
    Some((line.parse().ok()?, col.parse().ok()?))
}

/// The caught error's message (prefixed by its name unless a SyntaxError) and
/// the `line:col` of its first stack frame in `module`.
fn syntax_error(
    ctx: &Ctx<'_>,
    e: qjs::Error,
    module: &str,
) -> Option<(String, Option<(usize, usize)>)> {
    if !e.is_exception() {
        return Some((e.to_string(), None));
    }
    let value = ctx.catch();
    let Some(exc) = value.as_exception() else {
        return Some((describe_value(ctx, value).0, None));
    };
    let name: String = exc
        .get::<_, Coerced<String>>("name")
        .map(|c| c.0)
        .unwrap_or_default();
    let mut message = exc.message().unwrap_or_default();
    if name != "SyntaxError" && !name.is_empty() {
        message = format!("{name}: {message}");
    }
    if let Some(head) = message.strip_suffix(": ''") {
        message = format!("{head}: end of input");
    }
    Some((
        message,
        exc.stack().as_deref().and_then(|s| location(s, module)),
    ))
}

/// The first `<module>:<line>:<col>` of a stack.
fn location(stack: &str, module: &str) -> Option<(usize, usize)> {
    let needle = format!("{module}:");
    let mut rest = stack;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let mut parts = rest.splitn(3, |c: char| !c.is_ascii_digit());
        let line = parts.next().and_then(|s| s.parse().ok());
        let col = parts.next().and_then(|s| s.parse().ok());
        if let (Some(line), Some(col)) = (line, col) {
            return Some((line, col));
        }
    }
    None
}

/// Maps a QuickJS position (1-based line, 1-based UTF-8 byte column, in the
/// compiled text) to the source as given: 1-based line and character column,
/// less the codemode wrapper.
fn src_position(src: &Source, line: usize, col: usize) -> (usize, usize) {
    let lines: Vec<&str> = src.text.split('\n').collect();
    if src.shift > 0 && line > lines.len() {
        // On the wrapper's closing line: the end of the source.
        let last = lines.last().copied().unwrap_or("");
        return (lines.len(), last.chars().count() + 1);
    }
    let Some(text) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return (line, col);
    };
    let col = if line == 1 {
        col.saturating_sub(src.shift)
    } else {
        col
    };
    let mut byte = col.saturating_sub(1).min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    (line, text[..byte].chars().count() + 1)
}

/// Rewrites the `<module>:<line>:<col>` of a stack to the source's coordinates.
fn fix_columns(stack: &str, src: &Source) -> String {
    let needle = format!("{}:", src.module);
    let mut out = String::with_capacity(stack.len());
    let mut rest = stack;
    while let Some(i) = rest.find(&needle) {
        let (before, after) = rest.split_at(i + needle.len());
        out.push_str(before);
        rest = after;
        let line_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let col_start = line_end + 1;
        if line_end > 0 && rest[line_end..].starts_with(':') {
            let col_len = rest[col_start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - col_start);
            if let (Ok(line), Ok(col)) = (
                rest[..line_end].parse(),
                rest[col_start..col_start + col_len].parse(),
            ) {
                let (line, col) = src_position(src, line, col);
                out.push_str(&format!("{line}:{col}"));
                rest = &rest[col_start + col_len..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `(Name: message, stack)` for an error, or the value formatted like `console.log`.
pub(crate) fn describe_value<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> (String, Option<String>) {
    if let Some(exc) = value.as_exception() {
        let name: String = exc
            .get::<_, Coerced<String>>("name")
            .map(|c| c.0)
            .unwrap_or_else(|_| "Error".into());
        let message = exc.message().unwrap_or_default();
        let head = if message.is_empty() {
            name
        } else {
            format!("{name}: {message}")
        };
        return (head, exc.stack());
    }
    (format_value(ctx, value), None)
}
