// `make bench-node`: @warden/node against its Node peers in one process, on
// the same inputs, each call in a fresh sandbox. Prints medians and ratios.
//   1. binding overhead: executeInstance of a small Wasm instance from JS
//      against the same calls made from Rust in this process;
//   2. codemode's three cases (cold-simple, 10 parallel host callbacks, JSON
//      scan over 1 MB): warden, isolated-vm (a new isolate per call) and
//      quickjs-emscripten (a new runtime and context per call);
//   3. a snippet awaiting one host function and one awaiting ten;
//   4. Wasm plugins: the hello guest on warden (a component, a fresh
//      instance per call) against the same guest as an Extism plug-in
//      (bench/extism-hello, a new plug-in per call from a compiled module)
//      through Extism's Node SDK.
// N calls per row (env N, default 1000), in 10 interleaved batches.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createPlugin } from '@extism/extism';
import { Warden } from '../../node/lib/index.mjs';
import { hostFns, isolatedVm, quickjsEmscripten } from './sandboxes.mjs';

const N = Number(process.env.N ?? 1000);
const BATCHES = 10;
const root = fileURLToPath(new URL('../..', import.meta.url));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);

const warden = await Warden.create({
  runtimes: { python: false, rust: null, ebpf: null },
  hostFunctions: { add: async (a) => hostFns.add(a), inc: async (a) => hostFns.inc(a) },
});
await warden.startRuntime('js');

// 1. Binding overhead.
const hello = await readFile(`${root}target/guests/wasm32-wasip2/release/hello.wasm`);
const mod = await warden.compile(new Uint8Array(hello), 'wasm');
const inst = warden.instantiate(mod.id);
const input = { name: 'bench' };
const fromJs = [];
const fromRust = [];
for (let i = 0; i < 200; i++) await warden.executeInstance(inst, input); // warm-up
for (let b = 0; b < BATCHES; b++) {
  for (let i = 0; i < N / BATCHES; i++) {
    const t = process.hrtime.bigint();
    const e = await warden.executeInstance(inst, input);
    fromJs.push(Number(process.hrtime.bigint() - t) / 1e3);
    if (!e.ok) throw new Error(e.error.message);
  }
  fromRust.push(...(await warden._inner.timeExecuteInstance(inst, JSON.stringify(input), N / BATCHES)));
}
const js = median(fromJs);
const rust = median(fromRust);
console.log('Binding overhead (executeInstance of the hello component; medians)');
console.log(`  from Node ${fmt(js)}   from Rust ${fmt(rust)}   added ${fmt(js - rust)}   ratio ${(js / rust).toFixed(2)}x   goal: added ≤ 20 µs ${js - rust <= 20 ? '✔' : '✘'}`);

