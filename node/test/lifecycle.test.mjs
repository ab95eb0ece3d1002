// Abort, the compile → instantiate → execute lifecycle, jobs, the runtime
// registry and metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Warden, WardenError, until } from './support.mjs';

let w;
before(async () => {
  w = await Warden.create({ runtimes: { rust: null, ebpf: null } });
});
after(() => w.close());

test('an AbortSignal stops a runaway guest within a tick: CANCELLED', async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 200);
  const e = await w.execute({
    code: '() => { for (;;) {} }',
    language: 'js',
    config: { limits: { timeout: '30s' } },
    signal: controller.signal,
  });
  assert.equal(e.ok, false);
  assert.equal(e.error.code, 'CANCELLED');
  assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
  await until('the slot freed', () => w.metrics().in_flight === 0);

  // Aborted before it began, through callJson.
  const r = await w.callJson('() => 1', {}, { signal: AbortSignal.abort() });
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'CANCELLED');
});

test('compile once, instantiate under a policy, execute many times, destroy', async () => {
  const m = await w.compile('(i) => i.x * 10', 'js');
  assert.equal(m.decision.runtime, 'js');
  const inst = w.instantiate(m.id, { trust: 'low' });
  for (const x of [1, 2, 3]) {
    const e = await w.executeInstance(inst, { x });
    assert.equal(e.output, x * 10);
  }
  w.destroy(inst);
  assert.throws(() => w.destroy(inst), (e) => e instanceof WardenError && e.code === 'NOT_FOUND');
  w.dropModule(m.id);
  assert.throws(() => w.instantiate(m.id), (e) => e instanceof WardenError && e.code === 'NOT_FOUND');
});

test('jobs: submit, wait, cancel', async () => {
  const id = w.submit({ code: '(i) => i * 3', language: 'js', input: 14 });
  const done = await w.wait(id);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.execution.output, 42);

  const spin = w.submit({ code: '() => { for (;;) {} }', language: 'js', config: { limits: { timeout: '30s' } } });
  await until('the job running', () => w.job(spin).state === 'running');
  assert.equal(w.cancel(spin), 'cancelled');
  const status = await w.wait(spin);
  assert.equal(status.state, 'cancelled');
  assert.equal(status.execution.error.code, 'CANCELLED');
});

test('the runtime registry: list with health, start and stop', async () => {
  const names = (await w.runtimes()).map((r) => r.info.name).sort();
  assert.deepEqual(names, ['js', 'python', 'wasm']);
  await w.startRuntime('js');
  let js = (await w.runtimes()).find((r) => r.info.name === 'js');
  assert.equal(js.health.state, 'healthy');
  await w.stopRuntime('js');
  js = (await w.runtimes()).find((r) => r.info.name === 'js');
  assert.equal(js.state, 'stopped');
  assert.equal(js.health.state, 'unavailable');
  await assert.rejects(w.startRuntime('cobol'), (e) => e instanceof WardenError && e.code === 'NOT_FOUND');
});

test('metrics as an object and in Prometheus text', async () => {
  await w.execute({ code: '() => 1', language: 'js' });
  const m = w.metrics();
  assert.ok(m.executions >= 1, JSON.stringify(m));
  assert.match(w.prometheus(), /warden_executions/);
});
