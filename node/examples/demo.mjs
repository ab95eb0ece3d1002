// `make demo`'s Node step: @warden/node in this process — a TypeScript
// snippet calling a host function written in JS, a denial, and the decision.
import { Warden } from '../lib/index.mjs';

const warden = await Warden.create({
  runtimes: { python: false, rust: null, ebpf: null },
  hostFunctions: { greet: async ({ name }) => `hello, ${name}, from Node` },
});
const granted = await warden.callJson(
  'async (i: { name: string }) => await call("greet", { name: i.name })',
  { name: 'warden' },
  { config: { grants: { host_fns: { only: ['greet'] } } } },
);
console.log('granted:', granted.ok ? granted.value : granted.error);
const denied = await warden.callJson('async () => await call("greet", { name: "x" })', {});
console.log('denied: ', denied.ok ? denied.value : `${denied.error.code}: ${denied.error.message}`);
const e = await warden.execute({ code: '(i) => i.n * 2', language: 'ts', input: { n: 21 } });
console.log(`output ${e.output} on ${e.runtime}: ${e.decision?.reason} (${e.timings.totalUs} µs)`);
await warden.close();
