// The pyodide peer of `warden-bench python`, run by warden-bench in the same run.
// Setup (loading pyodide) stays outside the timed loop. Each call gets a fresh
// globals namespace; the interpreter, its modules and the JS heap are shared,
// so this isolates names only — not memory, not modules, not time.
// Usage: node peers.mjs <cases.json> → {case: {pyodide: {median_ns, p90_ns, result}}}
import { readFileSync } from 'node:fs';
import { loadPyodide } from 'pyodide';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const py = await loadPyodide();
py.runPython('import json');
const pyDict = py.globals.get('dict');

function call(src, input) {
  const ns = pyDict();
  try {
    ns.set('__input', input);
    py.runPython(`import json\n${src}\n__out = json.dumps(run(json.loads(__input)))`, { globals: ns });
    return ns.get('__out');
  } finally {
    ns.destroy();
  }
}

function stats(ns) {
  ns.sort((a, b) => a - b);
  const at = (q) => ns[Math.min(ns.length - 1, Math.floor(q * ns.length))];
  return { median_ns: at(0.5), p90_ns: at(0.9) };
}

const out = {};
for (const c of cases) {
  let result;
  for (let i = 0; i < 10; i++) result = call(c.source, c.input);
  const ns = [];
  for (let i = 0; i < c.iterations; i++) {
    const t = process.hrtime.bigint();
    result = call(c.source, c.input);
    ns.push(Number(process.hrtime.bigint() - t));
  }
  out[c.name] = { pyodide: { ...stats(ns), result } };
}
process.stdout.write(JSON.stringify(out));
