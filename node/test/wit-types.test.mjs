// WIT → TypeScript: the types of the typed-exports guest, checked by strict
// tsc (a right call passes, a wrong argument type fails), and the calls
// they describe made through `typed()`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { Warden, WardenError, guest } from './support.mjs';

const pkg = fileURLToPath(new URL('..', import.meta.url));
let w;
before(async () => {
  w = await Warden.create({ runtimes: { js: false, python: false, rust: null, ebpf: null } });
});
after(() => w.close());

async function tsc(files) {
  const dir = await mkdtemp(join(tmpdir(), 'warden-wit-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    const config = {
      compilerOptions: {
        strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext',
        types: [], paths: { '@warden/node': [join(pkg, 'lib/index.d.ts')] },
      },
      files: Object.keys(files),
    };
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(config));
    const r = spawnSync(process.execPath, [join(pkg, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    return (r.stdout + r.stderr).trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('types() for the typed-exports guest: records, enums, variants, options, results', async () => {
  const ts = await w.types(guest('typed_exports'));
  assert.match(ts, /export interface Point \{\n  x: number;\n  y: number;\n\}/);
  assert.match(ts, /export type Color = "red" \| "green" \| "blue";/);
  assert.match(ts, /export type Shape = \{ circle: number \} \| \{ square: number \} \| "none";/);
  assert.match(ts, /greet\(name: string, times: number \| null\): Array<string>;/);
  assert.match(ts, /describe\(c: Color, flags: Array<boolean>\): \{ ok: string \} \| \{ err: string \};/);
  assert.match(ts, /reverseBytes\(data: Uint8Array\): \{ ok: Uint8Array \} \| \{ err: string \};/);
  assert.match(ts, /export interface Perms \{\n  read\?: boolean;\n  write\?: boolean;\n  exec\?: boolean;\n\}/);

  const use = (call) => `import { Warden } from '@warden/node';
import type { Exports, Perms } from './plugin.js';
const w = await Warden.create();
const calc = (await w.typed<Exports>('typed_exports.wasm')).calc;
${call}
export {};
`;
  const right = use("const n: number = await calc.add(1, 2);\nconst s: Array<string> = await calc.greet('x', null);\nconst a: number = await calc.area({ circle: 1 });\nconst p: Perms = await calc.toggleWrite({ read: true });\nconst r = await calc.reverseBytes(new Uint8Array([1]));\nif ('ok' in r) { const b: Uint8Array = r.ok; }");
  assert.equal(await tsc({ 'plugin.d.ts': ts, 'right.mts': right }), '');
  const wrong = use("await calc.add('1', 2);");
  assert.match(await tsc({ 'plugin.d.ts': ts, 'wrong.mts': wrong }), /wrong\.mts\(5,\d+\): error TS2345/);
  const badCase = use("await calc.area({ triangle: 1 });");
  assert.match(await tsc({ 'plugin.d.ts': ts, 'bad.mts': badCase }), /error TS/);
});

test('typed() calls the exports with JSON values, a fresh instance per call', async () => {
  const api = await w.typed(guest('typed_exports'));
  assert.equal(await api.calc.add(1, 2), 3);
  assert.deepEqual(await api.calc.greet('x', 2), ['hello, x', 'hello, x']);
  assert.equal(await api.calc.norm({ x: 3, y: 4 }), 5);
  const described = await api.calc.describe('red', [true]);
  assert.equal(typeof described.ok, 'string', JSON.stringify(described));
  const refused = await api.calc.describe('red', []);
  assert.equal(typeof refused.err, 'string', JSON.stringify(refused));
  assert.equal(await api.version(), '1.0');
  // Flags are objects of booleans both ways; `toggleWrite` is `toggle-write`.
  assert.deepEqual(await api.calc.toggleWrite({ read: true }), { read: true, write: true });
  assert.deepEqual(await api.calc.toggleWrite({ write: true, exec: true }), { exec: true });
  // list<u8> is a Uint8Array both ways (inside a result here).
  const reversed = await api.calc.reverseBytes(new Uint8Array([1, 2, 3]));
  assert.ok(reversed.ok instanceof Uint8Array, JSON.stringify(reversed));
  assert.deepEqual([...reversed.ok], [3, 2, 1]);
  assert.deepEqual(await api.calc.reverseBytes(new Uint8Array()), { err: 'no bytes' });
  await assert.rejects(api.calc.add('1', 2), (e) => e instanceof WardenError && e.code === 'INVALID_INPUT');
  await assert.rejects(api.calc.nope(), (e) => e instanceof WardenError && e.code === 'MISSING_EXPORT');
});
