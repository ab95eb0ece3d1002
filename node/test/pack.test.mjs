// Packaging, proven as a user installs it: `npm pack` the package and its
// platform package, install both tarballs into a fresh project in a temp
// directory, and from ESM, from CJS and from a TypeScript file checked by
// strict tsc run a snippet in every language and a plugin. Nothing is
// resolved from the workspace: the consumer's imports find only what npm
// installed from the tarballs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile, copyFile, cp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { guest } from './support.mjs';

const pkg = fileURLToPath(new URL('..', import.meta.url));
function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000 });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const EBPF = process.getuid?.() === 0 || !!process.env.REQUIRE_EBPF;

// Every language and a plugin, written once and used from ESM, CJS and TS.
const body = (importLine, hello) => `${importLine}
const w = await Warden.create();
const out = {};
const cases = {
  js: ['(i) => i.n + 1', { n: 1 }],
  ts: ['(i: { n: number }) => i.n + 1', { n: 1 }],
  python: ['def run(i):\\n    return i["n"] + 1\\n', { n: 1 }],
  rust: ['fn run(input: &str) -> usize { input.len() }', 'x'],
  ${EBPF ? "c: ['int packet_filter(void *data, int data_len) { return data_len; }', [1, 2]]," : ''}
};
for (const [language, [code, input]] of Object.entries(cases)) {
  const e = await w.execute({ code, language, input });
  out[language] = e.ok ? e.output : e.error;
}
const plugin = await readFile(${JSON.stringify(hello)});
const p = await w.execute({ code: new Uint8Array(plugin), language: 'wasm', input: { name: 'pack' } });
out.wasm = p.ok ? p.output : p.error;
await w.close();
console.log(JSON.stringify(out));
`;

function check(stdout) {
  const out = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.equal(out.js, 2);
  assert.equal(out.ts, 2);
  assert.equal(out.python, 2);
  assert.equal(out.rust, 3);
  if (EBPF) assert.equal(out.c.retval, 2, JSON.stringify(out.c));
  assert.deepEqual(out.wasm, { greeting: 'hello, pack' });
}

test('npm pack, install into a fresh project, use from ESM, CJS and strict TypeScript', { timeout: 900_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warden-pack-'));
  try {
    // The platform package with the addon (debug info stripped, as a release would ship it).
    const platform = join(dir, 'platform');
    await cp(join(pkg, 'npm/linux-x64-gnu'), platform, { recursive: true });
    run('llvm-objcopy', ['--strip-debug', join(pkg, 'warden.linux-x64-gnu.node'), join(platform, 'warden.linux-x64-gnu.node')], dir);
    const tarballs = join(dir, 'tarballs');
    await mkdir(tarballs);
    // The main package as `napi prepublish` makes it: with its platform
    // packages as optional dependencies (not in the repository's
    // package.json, where they would break `npm ci` before publishing).
    const main = join(dir, 'main');
    await mkdir(main);
    await cp(join(pkg, 'lib'), join(main, 'lib'), { recursive: true });
    await copyFile(join(pkg, 'README.md'), join(main, 'README.md'));
    const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8'));
    manifest.optionalDependencies = { '@warden/node-linux-x64-gnu': manifest.version };
    delete manifest.devDependencies;
    await writeFile(join(main, 'package.json'), JSON.stringify(manifest, null, 2));
    const packed = [
      run('npm', ['pack', '--silent', '--pack-destination', tarballs], main).trim().split('\n').at(-1),
      run('npm', ['pack', '--silent', '--pack-destination', tarballs], platform).trim().split('\n').at(-1),
    ].map((f) => join(tarballs, f));

    // A fresh consumer.
    const app = join(dir, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', ...packed], app);

    const hello = guest('hello');
    await writeFile(join(app, 'esm.mjs'), body("import { readFile } from 'node:fs/promises';\nimport { Warden } from '@warden/node';", hello));
    await writeFile(
      join(app, 'cjs.cjs'),
      `(async () => {\n${body("const { readFile } = require('node:fs/promises');\nconst { Warden } = require('@warden/node');", hello)}\n})();`,
    );
    await writeFile(
      join(app, 'typed.mts'),
      body("import { readFile } from 'node:fs/promises';\nimport { Warden, type Execution, type LanguageName } from '@warden/node';\nconst typed: Execution | null = null; void typed;", hello)
        .replace('const out = {};', 'const out: Record<string, unknown> = {};')
        .replace('const cases = {', "const cases: Partial<Record<LanguageName, [string, unknown]>> = {")
        .replace('Object.entries(cases)', 'Object.entries(cases) as [LanguageName, [string, unknown]][]'),
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext',
          types: ['node'], typeRoots: [join(pkg, 'node_modules/@types')], outDir: 'dist',
        },
        files: ['typed.mts'],
      }),
    );

    check(run(process.execPath, ['esm.mjs'], app));
    check(run(process.execPath, ['cjs.cjs'], app));
    // tsc (the workspace's compiler) checks and emits; the types it reads are the installed package's.
    run(process.execPath, [join(pkg, 'node_modules/typescript/bin/tsc'), '-p', '.'], app);
    check(run(process.execPath, ['dist/typed.mjs'], app));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
