//! warden's JavaScript engine: QuickJS-ng (through `rquickjs` 0.14) behind the
//! WIT world `warden:plugin/script-engine`.
//!
//! Why not the `javy` crate: javy 8.1 pins rquickjs 0.12, i.e. QuickJS-ng 0.15.1,
//! whose parser reports a stale column for every SyntaxError (quickjs-ng PR
//! #1582) and whose stack frames give the wrong line for common runtime errors:
//! a ReferenceError to an undefined global points at the start of the enclosing
//! function, a property read of `undefined` at the previous call's line (quickjs-ng
//! PR #1585 and related). rquickjs 0.14 ships QuickJS-ng 0.16.2, which has those
//! fixes, and prebuilt wasm32-wasip2 bindings. What javy added on top of rquickjs
//! (a configured runtime, a `Math.random` seeded at first use so a wizer snapshot
//! does not fix the sequence) is a few lines here.
//!
//! # Entry conventions
//!
//! A script (the baked-in plugin given to `wizer-initialize`, or a snippet given
//! to `script.eval`) is one of:
//!
//! a. **An ES module** (detected when the source contains an `export`
//!    statement): its entry point is the exported function `run`
//!    (`export function run(input) {…}`, `export async function run(input) {…}`),
//!    or else its default export when that is a function
//!    (`export default function (input) {…}`). Capabilities are imported:
//!    `import { get, set } from 'warden:plugin/kv'`.
//! b. **"codemode"**: the whole source is one function expression, such as
//!    `async (input) => { … }` or `(input) => input.x * 2`. It is compiled as
//!    the module `import * as kv from 'warden:plugin/kv'; import { log } from
//!    'warden:plugin/log'; import { call } from 'warden:plugin/host'; import
//!    { emit } from 'warden:plugin/events'; export default (<source>\n);`,
//!    the wrapper sharing the source's first line, so `kv`, `log`, `call` and
//!    `emit` are in scope and line numbers are the source's own. Trailing
//!    semicolons are dropped (`(i) => i.x;` works).
//! c. **A script whose completion value is the result**, as runtime
//!    controllers' READMEs show it (`function fibonacci(n) {…}\nfibonacci(20);`
//!    gives 6765; `[1, 2, 3].map(x => x * 2)` gives `[2, 4, 6]`). It runs at
//!    each call, in sloppy mode, inside a block (so its `let`/`const` are the
//!    run's own and it can run again in the same instance), with the input
//!    as the global `input` and `kv`, `log`, `call`, `emit` as globals. Its
//!    completion value is the result: a function is called with the input,
//!    a promise is settled, `undefined` (a script that ends in a
//!    declaration or a `console.log`) is `null`. No `import`, no top-level
//!    `await` (use an `async` function and end with its call).
//!
//! Which one a source is, is decided before anything runs: an `export`
//! statement (outside strings and comments) makes a module; a source that
//! starts as an arrow function (`(…) =>`, `x =>`, with or without `async`)
//! is codemode; one that starts with `function` or `async function` is
//! codemode when the whole source is that one function expression, else a
//! script (when neither compiles, the error further into the source is
//! reported); anything else is a script.
//!
//! Positions in compile errors and in the stacks of errors that escape are the
//! source's own: 1-based line and 1-based column in characters (QuickJS counts
//! UTF-8 bytes; the codemode wrapper is subtracted on line 1). A stack read by
//! the script itself (`e.stack`) is QuickJS's, unconverted. The baked-in plugin
//! is the module `plugin.js`; snippets are `snippet.js`, then `snippet-2.js`, …
//! in one instance. A link error (an unknown module, a missing export) is a
//! `compile` error without a position.
//!
//! The entry is called with `JSON.parse(input)` (an empty input is `null`). When
//! it returns a promise, the QuickJS job queue is run until it settles; a
//! promise still pending once the queue is empty is "stalled". The result goes
//! through `JSON.stringify`.
//!
//! # Capability modules
//!
//! - `warden:plugin/log`: `log(level, message)`, level one of
//!   `'trace' | 'debug' | 'info' | 'warn' | 'error'`.
//! - `warden:plugin/kv`: `get(key) -> string | null` (UTF-8, invalid sequences
//!   replaced by U+FFFD), `getBytes(key) -> Uint8Array | null`,
//!   `set(key, value: string | Uint8Array | ArrayBuffer)`, `del(key) -> boolean`,
//!   `listKeys(prefix = '') -> string[]`.
//! - `warden:plugin/host`: `call(name, args) -> Promise<any>` (args are
//!   `JSON.stringify`'d, `undefined` as `null`; the result is `JSON.parse`'d; the
//!   import is synchronous, so the promise is already settled).
//! - `warden:plugin/events`: `emit(topic, payload)` (payload `JSON.stringify`'d).
//!
//! A WIT `error` becomes a thrown (or, from `call`, rejected) instance of
//! `CapabilityDenied` (denied), `LimitExceeded` (limit-exceeded),
//! `InvalidArgument` (invalid) or `HostError` (failed), subclasses of `Error`
//! whose `name` is the class name and whose `message` is the WIT payload. Every
//! capability module exports the four classes; they are globals too.
//!
//! `console.log/info/debug/warn/error` log through the log capability (levels
//! info/info/debug/warn/error); arguments are formatted like Node (strings as
//! they are, errors as `Name: message`, others `JSON.stringify`'d or `String()`'d,
//! joined by spaces); a line the log capability refuses is dropped.
//!
//! # Errors
//!
//! `script.eval` returns the typed `script-error`; `run` returns a string with
//! the kind as prefix: `compile: <message> at <line>:<col>`, `thrown: <Name:
//! message>\n<stack>`, `denied: <message>` (a `CapabilityDenied` escaped the
//! entry point), `serialization: …` (the result, or the input, is not JSON),
//! `stalled: …`, and `no plugin: …` when nothing was baked in.
//!
//! # Pre-initialization
//!
//! The QuickJS runtime and context live in a `thread_local` created on first
//! use by any export, so the wizer snapshot taken after `wizer-initialize`
//! contains the runtime, the capability modules and the compiled plugin, and a
//! component that was never pre-initialized works the same, only slower.
//! Top-level code of a baked plugin runs under the pre-initialization policy:
//! capability calls there fail (a `CapabilityDenied` makes `wizer-initialize`
//! fail with `denied`), `console` lines are dropped, and it should not call
//! `Math.random` (the generator would be seeded in the snapshot).
//!
//! # Limits
//!
//! - Deep recursion traps (`call stack exhausted`) instead of throwing a
//!   RangeError: QuickJS-ng turns its stack check off on WASI.
//! - Each `script.eval` keeps its module in the runtime (QuickJS cannot unload
//!   one), so an instance reused for many snippets grows a little each time.
//! - Time, memory and fuel limits are the host's (wasmtime); they stop the
//!   instance, not the script.

