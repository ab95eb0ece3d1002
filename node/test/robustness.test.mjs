// Never block Node, never crash it: bad arguments, panics, a closed
// instance, the event-loop delay under load, worker_threads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Warden, WardenError } from './support.mjs';
import pkg from '../lib/index.cjs';

let w;
before(async () => {
  w = await Warden.create({ runtimes: { rust: null, ebpf: null } });
});
after(() => w.close());

test('bad arguments get a TypeError that names the argument', async () => {
  await assert.rejects(w.execute({ code: '1', language: 'cobol' }), (e) => e instanceof TypeError && /language/.test(e.message) && /cobol/.test(e.message));
  await assert.rejects(w.execute({ code: '1', language: 'js', input: { n: 1n } }), (e) => e instanceof TypeError && /input/.test(e.message));
  await assert.rejects(
    w.execute({ code: '1', language: 'js', config: { limits: { timeout: -5 } } }),
    (e) => e instanceof TypeError && /request/.test(e.message) && /timeout/.test(e.message),
  );
  await assert.rejects(
    w.execute({ code: '1', language: 'js', config: { grnts: {} } }),
    (e) => e instanceof TypeError && /grnts/.test(e.message),
  );
  await assert.rejects(w.execute({ code: 42, language: 'js' }), (e) => e instanceof TypeError && /code/.test(e.message));
  await assert.rejects(w.execute({ code: '1', language: 'js', signal: {} }), (e) => e instanceof TypeError && /signal/.test(e.message));
  await assert.rejects(Warden.create({ hostFuncs: {} }), (e) => e instanceof TypeError && /hostFuncs/.test(e.message));
  await assert.rejects(
    Warden.create({ runtimes: { pyton: true } }),
    (e) => e instanceof TypeError && /pyton/.test(e.message),
  );
});

test('a Rust panic at the boundary is a JS error, and Node keeps running', async () => {
  assert.throws(() => pkg._panicForTest(), /panic/);
  const e = await w.execute({ code: '() => "still here"', language: 'js' });
  assert.equal(e.output, 'still here');
});

test('a closed Warden refuses calls with UNAVAILABLE', async () => {
  const w2 = await Warden.create({ runtimes: { python: false, rust: null, ebpf: null } });
  await w2.close();
  await assert.rejects(w2.execute({ code: '() => 1', language: 'js' }), (e) => e instanceof WardenError && e.code === 'UNAVAILABLE');
  assert.throws(() => w2.metrics(), (e) => e instanceof WardenError && e.code === 'UNAVAILABLE');
});

test('200 concurrent JS snippets and a 2 s Python loop leave the event loop free (p99 delay < 20 ms)', async () => {
  await w.startRuntime('js');
  await w.startRuntime('python');
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const python = w.execute({
    code: 'import time\ndef run(i):\n    end = time.monotonic() + 2\n    n = 0\n    while time.monotonic() < end:\n        n += 1\n    return n > 0\n',
    language: 'python',
    config: { limits: { timeout: '10s' } },
  });
  const snippets = Array.from({ length: 200 }, (_, i) =>
    w.execute({ code: '(i) => { let s = 0; for (let k = 0; k < 1e5; k++) s += k; return i.n }', language: 'js', input: { n: i } }),
  );
  // Keep the loop busy with timers, as a server would be.
  const ticks = setInterval(() => {}, 1);
  const results = await Promise.all(snippets);
  const py = await python;
  clearInterval(ticks);
  h.disable();
  assert.ok(results.every((e, i) => e.ok && e.output === i));
  assert.equal(py.ok, true, JSON.stringify(py.error));
  const p99 = h.percentile(99) / 1e6;
  console.log(`event-loop delay: p50 ${(h.percentile(50) / 1e6).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${(h.max / 1e6).toFixed(2)} ms`);
  assert.ok(p99 < 20, `p99 event-loop delay ${p99} ms`);
});

test('the addon works from worker_threads', async () => {
  const source = `
    const { parentPort } = require('node:worker_threads');
    const { Warden } = require(${JSON.stringify(new URL('../lib/index.cjs', import.meta.url).pathname)});
    (async () => {
      const w = await Warden.create({ runtimes: { python: false, rust: null, ebpf: null } });
      const e = await w.execute({ code: '(i) => i.n + 1', language: 'js', input: { n: 41 } });
      await w.close();
      parentPort.postMessage(e.output);
    })().catch((e) => parentPort.postMessage(String(e)));
  `;
  const worker = new Worker(source, { eval: true });
  const answer = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(answer, 42);
});
