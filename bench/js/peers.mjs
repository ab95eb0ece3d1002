// The peers of `warden-bench js`, run by warden-bench in the same benchmark run
// (the sandboxes themselves are in sandboxes.mjs, shared with `make bench-node`).
// Usage: node peers.mjs <cases.json>  → prints {case: {peer: {median_ns, p90_ns, result}}}
import { readFileSync } from 'node:fs';
import { isolatedVm, quickjsEmscripten, stats } from './sandboxes.mjs';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const c of cases) {
  out[c.name] = {};
  for (const [peer, f] of [['isolated-vm', isolatedVm], ['quickjs-emscripten', quickjsEmscripten]]) {
    let result;
    for (let i = 0; i < Math.max(5, c.iterations / 10); i++) result = await f(c.source, c.input); // warm-up
    const ns = [];
    for (let i = 0; i < c.iterations; i++) {
      const t = process.hrtime.bigint();
      result = await f(c.source, c.input);
      ns.push(Number(process.hrtime.bigint() - t));
    }
    out[c.name][peer] = { ...stats(ns), result };
  }
}
process.stdout.write(JSON.stringify(out));
