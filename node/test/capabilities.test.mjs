// Each capability allowed and denied from Node: log, kv, host functions
// written in JS, events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Warden, until } from './support.mjs';

let w;
const events = [];
const calls = [];
const logged = [];
before(async () => {
  w = await Warden.create({
    runtimes: { python: false, rust: null, ebpf: null },
    hostFunctions: {
      add: async ({ a, b }) => {
        calls.push('add');
        return a + b;
      },
      fail: async () => {
        throw new Error('no such order');
      },
      slow: () => new Promise(() => {}), // never settles
    },
    onEvent: (topic, payload) => events.push({ topic, payload }),
    onLog: (level, message) => logged.push(`${level} ${message}`),
  });
});
after(() => w.close());

const js = (code, config, input = {}) => w.execute({ code, language: 'js', input, config });

test('log: granted lines reach the execution; ungranted ones are a catchable denial', async () => {
  const code = 'import { log } from "warden:plugin/log"; export function run() { log("info", "hi"); return 1 }';
  const granted = await js(code, { grants: { log: true } });
  assert.equal(granted.ok, true, JSON.stringify(granted.error));
  assert.deepEqual(granted.logs, [{ level: 'info', message: 'hi' }]);
  await until('onLog called', () => logged.length > 0);
  assert.deepEqual(logged, ['info hi']);
  const denied = await js(code);
  assert.equal(denied.ok, false);
  assert.equal(denied.error.code, 'CAPABILITY_DENIED');
  assert.equal(logged.length, 1, 'a denied line reaches no one');
});

test('kv: state across calls when granted, denied otherwise', async () => {
  const code = 'async (i) => { const n = Number(kv.get("n") ?? 0) + 1; kv.set("n", String(n)); return n }';
  const config = { grants: { kv: { namespace: 'node-test' } } };
  assert.equal((await js(code, config)).output, 1);
  assert.equal((await js(code, config)).output, 2);
  const denied = await js(code);
  assert.equal(denied.error.code, 'CAPABILITY_DENIED');
  assert.match(denied.error.message, /kv/);
});

test('host functions in JS: the grant decides, a throw reaches the guest, a hang is cut by the timeout', async () => {
  const config = { grants: { host_fns: { only: ['add', 'fail', 'slow'] } } };
  const sum = await js('async (i) => await call("add", { a: 2, b: i.b })', config, { b: 40 });
  assert.equal(sum.ok, true, JSON.stringify(sum.error));
  assert.equal(sum.output, 42);
  assert.equal(sum.receipt.host_calls.host, 1);

  const caught = await js(
    'async () => { try { await call("fail", {}) } catch (e) { return String(e.message ?? e) } }',
    config,
  );
  assert.equal(caught.ok, true, JSON.stringify(caught.error));
  assert.match(caught.output, /no such order/);

  const before = calls.length;
  const denied = await js('async () => await call("add", { a: 1, b: 1 })', { grants: { host_fns: { only: ['fail'] } } });
  assert.equal(denied.error.code, 'CAPABILITY_DENIED');
  assert.equal(calls.length, before, 'an ungranted function is never called');

  const started = Date.now();
  const hung = await js('async () => await call("slow", {})', { ...config, limits: { timeout: '300ms' } });
  assert.equal(hung.error.code, 'TIMEOUT');
  assert.ok(Date.now() - started < 5000);
});

test('while a guest awaits a JS host function, other calls keep running', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const w2 = await Warden.create({
    runtimes: { python: false, rust: null, ebpf: null },
    hostFunctions: { gate: () => gate.then(() => 'open') },
  });
  try {
    const waiting = w2.execute({
      code: 'async () => await call("gate", {})',
      language: 'js',
      config: { grants: { host_fns: 'all' } },
    });
    for (let i = 0; i < 5; i++) {
      const e = await w2.execute({ code: `() => ${i}`, language: 'js' });
      assert.equal(e.output, i);
    }
    release();
    assert.equal((await waiting).output, 'open');
  } finally {
    await w2.close();
  }
});

test('events: granted topics reach onEvent, others are denied', async () => {
  const code = 'async (i) => { emit("orders.new", { id: i.id }); return true }';
  const ok = await js(code, { grants: { event_topics: ['orders.*'] } }, { id: 7 });
  assert.equal(ok.ok, true, JSON.stringify(ok.error));
  assert.deepEqual(events.at(-1), { topic: 'orders.new', payload: { id: 7 } });
  const n = events.length;
  const denied = await js(code, { grants: { event_topics: ['users.*'] } }, { id: 8 });
  assert.equal(denied.error.code, 'CAPABILITY_DENIED');
  assert.equal(events.length, n);
});

test("host functions: a call's own are visible to it alone and shadow the Warden's", async () => {
  const config = { grants: { host_fns: { only: ['whoami', 'add'] } } };
  const code = 'async () => call("whoami", null)';
  const as = (tenant) =>
    w.execute({ code, language: 'js', config, hostFunctions: { whoami: async () => tenant } });
  const [a, b] = await Promise.all([as('a'), as('b')]);
  assert.deepEqual([a.output, b.output], ['a', 'b'], JSON.stringify([a.error, b.error]));
  // Without them, the name is unknown to the same guest.
  const none = await w.execute({ code, language: 'js', config });
  assert.equal(none.ok, false);
  assert.match(none.error.message, /no host function named `whoami`/);
  // A call's own `add` shadows the Warden's, for that call only.
  const add = 'async () => call("add", { a: 1, b: 2 })';
  const own = await w.callJson(add, {}, { language: 'js', config, hostFunctions: { add: () => 'mine' } });
  assert.deepEqual(own.ok && own.value, 'mine');
  const shared = await w.callJson(add, {}, { language: 'js', config });
  assert.deepEqual(shared.ok && shared.value, 3);
  // A job keeps its own functions.
  const id = w.submit({ code, language: 'js', config, hostFunctions: { whoami: () => 'job' } });
  const done = await w.wait(id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  assert.equal(done.execution.output, 'job');
  // Not a function: a TypeError that names it.
  await assert.rejects(
    w.execute({ code, language: 'js', hostFunctions: { whoami: 42 } }),
    (e) => e instanceof TypeError && /request\.hostFunctions\.whoami/.test(e.message),
  );
});
