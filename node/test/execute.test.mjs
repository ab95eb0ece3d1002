// execute and callJson: every language, the error codes, the decision.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Warden, guest } from './support.mjs';

let w;
before(async () => {
  w = await Warden.create();
});
after(() => w.close());

test('every language runs through execute, and the decision says why', async () => {
  const cases = [
    ['js', '(i) => i.n * 2', { n: 21 }, 42],
    ['ts', '(i: { n: number }): number => i.n * 2', { n: 21 }, 42],
    ['python', 'def run(i):\n    return i["n"] * 2\n', { n: 21 }, 42],
    ['rust', 'fn run(input: &str) -> usize { input.len() }', 'warden', 8], // the JSON text "warden"
  ];
  for (const [language, code, input, want] of cases) {
    const e = await w.execute({ code, language, input });
    assert.equal(e.ok, true, `${language}: ${JSON.stringify(e.error)}`);
    assert.deepEqual(e.output, want, language);
    assert.ok(e.decision.reason.length > 0, language);
    assert.ok(e.timings.totalUs > 0, language);
    assert.equal(typeof e.receipt, 'object');
  }
  // A component's bytes.
  const bytes = await readFile(guest('hello'));
  const e = await w.execute({ code: new Uint8Array(bytes), language: 'wasm', input: { name: 'node' } });
  assert.equal(e.ok, true, JSON.stringify(e.error));
  assert.deepEqual(e.output, { greeting: 'hello, node' });
  assert.equal(e.runtime, 'wasm');
});

test('C runs as eBPF in the kernel', { skip: process.getuid?.() !== 0 && !process.env.REQUIRE_EBPF }, async () => {
  const code = 'int packet_filter(void *data, int data_len) { return data_len; }';
  const e = await w.execute({ code, language: 'c', input: [1, 2, 3, 4] });
  assert.equal(e.ok, true, JSON.stringify(e.error));
  assert.equal(e.runtime, 'ebpf');
});

test('callJson never throws for a guest failure; each failure has its code', async () => {
  const ok = await w.callJson('(i: { a: number; b: number }) => i.a + i.b', { a: 2, b: 3 });
  assert.deepEqual(ok.ok && ok.value, 5);
  const cases = [
    ['(i) => {', 'COMPILE'],
    ['() => { throw new Error("boom") }', 'GUEST_ERROR'],
    ['() => { for (;;) {} }', 'TIMEOUT', { limits: { timeout: '200ms' } }],
    ['() => { const a = []; for (;;) a.push(new Array(1e6).fill(1)); }', 'MEMORY_LIMIT', { limits: { memory_bytes: '32MiB' } }],
    ['() => 1n', 'SERIALIZATION'],
    ['async () => await call("missing", {})', 'CAPABILITY_DENIED'],
  ];
  for (const [code, want, config] of cases) {
    const r = await w.callJson(code, {}, { language: 'js', config });
    assert.equal(r.ok, false, code);
    assert.equal(r.error.code, want, `${code}: ${r.error.message}`);
    assert.equal(typeof r.error.message, 'string');
  }
  // A syntax error names the line.
  const r = await w.callJson('(i) =>\n  i +* 2', {}, { language: 'js' });
  assert.equal(r.ok, false);
  assert.match(r.error.message, / at 2:6/);
});

test('the replaced controller’s entry point works, and its permissions map or are refused by name', async () => {
  const e = await w.executeWithScheduler('(i) => 7', 'javascript', { timeout: 1000 }, { latency: 'low' });
  assert.equal(e.ok, true, JSON.stringify(e.error));
  assert.equal(e.output, 7);
  await assert.rejects(
    w.executeWithScheduler('(i) => 7', 'javascript', { permissions: { capabilities: ['network_access'] } }),
    (err) => err instanceof TypeError && /http_hosts/.test(err.message),
  );
});

test('a hint no runtime meets is refused with the reason', async () => {
  const e = await w.execute({ code: 'def run(i): return i', language: 'python', hints: { latency: 'low' } });
  assert.equal(e.ok, false);
  assert.equal(e.error.code, 'NO_RUNTIME');
  assert.match(e.error.message, /python/);
});
