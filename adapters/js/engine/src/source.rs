//! Source handling: the entry conventions (an ES module, or a codemode
//! function expression compiled inside a wrapper module), loading a script and
//! finding its entry point, and calling that with JSON in and out. What scripts
//! see is described in the crate doc, under "Entry conventions".

use rquickjs::{self as qjs, Ctx, Function, Module, Persistent, Value};

use crate::Failure;
use crate::capabilities::js_type;
use crate::positions::{Source, caught, compile_failure, failure_message};

/// The first line of a codemode script; the source follows on the same line.
const CODEMODE_PREFIX: &str = "import * as kv from 'warden:plugin/kv'; \
    import { log } from 'warden:plugin/log'; import { call } from 'warden:plugin/host'; \
    import { emit } from 'warden:plugin/events'; export default (";
const CODEMODE_SUFFIX: &str = "\n);";

/// An evaluated script's entry point and what is needed to report its errors.
pub(crate) struct Loaded {
    entry: Persistent<Function<'static>>,
    source: Source,
}

// ---------------------------------------------------------------------------
// Loading and calling scripts

/// Compiles and evaluates `source` as the module `name` and finds its entry.
pub(crate) fn load<'js>(ctx: &Ctx<'js>, module: String, source: &str) -> Result<Loaded, Failure> {
    let codemode = !has_export_statement(source);
    let (text, src) = if codemode {
        // `(input) => input.x;` is meant as the expression: drop trailing semicolons.
        let expr = source
            .trim_end()
            .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
        let src = Source {
            module,
            shift: CODEMODE_PREFIX.len(),
            text: expr.to_owned(),
        };
        (format!("{CODEMODE_PREFIX}{expr}{CODEMODE_SUFFIX}"), src)
    } else {
        let src = Source {
            module,
            shift: 0,
            text: source.to_owned(),
        };
        (source.to_owned(), src)
    };

    let declared = Module::declare(ctx.clone(), src.module.as_str(), text.as_str())
        .map_err(|e| compile_failure(ctx, e, &src))?;
    // Linking errors (an unknown module, a missing export) surface here.
    let (module, promise) = declared.eval().map_err(|e| compile_failure(ctx, e, &src))?;
    // Top-level code (and top-level await) runs here.
    settle(
        ctx,
        promise.into_value(),
        &src,
        "the module's top-level await",
    )?;

    let ns = module.namespace().map_err(|e| caught(ctx, e, &src))?;
    let pick = |name: &str| -> Option<Function<'js>> {
        ns.get::<_, Value>(name)
            .ok()
            .and_then(|v| v.into_function())
    };
    let entry = pick("run").or_else(|| pick("default")).ok_or_else(|| {
        Failure::Compile(if codemode {
            "the script is neither an ES module (no `export`) nor a function expression".into()
        } else {
            "the module exports neither a function `run` nor a default function".into()
        })
    })?;
    Ok(Loaded {
        entry: Persistent::save(ctx, entry),
        source: src,
    })
}

/// `JSON.parse(input)` -> entry -> settle -> `JSON.stringify`.
pub(crate) fn call_entry(ctx: &Ctx<'_>, loaded: &Loaded, input: &str) -> Result<String, Failure> {
    let src = &loaded.source;
    let entry = loaded
        .entry
        .clone()
        .restore(ctx)
        .map_err(|e| Failure::Thrown(e.to_string()))?;
    let arg = if input.trim().is_empty() {
        Value::new_null(ctx.clone())
    } else {
        ctx.json_parse(input).map_err(|e| {
            let msg = failure_message(ctx, e);
            Failure::Serialization(format!("the input is not JSON: {msg}"))
        })?
    };
    let result: Value = entry.call((arg,)).map_err(|e| caught(ctx, e, src))?;
    let result = settle(ctx, result, src, "the entry point's promise")?;
    match ctx.json_stringify(result.clone()) {
        Ok(Some(s)) => s
            .to_string()
            .map_err(|e| Failure::Serialization(e.to_string())),
        Ok(None) => Err(Failure::Serialization(if result.is_undefined() {
            "the result is undefined".into()
        } else {
            format!("the result (a {}) cannot become JSON", js_type(&result))
        })),
        Err(e) => Err(Failure::Serialization(failure_message(ctx, e))),
    }
}

/// Drives the job queue until `value` (when it is a promise) settles.
fn settle<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    src: &Source,
    what: &str,
) -> Result<Value<'js>, Failure> {
    let Some(promise) = value.as_promise().cloned() else {
        return Ok(value);
    };
    match promise.finish::<Value>() {
        Ok(v) => Ok(v),
        Err(qjs::Error::WouldBlock) => Err(Failure::Stalled(format!(
            "{what} is still pending and no job is left to run (nothing can settle it)"
        ))),
        Err(e) => Err(caught(ctx, e, src)),
    }
}

/// Whether `source` has an `export` statement (outside strings and comments):
/// then it is an ES module, else a codemode function expression.
fn has_export_statement(source: &str) -> bool {
    let b = source.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    // Brace depth inside each open template substitution `${ … }`.
    let mut templates: Vec<u32> = Vec::new();
    let mut in_template = false;
    let mut i = 0;
    let mut prev_sig = b';'; // last significant byte before the current token
    while i < b.len() {
        let c = b[i];
        if in_template {
            match c {
                b'\\' => i += 1,
                b'`' => in_template = false,
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    templates.push(0);
                    in_template = false;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            prev_sig = b')';
            continue;
        }
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                prev_sig = b')';
                continue;
            }
            b'`' => {
                in_template = true;
                i += 1;
                continue;
            }
            b'{' => {
                if let Some(d) = templates.last_mut() {
                    *d += 1;
                }
            }
            b'}' => match templates.last_mut() {
                Some(0) => {
                    templates.pop();
                    in_template = true;
                    i += 1;
                    continue;
                }
                Some(d) => *d -= 1,
                None => {}
            },
            _ if is_ident(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                if &b[start..i] == b"export" && prev_sig != b'.' {
                    let next = b[i..].iter().copied().find(|c| !c.is_ascii_whitespace());
                    if matches!(next, Some(b'{' | b'*'))
                        || next.is_some_and(|n| n.is_ascii_alphabetic())
                    {
                        return true;
                    }
                }
                prev_sig = b'a';
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            prev_sig = c;
        }
        i += 1;
    }
    false
}
