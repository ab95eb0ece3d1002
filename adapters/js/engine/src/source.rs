//! Source handling: the entry conventions (an ES module, a codemode
//! function expression compiled inside a wrapper module, or a script whose
//! completion value is the result), loading a script and finding its entry
//! point, and calling that with JSON in and out. What scripts see is
//! described in the crate doc, under "Entry conventions".

use rquickjs::context::EvalOptions;
use rquickjs::{self as qjs, Ctx, Function, Module, Persistent, Value};

use crate::Failure;
use crate::capabilities::js_type;
use crate::positions::{Source, caught, compile_failure, failure_message, position_of};
use crate::scan::{Start, has_export_statement, start_of};

/// The first line of a codemode script; the source follows on the same line.
const CODEMODE_PREFIX: &str = "import * as kv from 'warden:plugin/kv'; \
    import { log } from 'warden:plugin/log'; import { call } from 'warden:plugin/host'; \
    import { emit } from 'warden:plugin/events'; export default (";
const CODEMODE_SUFFIX: &str = "\n);";

/// A script's entry point, or the script to run, and what is needed to
/// report its errors.
pub(crate) struct Loaded {
    entry: Entry,
    source: Source,
}

enum Entry {
    /// A module's (or codemode's) function.
    Function(Persistent<Function<'static>>),
    /// A script, run at each call: the text as compiled (in a block).
    Script(String),
}

/// What a script's text is wrapped in: a block, so its `let`/`const` are
/// the run's own (an instance may run it again) and its completion value is
/// the block's. On line 1, like the codemode wrapper.
const SCRIPT_PREFIX: &str = "{";
const SCRIPT_SUFFIX: &str = "\n}";

/// The module that puts the capability functions in a script's globals.
const SCRIPT_GLOBALS: &str = "import * as kv from 'warden:plugin/kv'; \
    import { log } from 'warden:plugin/log'; import { call } from 'warden:plugin/host'; \
    import { emit } from 'warden:plugin/events'; \
    Object.assign(globalThis, { kv, log, call, emit });";

/// Compiles and evaluates `source` as the module `name` and finds its entry
/// (a script is compiled to check it, and runs at each call).
pub(crate) fn load<'js>(ctx: &Ctx<'js>, module: String, source: &str) -> Result<Loaded, Failure> {
    if has_export_statement(source) {
        return load_module(ctx, module, source, false);
    }
    match start_of(source) {
        Start::Arrow => load_module(ctx, module, source, true),
        Start::Other => load_script(ctx, module, source),
        // A function expression, or a script that declares a function and
        // goes on (`function fib(n) {…}\nfib(20);`): whichever compiles.
        // When neither does, the error that came later in the source is
        // the one about what the author meant.
        Start::Function => match load_module(ctx, module.clone(), source, true) {
            Ok(loaded) => Ok(loaded),
            Err(as_function) => match load_script(ctx, module, source) {
                Ok(loaded) => Ok(loaded),
                Err(as_script) => Err(later(as_function, as_script)),
            },
        },
    }
}

/// Of two compile failures, the one whose position is later.
fn later(a: Failure, b: Failure) -> Failure {
    let at = |f: &Failure| match f {
        Failure::Compile(m) => position_of(m),
        _ => None,
    };
    match (at(&a), at(&b)) {
        (Some(pa), Some(pb)) if pb > pa => b,
        (None, Some(_)) => b,
        _ => a,
    }
}

/// Compiles `source` as a script (checked, not run) and installs the
/// capability globals scripts use.
fn load_script(ctx: &Ctx<'_>, module: String, source: &str) -> Result<Loaded, Failure> {
    let src = Source {
        module,
        shift: SCRIPT_PREFIX.len(),
        text: source.to_owned(),
    };
    let text = format!("{SCRIPT_PREFIX}{source}{SCRIPT_SUFFIX}");
    compile_only(ctx, &text, &src)?;
    install_script_globals(ctx)?;
    Ok(Loaded {
        entry: Entry::Script(text),
        source: src,
    })
}

