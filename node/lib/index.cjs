'use strict';
// @warden/node: the whole warden host in your Node process. This file only
// converts: JS values to warden-api's JSON and back. Every decision (the
// policy lowering, the ceiling, scheduling, limits) is made in Rust.

const { readFile } = require('node:fs/promises');
const native = require('./native.cjs');

const LANGUAGES = new Map([
  ['js', 'js'], ['javascript', 'js'], ['ts', 'ts'], ['typescript', 'ts'],
  ['python', 'python'], ['py', 'python'], ['rust', 'rust'], ['rs', 'rust'],
  ['c', 'c'], ['ebpf', 'c'], ['wasm', 'wasm'],
]);

/** An error with warden's stable code (`CAPABILITY_DENIED`, `TIMEOUT`, …). */
class WardenError extends Error {
  constructor(body) {
    super(body.message);
    this.name = 'WardenError';
    this.code = body.code;
    this.details = body.details ?? {};
  }
}

/** Turn a native error (its message is `WARDEN:<ErrorBody JSON>`) into a WardenError or TypeError. */
function rethrow(e) {
  const message = String(e?.message ?? e);
  if (message.startsWith('WARDEN:')) {
    throw new WardenError(JSON.parse(message.slice('WARDEN:'.length)));
  }
  if (e?.code === 'InvalidArg') {
    throw new TypeError(message);
  }
  throw e;
}

async function call(promiseOrValue) {
  try {
    return await promiseOrValue;
  } catch (e) {
    return rethrow(e);
  }
}

function language(value, what = 'language') {
  const lang = LANGUAGES.get(String(value).toLowerCase());
  if (!lang) {
    throw new TypeError(
      `${what}: unknown language ${JSON.stringify(value)} (known: js, ts, python, rust, c, wasm)`,
    );
  }
  return lang;
}

function jsonText(value, what) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (e) {
    throw new TypeError(`${what}: not JSON-serializable (${e.message})`);
  }
  if (text === undefined) throw new TypeError(`${what}: not JSON-serializable`);
  return text;
}

function codeArg(code) {
  if (typeof code === 'string') return code;
  if (code instanceof Uint8Array) return Buffer.from(code.buffer, code.byteOffset, code.byteLength);
  throw new TypeError('code: expected a string (source) or a Uint8Array (component or object bytes)');
}

function blobText(blob) {
  if (blob == null) return '';
  if (typeof blob === 'string') return blob;
  return Buffer.from(blob.base64, 'base64').toString('utf8');
}

/** The wire report as the JS-friendly Execution. */
function execution(reportJson) {
  const r = JSON.parse(reportJson);
  return {
    ok: r.ok,
    output: r.ok ? r.output : undefined,
    error: r.error ?? undefined,
    runtime: r.runtime ?? undefined,
    decision: r.decision ?? undefined,
    compile: r.compile ?? undefined,
    timings: { queuedUs: r.queued_us, executionUs: r.execution_us, totalUs: r.total_us },
    memoryBytes: r.memory_bytes,
    receipt: r.receipt,
    stdout: blobText(r.stdout),
    stderr: blobText(r.stderr),
    logs: r.logs ?? [],
    report: r,
  };
}

/**
 * `[names, dispatch]` for host functions given as `{ name: fn }`: the
 * dispatcher the addon calls as `(name, argsJson) => Promise<string>`
 * (`undefined` when there are none).
 */
function dispatcher(hostFunctions, what) {
  if (hostFunctions === undefined) return [undefined, undefined];
  if (hostFunctions === null || typeof hostFunctions !== 'object') {
    throw new TypeError(`${what}: expected an object of functions`);
  }
  for (const [name, fn] of Object.entries(hostFunctions)) {
    if (typeof fn !== 'function') throw new TypeError(`${what}.${name}: expected a function`);
  }
  const names = Object.keys(hostFunctions);
  if (!names.length) return [undefined, undefined];
  const dispatch = async (a, b) => {
    const [name, argsJson] = Array.isArray(a) ? a : [a, b];
    const result = await hostFunctions[name](JSON.parse(argsJson));
    return jsonText(result, `the result of host function ${name}`);
  };
  return [names, dispatch];
}

let nextAbortId = 1;