wit_bindgen::generate!({ world: "script-engine", path: "../../../wit" });

mod capabilities;
mod positions;
mod scan;
mod source;

use std::cell::{Cell, OnceCell, RefCell};

// `script.eval` and `wizer-initialize` both return `types.script-error` (a
// type-only import, so the component imports nothing it does not call).
use exports::warden::plugin::script::Guest as ScriptGuest;
use rquickjs::{self as qjs, Ctx};
use warden::plugin::types::ScriptError as InitError;
use warden::plugin::types::ScriptError as EvalError;

use crate::capabilities::install;
use crate::positions::describe_value;
use crate::source::{Loaded, call_entry, load};

/// The module name of the baked-in plugin.
const PLUGIN_MODULE: &str = "plugin.js";
/// The module name of the first snippet; later ones are `snippet-<n>.js`.
const SNIPPET_MODULE: &str = "snippet";

thread_local! {
    static ENGINE: OnceCell<Engine> = const { OnceCell::new() };
}

struct Engine {
    /// Kept alive for the context (never dropped: the instance's memory goes away whole).
    _runtime: qjs::Runtime,
    context: qjs::Context,
    /// The baked-in plugin's entry point (set by `wizer-initialize`).
    plugin: RefCell<Option<Loaded>>,
    /// How many snippets were evaluated by this instance.
    snippets: Cell<u32>,
}

/// What went wrong, by `script-error` kind.
#[derive(Debug)]
enum Failure {
    Compile(String),
    Thrown(String),
    Denied(String),
    Serialization(String),
    Stalled(String),
    NoPlugin,
}