// 2 and 3. Snippets, each call a fresh sandbox everywhere.
const items = Array.from({ length: 16000 }, (_, i) => ({ id: i, ok: i % 3 === 0, name: `item-${i}-${'x'.repeat(32)}` }));
const cases = [
  ['cold-simple', '(i) => i.a + i.b', { a: 1, b: 2 }],
  ['host callbacks ×10 (parallel)', 'async (i) => (await Promise.all([...Array(10)].map((_, k) => call("inc", { k })))).length', {}],
  ['JSON scan 1 MB', '(i) => i.items.filter((x) => x.ok).length', { items }],
  ['await 1 host function', 'async (i) => await call("add", { a: 1, b: 2 })', {}],
  ['await 10 host functions', 'async (i) => { let s = 0; for (let k = 0; k < 10; k++) s += await call("add", { a: k, b: 1 }); return s }', {}],
];
// The 1 MB input is over warden's default 1 MiB input limit: raise it (the peers have none).
const config = { grants: { host_fns: 'all' }, limits: { input_bytes: '4MiB' } };
const peers = [
  ['warden', async (src, inp) => {
    const r = await warden.callJson(src, inp, { language: 'js', config });
    if (!r.ok) throw new Error(r.error.message);
    return r.value;
  }],
  ['isolated-vm', (src, inp) => isolatedVm(src, JSON.stringify(inp))],
  ['quickjs-emscripten', (src, inp) => quickjsEmscripten(src, JSON.stringify(inp))],
];
console.log('\nSnippets from Node, a fresh sandbox per call (medians; ratio = peer / warden)');
console.log(`  ${'case'.padEnd(32)}${peers.map(([p]) => p.padStart(20)).join('')}`);
for (const [name, src, inp] of cases) {
  const n = name.startsWith('JSON') ? Math.max(50, N / 10) : N;
  const times = Object.fromEntries(peers.map(([p]) => [p, []]));
  for (const [, f] of peers) for (let i = 0; i < 5; i++) await f(src, inp); // warm-up
  for (let b = 0; b < BATCHES; b++) {
    for (const [p, f] of peers) {
      for (let i = 0; i < n / BATCHES; i++) {
        const t = process.hrtime.bigint();
        await f(src, inp);
        times[p].push(Number(process.hrtime.bigint() - t) / 1e3);
      }
    }
  }
  const w = median(times.warden);
  const cells = peers.map(([p]) => {
    const m = median(times[p]);
    return (p === 'warden' ? fmt(m) : `${fmt(m)} (${(m / w).toFixed(1)}x)`).padStart(20);
  });
  console.log(`  ${name.padEnd(32)}${cells.join('')}`);
}
console.log('\nGoals: cold-simple ≥ 3x faster than isolated-vm and ≥ 10x faster than quickjs-emscripten;');
console.log('host callbacks no worse than either. isolated-vm and quickjs-emscripten call their host');
console.log('functions synchronously (ivm.Callback, newFunction); warden awaits async JS functions.');

// 4. Wasm plugins, a fresh instance per call on both sides.
const extismWasm = await readFile(`${root}target/extism/wasm32-wasip1/release/extism_hello.wasm`);
const extismModule = await WebAssembly.compile(extismWasm);
const helloBytes = new Uint8Array(hello);
const plugins = [
  // Compiled once, a fresh Store and instance per run (as Extism's module).
  ['warden', async () => {
    const e = await warden.executeInstance(inst, input);
    if (!e.ok) throw new Error(e.error.message);
    return e.output.greeting;
  }],
  // The bytes with every call: hashed and found in the compile cache.
  ['warden execute', async () => {
    const e = await warden.execute({ code: helloBytes, language: 'wasm', input });
    if (!e.ok) throw new Error(e.error.message);
    return e.output.greeting;
  }],
  ['extism', async () => {
    const plugin = await createPlugin({ wasm: [{ module: extismModule }] }, { useWasi: true });
    try {
      const out = await plugin.call('greet', JSON.stringify(input));
      return JSON.parse(out.text()).greeting;
    } finally {
      await plugin.close();
    }
  }],
];
for (const [p, f] of plugins) {
  const got = await f();
  if (got !== 'hello, bench') throw new Error(`${p} answered ${got}`);
}
const ptimes = Object.fromEntries(plugins.map(([p]) => [p, []]));
for (let b = 0; b < BATCHES; b++) {
  for (const [p, f] of plugins) {
    for (let i = 0; i < N / BATCHES; i++) {
      const t = process.hrtime.bigint();
      await f();
      ptimes[p].push(Number(process.hrtime.bigint() - t) / 1e3);
    }
  }
}
const pw = median(ptimes.warden);
console.log('\nWasm plugins from Node, the hello guest, a fresh instance per call (medians; ratio = / warden)');
for (const [p] of plugins) {
  const m = median(ptimes[p]);
  console.log(`  ${p.padEnd(32)}${fmt(m).padStart(12)}${p === 'warden' ? '' : ` (${(m / pw).toFixed(1)}x)`}`);
}
await warden.close();
