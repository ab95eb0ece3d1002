// Shared set-up of the Node tests: the package as its users import it, and
// the guest fixtures the Rust build made (target/guests).
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export { Warden, WardenError } from '../lib/index.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const guests = `${root}target/guests/wasm32-wasip2/release`;

/** The path of a guest fixture (`hello`, `kv_counter`, …), built by `make build`. */
export function guest(name) {
  const path = `${guests}/${name}.wasm`;
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make build\` first`);
  return path;
}

/** Wait until `cond()` holds, up to `ms`. */
export async function until(what, cond, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