/** Run `start(abortId)` so that `signal` aborts it; `null` abortId without a signal. */
async function withSignal(signal, start) {
  if (!signal) return start(null);
  if (!(signal instanceof AbortSignal)) throw new TypeError('signal: expected an AbortSignal');
  const id = nextAbortId++;
  if (nextAbortId > 0xffff_fff0) nextAbortId = 1;
  const onAbort = () => start.abort(id);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(id);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function requestJson(req, what = 'request') {
  if (req === null || typeof req !== 'object') throw new TypeError(`${what}: expected an object`);
  const wire = {
    code: '',
    language: language(req.language, `${what}.language`),
  };
  if (req.invoke !== undefined) wire.invoke = String(req.invoke);
  else wire.input = JSON.parse(jsonText(req.input === undefined ? {} : req.input, `${what}.input`));
  if (req.config !== undefined) wire.config = req.config;
  if (req.hints !== undefined) wire.hints = req.hints;
  if (req.runtime !== undefined) wire.runtime = req.runtime;
  return JSON.stringify(wire);
}

/** Permissions of the replaced runtime controller → warden grants. */
function permissionsToGrants(permissions) {
  const grants = {};
  const problems = [];
  for (const cap of permissions?.capabilities ?? []) {
    switch (cap) {
      case 'system_time':
      case 'cpu_intensive':
      case 'memory_intensive':
        break; // clocks are always granted; CPU and memory are limits, not grants
      case 'logging':
        grants.log = true;
        break;
      case 'network_access':
        problems.push('network_access needs hosts: use config.grants.http_hosts (e.g. ["api.example.com"])');
        break;
      case 'filesystem_read':
      case 'filesystem_write':
        problems.push(`${cap} needs a directory: use config.grants.dirs ([{ host, guest, writable }])`);
        break;
      case 'environment_variables':
        problems.push('environment_variables needs names: use config.grants.env ([{ name }])');
        break;
      default:
        problems.push(`unknown capability ${JSON.stringify(cap)}`);
    }
  }
  if (problems.length) throw new TypeError(`config.permissions: ${problems.join('; ')}`);
  return grants;
}

/** The replaced controller's config shape ({ timeout, memoryLimit, permissions }) as an ExecConfig. */
function legacyConfig(config) {
  if (!config) return undefined;
  if (!('permissions' in config || 'timeout' in config || 'memoryLimit' in config)) return config;
  const { permissions, timeout, memoryLimit, ...rest } = config;
  const out = { ...rest };
  if (permissions) out.grants = { ...permissionsToGrants(permissions), ...(rest.grants ?? {}) };
  if (timeout !== undefined || memoryLimit !== undefined) {
    out.limits = { ...(rest.limits ?? {}) };
    if (timeout !== undefined) out.limits.timeout = timeout;
    if (memoryLimit !== undefined) out.limits.memory_bytes = memoryLimit;
  }
  return out;
}

class Warden {
  /** Use `Warden.create`. */
  constructor(inner) {
    this._inner = inner;
  }

  /**
   * A host and a controller with every runtime the options ask for.
   * `hostFunctions` are async JS functions a guest may call through
   * `warden:plugin/host` when its grants name them; `onEvent` receives
   * every event a guest emits, `onLog` every line a guest logs, as written.
   */
  static async create(options = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options: expected an object');
    const { hostFunctions = {}, onEvent, onLog, host, runtimes, ...unknown } = options;
    const extra = Object.keys(unknown);
    if (extra.length) {
      throw new TypeError(
        `options: unknown field(s) ${extra.join(', ')} (known: host, runtimes, hostFunctions, onEvent, onLog)`,
      );
    }
    if (onEvent !== undefined && typeof onEvent !== 'function') {
      throw new TypeError('options.onEvent: expected a function');
    }
    if (onLog !== undefined && typeof onLog !== 'function') {
      throw new TypeError('options.onLog: expected a function');
    }
    const [names, dispatch] = dispatcher(hostFunctions, 'options.hostFunctions');
    const events = onEvent
      ? (a) => {
          const json = Array.isArray(a) ? a[0] : a;
          const { topic, payload, plugin } = JSON.parse(json);
          onEvent(topic, payload, plugin);
        }
      : undefined;
    const logs = onLog
      ? (a) => {
          const { level, message, plugin } = JSON.parse(Array.isArray(a) ? a[0] : a);
          onLog(level, message, plugin);
        }
      : undefined;
    const optionsJson = JSON.stringify({
      host: host ?? {},
      runtimes: runtimes ?? {},
      host_functions: names,
    });
    return new Warden(await call(native.create(optionsJson, dispatch, events, logs)));
  }

  /** Pre-warm every runtime; resolves to the runtimes that failed to start, by name. */
  async start() {
    const results = JSON.parse(await call(this._inner.start()));
    return Object.fromEntries(results.filter(([, e]) => e).map(([name, e]) => [name, new WardenError(e)]));
  }

  /** Drain and free; later calls throw a WardenError (`UNAVAILABLE`). */
  async close() {
    await call(this._inner.close());
  }

  /** Run code once in a fresh sandbox: the Execution, whatever happened. */
  async execute(request) {
    const json = requestJson(request);
    const code = codeArg(request.code);
    const [names, dispatch] = dispatcher(request.hostFunctions, 'request.hostFunctions');
    const inner = this._inner;
    const start = (id) => inner.execute(json, code, id, dispatch, names);
    start.abort = (id) => inner.abort(id);
    return execution(await call(withSignal(request.signal, start)));
  }

  /** The replaced runtime controller's entry point, as an alias of `execute`. */
  async executeWithScheduler(code, lang, config, hints) {
    return this.execute({ code, language: lang, config: legacyConfig(config), hints });
  }

  /**
   * Run a snippet on JSON input: `{ ok: true, value }` or `{ ok: false, error }`.
   * Never throws for a guest failure; throws for misuse only.
   */
  async callJson(code, input, options = {}) {
    const e = await this.execute({
      code,
      input,
      language: options.language ?? 'ts',
      config: options.config,
      hints: options.hints,
      runtime: options.runtime,
      signal: options.signal,
      hostFunctions: options.hostFunctions,
    });
    return e.ok ? { ok: true, value: e.output, execution: e } : { ok: false, error: e.error, execution: e };
  }

  /** Compile once: `{ id, decision, compile }`. */
  async compile(code, lang, options = {}) {
    const hints = options.hints === undefined ? undefined : JSON.stringify(options.hints);
    return JSON.parse(await call(this._inner.compile(language(lang), codeArg(code), hints, options.runtime)));
  }

  /** An instance of a compiled module under a config: its id. */
  instantiate(moduleId, config) {
    try {
      return this._inner.instantiate(String(moduleId), config === undefined ? undefined : JSON.stringify(config));
    } catch (e) {
      return rethrow(e);
    }
  }

  /** Run an instance once on JSON input. */
  async executeInstance(instanceId, input) {
    return execution(await call(this._inner.executeInstance(String(instanceId), jsonText(input, 'input'))));
  }

  destroy(instanceId) {
    try {
      this._inner.destroy(String(instanceId));
    } catch (e) {
      rethrow(e);
    }
  }

  dropModule(moduleId) {
    try {
      this._inner.dropModule(String(moduleId));
    } catch (e) {
      rethrow(e);
    }
  }

  /** Submit a job: its id. */
  submit(request) {
    try {
      const [names, dispatch] = dispatcher(request.hostFunctions, 'request.hostFunctions');
      return this._inner.submit(requestJson(request), codeArg(request.code), dispatch, names);
    } catch (e) {
      return rethrow(e);
    }
  }

  /** A job's status. */
  job(id) {
    try {
      return jobStatus(this._inner.job(String(id)));
    } catch (e) {
      return rethrow(e);
    }
  }

  /** Wait until a job ends. */
  async wait(id) {
    return jobStatus(await call(this._inner.wait(String(id))));
  }

  /** Cancel a job: its state afterwards. */
  cancel(id) {
    try {
      return JSON.parse(this._inner.cancel(String(id)));
    } catch (e) {
      return rethrow(e);
    }
  }

  /** Every runtime with its health. */
  async runtimes() {
    return JSON.parse(await call(this._inner.runtimes()));
  }

  async startRuntime(name) {
    await call(this._inner.startRuntime(String(name)));
  }

  async stopRuntime(name) {
    await call(this._inner.stopRuntime(String(name)));
  }

  /** Counters and gauges. */
  metrics() {
    try {
      return JSON.parse(this._inner.metrics());
    } catch (e) {
      return rethrow(e);
    }
  }

  /** The metrics in Prometheus' text format. */
  prometheus() {
    try {
      return this._inner.prometheus();
    } catch (e) {
      return rethrow(e);
    }
  }

  /** TypeScript declarations of a component's exports (`export interface Exports`), from its WIT. */
  async types(plugin) {
    const { name, bytes } = await pluginBytes(plugin);
    return call(this._inner.types(name, codeArg(bytes)));
  }

  /**
   * Call a component's exports with JSON values, typed by what `types()`
   * generated: `(await warden.typed<Exports>(bytes)).calc.add(1, 2)`. Each
   * call is a fresh instance under `config`; a failure throws a WardenError.
   */
  async typed(plugin, config) {
    const { name, bytes } = await pluginBytes(plugin);
    const inner = this._inner;
    const cfg = config === undefined ? undefined : JSON.stringify(config);
    // `list<u8>` is a Uint8Array in the generated types: arrays of numbers on the wire.
    const shapes = JSON.parse(await call(inner.byteShapes(name, codeArg(bytes))));
    const invoke = async (target, args) => {
      const wire = JSON.stringify(args, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v));
      const r = JSON.parse(await call(inner.invokeJson(name, codeArg(bytes), target, wire, cfg)));
      if (!r.ok) throw new WardenError(r.error);
      return shapes[target] ? withBytes(r.value, shapes[target]) : r.value;
    };
    const fn = (target) => (...args) => invoke(target, args);
    // The generated types name `toggle-write` `toggleWrite`: back to WIT's kebab case.
    const kebab = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    return new Proxy({}, {
      get(_, key) {
        if (typeof key !== 'string' || key === 'then') return undefined;
        // A function of the world, or an exported interface whose functions are `iface#name`.
        const iface = new Proxy(fn(kebab(key)), {
          get(_, fname) {
            return typeof fname === 'string' && fname !== 'then' ? fn(`${kebab(key)}#${kebab(fname)}`) : undefined;
          },
        });
        return iface;
      },
    });
  }

  /** What a plugin (component bytes or a file path) is and how `grants` cover it. */
  async inspect(plugin, grants) {
    const { name, bytes } = await pluginBytes(plugin);
    const g = grants === undefined ? undefined : JSON.stringify(grants);
    return JSON.parse(await call(this._inner.inspect(name, codeArg(bytes), g)));
  }
}

