//! The capability modules (`warden:plugin/log`, `warden:plugin/kv`,
//! `warden:plugin/host`, `warden:plugin/events`), the error classes a WIT
//! `error` becomes (`CapabilityDenied`, `LimitExceeded`, `InvalidArgument`,
//! `HostError`), `console`, and the value formatting and JSON conversion they
//! share. [`install`] puts them, and a `Math.random` seeded on first use, into
//! a new context. What scripts see is described in the crate doc, under
//! "Capability modules".

use std::cell::OnceCell;

use rquickjs::{
    self as qjs, Array, ArrayBuffer, Coerced, Constructor, Ctx, Exception, Function, Module,
    Object, Persistent, Promise, TypedArray, Value,
    module::{Declarations, Exports, ModuleDef},
    prelude::{Opt, Rest},
};

use crate::warden::plugin::{events, host, kv, log, types};

const ERROR_CLASSES: [&str; 4] = [
    "CapabilityDenied",
    "LimitExceeded",
    "InvalidArgument",
    "HostError",
];

/// How the error classes are made (evaluated once, as a script).
const ERROR_CLASSES_JS: &str = r#"(() => {
  const classes = {};
  for (const name of ["CapabilityDenied", "LimitExceeded", "InvalidArgument", "HostError"]) {
    const C = ({ [name]: class extends Error {} })[name];
    Object.defineProperty(C.prototype, "name", { value: name, writable: true, configurable: true });
    Object.defineProperty(globalThis, name, { value: C, writable: true, configurable: true });
    classes[name] = C;
  }
  return classes;
})()"#;

thread_local! {
    /// The error classes, outside `ENGINE` because capability modules need them
    /// while the engine is being made.
    static CLASSES: OnceCell<Persistent<Object<'static>>> = const { OnceCell::new() };
}

/// `Math.random`, error classes, `console`, and the capability modules (declared
/// and evaluated, so they are part of the snapshot).
pub(crate) fn install<'js>(ctx: &Ctx<'js>) -> qjs::Result<()> {
    // QuickJS seeds its own generator when the context is made, which would be
    // in the snapshot; fastrand seeds itself on first use, in each instance.
    let math: Object = ctx.globals().get("Math")?;
    math.set(
        "random",
        Function::new(ctx.clone(), fastrand::f64)?.with_name("random")?,
    )?;

    let mut options = qjs::context::EvalOptions::default();
    options.filename = Some("warden:errors".into());
    let classes: Object = ctx.eval_with_options(ERROR_CLASSES_JS, options)?;
    CLASSES.with(|c| {
        let _ = c.set(Persistent::save(ctx, classes));
    });

    let console = Object::new(ctx.clone())?;
    for (name, level) in [
        ("log", log::Level::Info),
        ("info", log::Level::Info),
        ("debug", log::Level::Debug),
        ("warn", log::Level::Warn),
        ("error", log::Level::Error),
    ] {
        let f = Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
            console_line(&ctx, level, args)
        })?
        .with_name(name)?;
        console.set(name, f)?;
    }
    ctx.globals().set("console", console)?;

    for (name, promise) in [
        (
            "warden:plugin/log",
            Module::evaluate_def::<LogModule, _>(ctx.clone(), "warden:plugin/log")?.1,
        ),
        (
            "warden:plugin/kv",
            Module::evaluate_def::<KvModule, _>(ctx.clone(), "warden:plugin/kv")?.1,
        ),
        (
            "warden:plugin/host",
            Module::evaluate_def::<HostModule, _>(ctx.clone(), "warden:plugin/host")?.1,
        ),
        (
            "warden:plugin/events",
            Module::evaluate_def::<EventsModule, _>(ctx.clone(), "warden:plugin/events")?.1,
        ),
    ] {
        promise
            .finish::<Value>()
            .map_err(|_| qjs::Error::new_from_js_message("module", name, "evaluation failed"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Values

/// Formats a value like `console.log` does for one argument.
pub(crate) fn format_value<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    if let Some(exc) = value.as_exception() {
        let name: String = exc
            .get::<_, Coerced<String>>("name")
            .map(|c| c.0)
            .unwrap_or_else(|_| "Error".into());
        let message = exc.message().unwrap_or_default();
        return if message.is_empty() {
            name
        } else {
            format!("{name}: {message}")
        };
    }
    if !value.is_function() && !value.is_symbol() && !value.is_undefined() {
        match ctx.json_stringify(value.clone()) {
            Ok(Some(s)) => return s.to_string().unwrap_or_default(),
            Ok(None) => {}
            Err(_) => {
                let _ = ctx.catch();
            }
        }
    }
    match value.get::<Coerced<String>>() {
        Ok(s) => s.0,
        Err(_) => {
            let _ = ctx.catch();
            format!("[{}]", js_type(&value))
        }
    }
}

/// `typeof value`, with `null` and `array` told apart.
pub(crate) fn js_type(value: &Value<'_>) -> &'static str {
    use qjs::Type;
    match value.type_of() {
        Type::Uninitialized | Type::Undefined => "undefined",
        Type::Null => "null",
        Type::Bool => "boolean",
        Type::Int | Type::Float => "number",
        Type::String => "string",
        Type::Symbol => "symbol",
        Type::BigInt => "bigint",
        Type::Array => "array",
        Type::Function | Type::Constructor => "function",
        Type::Promise => "promise",
        Type::Exception => "error",
        _ => "object",
    }
}

/// `JSON.stringify(value)`, with `undefined` as `null`.
fn to_json<'js>(ctx: &Ctx<'js>, value: Option<Value<'js>>) -> qjs::Result<String> {
    match value {
        None => Ok("null".into()),
        Some(v) => Ok(match ctx.json_stringify(v)? {
            Some(s) => s.to_string()?,
            None => "null".into(),
        }),
    }
}

/// The error class `name` (one of `ERROR_CLASSES`).
pub(crate) fn class<'js>(ctx: &Ctx<'js>, name: &str) -> Option<Constructor<'js>> {
    let classes = CLASSES.with(|c| c.get().cloned())?;
    classes.restore(ctx).ok()?.get(name).ok()
}

