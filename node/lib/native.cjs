'use strict';
// Loads the native addon the napi-rs way: a `warden.<platform>.node` next
// to the package (a local build), else the optional platform package
// (`@warden/node-linux-x64-gnu`, …) that npm installed beside it.

const { join } = require('node:path');
const { existsSync } = require('node:fs');

function platformTriple() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
    const glibc = report?.header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  return `${platform}-${arch}`;
}

function load() {
  const triple = platformTriple();
  const local = join(__dirname, '..', `warden.${triple}.node`);
  if (existsSync(local)) return require(local);
  try {
    return require(`@warden/node-${triple}`);
  } catch (e) {
    const err = new Error(
      `@warden/node has no native addon for ${triple}: install @warden/node-${triple} ` +
        `(an optional dependency npm installs on supported platforms), or build it with ` +
        `\`make node\` in a warden checkout. (${e.message})`,
    );
    err.code = 'UNAVAILABLE';
    throw err;
  }
}

module.exports = load();
