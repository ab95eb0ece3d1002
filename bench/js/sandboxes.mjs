// The peers of `warden-bench js` and `make bench-node`, fresh sandboxes per call.
// Each call gets a fresh sandbox; module loading (the setup) stays outside
// the timed loop, as warden's engine pre-initialization does:
//   isolated-vm:        a new Isolate + Context per call (V8), disposed after
//   quickjs-emscripten: a new QuickJS runtime + context per call, disposed after
import ivm from 'isolated-vm';
import { getQuickJS } from 'quickjs-emscripten';

export const hostFns = { add: (a) => a.a + a.b, inc: (a) => a.k + 1 };
const hostCall = (name, args) => JSON.stringify(hostFns[name](JSON.parse(args)));
const wrap = (src) =>
  `const call = async (n, a) => JSON.parse(__call(n, JSON.stringify(a)));\n` +
  `(async () => JSON.stringify(await (${src})(JSON.parse(__input))))()`;

export async function isolatedVm(src, input) {
  const iso = new ivm.Isolate({ memoryLimit: 128 });
  try {
    const ctx = iso.createContextSync();
    ctx.global.setSync('__call', new ivm.Callback(hostCall));
    ctx.global.setSync('__input', input);
    return await ctx.eval(wrap(src), { promise: true, copy: true });
  } finally {
    iso.dispose();
  }
}

const QuickJS = await getQuickJS(); // setup: load the Wasm module once
export function quickjsEmscripten(src, input) {
  const rt = QuickJS.newRuntime();
  rt.setMemoryLimit(128 << 20);
  const vm = rt.newContext();
  try {
    const fn = vm.newFunction('__call', (n, a) => vm.newString(hostCall(vm.getString(n), vm.getString(a))));
    vm.setProp(vm.global, '__call', fn);
    fn.dispose();
    const inp = vm.newString(input);
    vm.setProp(vm.global, '__input', inp);
    inp.dispose();
    const code = `${wrap(src)}.then(v => { globalThis.__out = v }, e => { globalThis.__out = 'ERR ' + e })`;
    vm.unwrapResult(vm.evalCode(code)).dispose();
    rt.executePendingJobs();
    const out = vm.getProp(vm.global, '__out');
    const s = vm.getString(out);
    out.dispose();
    return s;
  } finally {
    vm.dispose();
    rt.dispose();
  }
}

export function stats(ns) {
  ns.sort((a, b) => a - b);
  const at = (q) => ns[Math.min(ns.length - 1, Math.floor(q * ns.length))];
  return { median_ns: at(0.5), p90_ns: at(0.9) };
}