/** `value` with the byte lists `shape` points at (see `byte_shapes_of`) as Uint8Arrays. */
function withBytes(value, shape) {
  if (value === null || value === undefined) return value;
  if (shape === 'bytes') return Array.isArray(value) ? Uint8Array.from(value) : value;
  const [[kind, inner]] = Object.entries(shape);
  switch (kind) {
    case 'list':
      return value.map((v) => withBytes(v, inner));
    case 'option':
      return withBytes(value, inner);
    case 'tuple':
      return value.map((v, i) => (inner[i] ? withBytes(v, inner[i]) : v));
    case 'record':
    case 'variant':
    case 'result': {
      if (typeof value !== 'object') return value; // a variant case without payload
      const out = { ...value };
      for (const [key, s] of Object.entries(inner)) if (s && key in out) out[key] = withBytes(out[key], s);
      return out;
    }
    default:
      return value;
  }
}

/** A plugin given as a path or bytes: its name and bytes. */
async function pluginBytes(plugin) {
  if (typeof plugin === 'string') {
    const name = plugin.replace(/^.*\//, '').replace(/\.[^.]*$/, '') || 'plugin';
    return { name, bytes: await readFile(plugin) };
  }
  if (plugin instanceof Uint8Array) return { name: 'plugin', bytes: plugin };
  throw new TypeError('plugin: expected a path or a Uint8Array');
}

function jobStatus(json) {
  const s = JSON.parse(json);
  if (s.execution) s.execution = execution(JSON.stringify(s.execution));
  return s;
}

module.exports = {
  Warden,
  WardenError,
  /** For the test that a Rust panic becomes a JS error. @internal */
  _panicForTest: () => native.panicForTest(),
};