macro_rules! from_failure {
    ($t:ty) => {
        impl From<Failure> for $t {
            fn from(f: Failure) -> Self {
                match f {
                    Failure::Compile(m) => Self::Compile(m),
                    Failure::Thrown(m) => Self::Thrown(m),
                    Failure::Denied(m) => Self::Denied(m),
                    Failure::Serialization(m) => Self::Serialization(m),
                    Failure::Stalled(m) => Self::Stalled(m),
                    Failure::NoPlugin => Self::Compile(no_plugin_message().into()),
                }
            }
        }
    };
}
from_failure!(InitError);

impl Failure {
    /// The `run` export's error text: the kind, a colon, the message.
    fn into_run_error(self) -> String {
        match self {
            Failure::Compile(m) => format!("compile: {m}"),
            Failure::Thrown(m) => format!("thrown: {m}"),
            Failure::Denied(m) => format!("denied: {m}"),
            Failure::Serialization(m) => format!("serialization: {m}"),
            Failure::Stalled(m) => format!("stalled: {m}"),
            Failure::NoPlugin => format!("no plugin: {}", no_plugin_message()),
        }
    }
}

fn no_plugin_message() -> &'static str {
    "this engine has no baked-in script; use script.eval"
}

// ---------------------------------------------------------------------------
// The runtime

/// Runs `f` with the engine (made on first use) inside its context, then runs
/// what the script left queued (un-awaited promise chains), so that it does not
/// leak into the next call.
fn with_engine<R>(f: impl for<'js> FnOnce(&Engine, &Ctx<'js>) -> R) -> R {
    ENGINE.with(|cell| {
        let engine = cell.get_or_init(Engine::new);
        engine.context.with(|ctx| {
            let result = f(engine, &ctx);
            while ctx.execute_pending_job() {}
            let _ = ctx.catch();
            result
        })
    })
}

impl Engine {
    fn new() -> Engine {
        let runtime = qjs::Runtime::new().expect("the QuickJS runtime starts");
        // Collect reference cycles now and then; the memory limit is the host's.
        runtime.set_gc_threshold(4 << 20);
        let context = qjs::Context::full(&runtime).expect("the QuickJS context starts");
        context
            .with(|ctx| install(&ctx).map_err(|e| describe_init_error(&ctx, e)))
            .expect("the warden globals and modules install");
        Engine {
            _runtime: runtime,
            context,
            plugin: RefCell::new(None),
            snippets: Cell::new(0),
        }
    }

    fn next_snippet_name(&self) -> String {
        let n = self.snippets.get() + 1;
        self.snippets.set(n);
        if n == 1 {
            format!("{SNIPPET_MODULE}.js")
        } else {
            format!("{SNIPPET_MODULE}-{n}.js")
        }
    }
}

fn describe_init_error(ctx: &Ctx<'_>, e: qjs::Error) -> String {
    if e.is_exception() {
        format!("{:?}", describe_value(ctx, ctx.catch()))
    } else {
        e.to_string()
    }
}

// ---------------------------------------------------------------------------
// Exports

struct Component;

impl Guest for Component {
    fn run(input: String) -> Result<String, String> {
        with_engine(|engine, ctx| {
            let plugin = engine.plugin.borrow();
            let loaded = plugin.as_ref().ok_or(Failure::NoPlugin)?;
            call_entry(ctx, loaded, &input)
        })
        .map_err(Failure::into_run_error)
    }

    fn wizer_initialize(source: String) -> Result<(), InitError> {
        with_engine(|engine, ctx| -> Result<(), Failure> {
            if !source.is_empty() {
                let loaded = load(ctx, PLUGIN_MODULE.into(), &source)?;
                *engine.plugin.borrow_mut() = Some(loaded);
            }
            Ok(())
        })
        .map_err(InitError::from)
    }
}

impl ScriptGuest for Component {
    fn eval(source: String, input: String) -> Result<String, EvalError> {
        with_engine(|engine, ctx| {
            let loaded = load(ctx, engine.next_snippet_name(), &source)?;
            call_entry(ctx, &loaded, &input)
        })
        .map_err(EvalError::from)
    }
}

export!(Component);
