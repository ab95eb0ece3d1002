// The TypeScript: lib/api.d.ts is what warden-api's Rust types generate
// (not stale), and strict tsc accepts every example in the README and
// refuses a wrong one. The README's quick start also runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import ts from 'typescript';
import { generate } from '../scripts/gen-types.mjs';

const pkg = fileURLToPath(new URL('..', import.meta.url));

test('lib/api.d.ts is what the Rust types generate', async () => {
  const current = await readFile(join(pkg, 'lib/api.d.ts'), 'utf8');
  assert.ok(current === (await generate()), 'lib/api.d.ts is stale: run `npm run gen-types` in node/');
});

/** The TypeScript examples of the package's README, then the repository README's. */
async function readmeBlocks() {
  const blocks = [];
  for (const file of [join(pkg, 'README.md'), join(pkg, '../README.md')]) {
    const readme = await readFile(file, 'utf8');
    blocks.push(...[...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]));
  }
  return blocks;
}

/** Type-check files in a temp dir with strict tsc; return its output (empty when clean). */
async function tsc(files) {
  const dir = await mkdtemp(join(tmpdir(), 'warden-ts-'));
  try {
    const names = [];
    for (const [name, text] of Object.entries(files)) {
      await writeFile(join(dir, name), text);
      names.push(name);
    }
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(pkg, 'node_modules/@types')],
          paths: { '@warden/node': [join(pkg, 'lib/index.d.ts')] },
        },
        files: names,
      }),
    );
    const r = spawnSync(process.execPath, [join(pkg, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    return (r.stdout + r.stderr).trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('strict tsc accepts every README example and refuses a wrong argument', async () => {
  const blocks = await readmeBlocks();
  assert.ok(blocks.length >= 3, `${blocks.length} examples`);
  const files = Object.fromEntries(blocks.map((b, i) => [`example${i}.mts`, b]));
  assert.equal(await tsc(files), '');
  const wrong = `import { Warden } from '@warden/node';
const w = await Warden.create();
await w.execute({ code: '1', language: 'cobol' });
await w.callJson('1', {}, { config: { limits: { timeout: true } } });
export {};
`;
  const out = await tsc({ 'wrong.mts': wrong });
  assert.match(out, /cobol/);
  assert.match(out, /wrong.mts\(4,\d+\): error TS2322/, 'a boolean timeout');
});

test('the README quick start runs as written', async () => {
  const [quickStart] = await readmeBlocks();
  const js = ts.transpileModule(quickStart, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText.replace("from '@warden/node'", `from ${JSON.stringify(join(pkg, 'lib/index.mjs'))}`);
  const dir = await mkdtemp(join(tmpdir(), 'warden-qs-'));
  try {
    await writeFile(join(dir, 'quick-start.mjs'), js);
    const out = execFileSync(process.execPath, [join(dir, 'quick-start.mjs')], { encoding: 'utf8', timeout: 120_000 });
    const lines = out.trim().split('\n');
    assert.equal(lines[0], '42');
    assert.match(lines[1], /^6 python /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