/// Throws the JS error for a WIT `error`.
fn throw_wit(ctx: &Ctx<'_>, e: types::Error) -> qjs::Error {
    let (name, message) = match e {
        types::Error::Denied(m) => ("CapabilityDenied", m),
        types::Error::LimitExceeded(m) => ("LimitExceeded", m),
        types::Error::Invalid(m) => ("InvalidArgument", m),
        types::Error::Failed(m) => ("HostError", m),
    };
    match new_error(ctx, name, &message) {
        Ok(err) => ctx.throw(err.into_value()),
        Err(e) => e,
    }
}

/// An instance of the error class `name`, made natively (an `Error` given the
/// class's prototype) so its stack starts at the script's own frames.
fn new_error<'js>(ctx: &Ctx<'js>, name: &str, message: &str) -> qjs::Result<Object<'js>> {
    let err = Exception::from_message(ctx.clone(), message)?.into_object();
    if let Some(class) = class(ctx, name) {
        let proto: Object = class.get("prototype")?;
        err.set_prototype(Some(&proto))?;
    }
    Ok(err)
}

// ---------------------------------------------------------------------------
// console

fn console_line<'js>(ctx: &Ctx<'js>, level: log::Level, args: Rest<Value<'js>>) -> qjs::Result<()> {
    let mut line = String::new();
    for (i, arg) in args.0.into_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(&format_value(ctx, arg));
    }
    // Not granted (or over a cap): the line is dropped.
    let _ = log::log(level, &line);
    Ok(())
}

// ---------------------------------------------------------------------------
// Capability modules

fn declare_with_classes(decl: &Declarations<'_>, names: &[&str]) -> qjs::Result<()> {
    for name in names.iter().chain(ERROR_CLASSES.iter()) {
        decl.declare(*name)?;
    }
    Ok(())
}

fn export_fn<'js, F, P>(ctx: &Ctx<'js>, exports: &Exports<'js>, name: &str, f: F) -> qjs::Result<()>
where
    F: qjs::function::IntoJsFunc<'js, P> + 'js,
{
    exports.export(name, Function::new(ctx.clone(), f)?.with_name(name)?)?;
    Ok(())
}

fn export_classes<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> qjs::Result<()> {
    for name in ERROR_CLASSES {
        let c = class(ctx, name).ok_or_else(|| {
            qjs::Error::new_from_js_message("undefined", name, "missing error class")
        })?;
        exports.export(name, c)?;
    }
    Ok(())
}

struct LogModule;