/// Compile `text` as a global script without running it.
fn compile_only(ctx: &Ctx<'_>, text: &str, src: &Source) -> Result<(), Failure> {
    let code = std::ffi::CString::new(text)
        .map_err(|_| Failure::Compile("the source contains a NUL character".into()))?;
    let file = std::ffi::CString::new(src.module.as_str())
        .map_err(|_| Failure::Compile("the module name contains a NUL character".into()))?;
    let flags = (qjs::qjs::JS_EVAL_TYPE_GLOBAL | qjs::qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
    // SAFETY: `code` is NUL-terminated and `text.len()` long, `file` is
    // NUL-terminated, and the context is live for `ctx`'s lifetime; the
    // returned value (a compiled function or the exception marker) is
    // owned by `Value`, which frees it.
    let compiled = unsafe {
        let raw = qjs::qjs::JS_Eval(
            ctx.as_raw().as_ptr(),
            code.as_ptr(),
            text.len() as _,
            file.as_ptr(),
            flags,
        );
        Value::from_raw(ctx.clone(), raw)
    };
    if compiled.is_exception() {
        return Err(compile_failure(ctx, qjs::Error::Exception, src));
    }
    Ok(())
}

fn install_script_globals(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let installed: bool = ctx
        .globals()
        .get::<_, Option<Value>>("kv")
        .ok()
        .flatten()
        .is_some_and(|v| v.is_object());
    if installed {
        return Ok(());
    }
    let src = Source {
        module: "warden-script-globals.js".into(),
        shift: 0,
        text: SCRIPT_GLOBALS.into(),
    };
    let declared = Module::declare(ctx.clone(), src.module.as_str(), SCRIPT_GLOBALS)
        .map_err(|e| compile_failure(ctx, e, &src))?;
    let (_, promise) = declared.eval().map_err(|e| caught(ctx, e, &src))?;
    settle(ctx, promise.into_value(), &src, "installing the script globals")?;
    Ok(())
}

/// Compiles and evaluates an ES module (or the codemode wrapper around a
/// function expression) and finds its entry.
fn load_module<'js>(
    ctx: &Ctx<'js>,
    module: String,
    source: &str,
    codemode: bool,
) -> Result<Loaded, Failure> {
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
        entry: Entry::Function(Persistent::save(ctx, entry)),
        source: src,
    })
}

/// `JSON.parse(input)` -> entry -> settle -> `JSON.stringify`. A script
/// runs with the input as the global `input`; its completion value is the
/// result (called with the input when it is a function; `undefined` is
/// `null`).
pub(crate) fn call_entry(ctx: &Ctx<'_>, loaded: &Loaded, input: &str) -> Result<String, Failure> {
    let src = &loaded.source;
    let arg = if input.trim().is_empty() {
        Value::new_null(ctx.clone())
    } else {
        ctx.json_parse(input).map_err(|e| {
            let msg = failure_message(ctx, e);
            Failure::Serialization(format!("the input is not JSON: {msg}"))
        })?
    };
    let result: Value = match &loaded.entry {
        Entry::Function(entry) => {
            let entry = entry
                .clone()
                .restore(ctx)
                .map_err(|e| Failure::Thrown(e.to_string()))?;
            entry.call((arg,)).map_err(|e| caught(ctx, e, src))?
        }
        Entry::Script(text) => {
            ctx.globals()
                .set("input", arg.clone())
                .map_err(|e| caught(ctx, e, src))?;
            let mut options = EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.backtrace_barrier = true;
            options.filename = Some(src.module.clone());
            let value: Value = ctx
                .eval_with_options(text.as_str(), options)
                .map_err(|e| caught(ctx, e, src))?;
            match value.as_function() {
                Some(f) => f.call((arg,)).map_err(|e| caught(ctx, e, src))?,
                None if value.is_undefined() => Value::new_null(ctx.clone()),
                None => value,
            }
        }
    };
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