impl ModuleDef for LogModule {
    fn declare(decl: &Declarations<'_>) -> qjs::Result<()> {
        declare_with_classes(decl, &["log"])
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> qjs::Result<()> {
        export_fn(
            ctx,
            exports,
            "log",
            |ctx: Ctx<'js>, level: String, message: Value<'js>| {
                let level = match level.as_str() {
                    "trace" => log::Level::Trace,
                    "debug" => log::Level::Debug,
                    "info" => log::Level::Info,
                    "warn" => log::Level::Warn,
                    "error" => log::Level::Error,
                    other => {
                        return Err(Exception::throw_type(
                            &ctx,
                            &format!(
                                "unknown log level '{other}' (trace, debug, info, warn, error)"
                            ),
                        ));
                    }
                };
                log::log(level, &format_value(&ctx, message)).map_err(|e| throw_wit(&ctx, e))
            },
        )?;
        export_classes(ctx, exports)
    }
}

struct KvModule;

impl ModuleDef for KvModule {
    fn declare(decl: &Declarations<'_>) -> qjs::Result<()> {
        declare_with_classes(decl, &["get", "getBytes", "set", "del", "listKeys"])
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> qjs::Result<()> {
        export_fn(
            ctx,
            exports,
            "get",
            |ctx: Ctx<'js>, key: Coerced<String>| -> qjs::Result<Value<'js>> {
                match kv::get(&key.0).map_err(|e| throw_wit(&ctx, e))? {
                    Some(bytes) => {
                        let text = match String::from_utf8(bytes) {
                            Ok(s) => s,
                            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        };
                        Ok(qjs::String::from_str(ctx.clone(), &text)?.into_value())
                    }
                    None => Ok(Value::new_null(ctx.clone())),
                }
            },
        )?;
        export_fn(
            ctx,
            exports,
            "getBytes",
            |ctx: Ctx<'js>, key: Coerced<String>| -> qjs::Result<Value<'js>> {
                match kv::get(&key.0).map_err(|e| throw_wit(&ctx, e))? {
                    Some(bytes) => Ok(TypedArray::<u8>::new(ctx.clone(), bytes)?.into_value()),
                    None => Ok(Value::new_null(ctx.clone())),
                }
            },
        )?;
        export_fn(
            ctx,
            exports,
            "set",
            |ctx: Ctx<'js>, key: Coerced<String>, value: Value<'js>| {
                let result = if let Some(s) = value.as_string() {
                    kv::set(&key.0, s.to_string()?.as_bytes())
                } else if let Ok(arr) = TypedArray::<u8>::from_value(value.clone()) {
                    // SAFETY: no JS runs while the bytes are borrowed (kv::set is a host call).
                    kv::set(&key.0, unsafe { arr.as_bytes() }.unwrap_or_default())
                } else if let Some(buf) = ArrayBuffer::from_value(value.clone()) {
                    // SAFETY: as above.
                    kv::set(&key.0, unsafe { buf.as_bytes() }.unwrap_or_default())
                } else {
                    return Err(Exception::throw_type(
                        &ctx,
                        &format!(
                            "kv set: the value must be a string or a Uint8Array, not {}",
                            js_type(&value)
                        ),
                    ));
                };
                result.map_err(|e| throw_wit(&ctx, e))
            },
        )?;
        export_fn(
            ctx,
            exports,
            "del",
            |ctx: Ctx<'js>, key: Coerced<String>| {
                kv::delete(&key.0).map_err(|e| throw_wit(&ctx, e))
            },
        )?;
        export_fn(
            ctx,
            exports,
            "listKeys",
            |ctx: Ctx<'js>, prefix: Opt<Coerced<String>>| -> qjs::Result<Array<'js>> {
                let keys = kv::list_keys(prefix.0.as_ref().map_or("", |p| p.0.as_str()))
                    .map_err(|e| throw_wit(&ctx, e))?;
                let arr = Array::new(ctx.clone())?;
                for (i, k) in keys.into_iter().enumerate() {
                    arr.set(i, k)?;
                }
                Ok(arr)
            },
        )?;
        export_classes(ctx, exports)
    }
}

struct HostModule;

impl ModuleDef for HostModule {
    fn declare(decl: &Declarations<'_>) -> qjs::Result<()> {
        declare_with_classes(decl, &["call"])
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> qjs::Result<()> {
        export_fn(
            ctx,
            exports,
            "call",
            |ctx: Ctx<'js>, name: Coerced<String>, args: Opt<Value<'js>>| {
                let (promise, resolve, reject) = ctx.promise()?;
                let outcome =
                    to_json(&ctx, args.0).and_then(|json| match host::call(&name.0, &json) {
                        Ok(out) => ctx.json_parse(out),
                        Err(e) => Err(throw_wit(&ctx, e)),
                    });
                match outcome {
                    Ok(v) => resolve.call::<_, ()>((v,))?,
                    Err(e) if e.is_exception() => reject.call::<_, ()>((ctx.catch(),))?,
                    Err(e) => return Err(e),
                }
                Ok::<Promise<'js>, qjs::Error>(promise)
            },
        )?;
        export_classes(ctx, exports)
    }
}

struct EventsModule;

impl ModuleDef for EventsModule {
    fn declare(decl: &Declarations<'_>) -> qjs::Result<()> {
        declare_with_classes(decl, &["emit"])
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> qjs::Result<()> {
        export_fn(
            ctx,
            exports,
            "emit",
            |ctx: Ctx<'js>, topic: Coerced<String>, payload: Opt<Value<'js>>| {
                let json = to_json(&ctx, payload.0)?;
                events::emit(&topic.0, &json).map_err(|e| throw_wit(&ctx, e))
            },
        )?;
        export_classes(ctx, exports)
    }
}
