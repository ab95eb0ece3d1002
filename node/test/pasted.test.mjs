// The replaced runtime controller's README snippets run as pasted into a
// template literal: indented, a JS script's completion value, a Rust
// `#[no_mangle] extern "C" fn main`, a Python notebook cell, C.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Warden } from './support.mjs';

let w;
before(async () => {
  w = await Warden.create();
});
after(() => w.close());

test('JavaScript: a script whose completion value is the result', async () => {
  const e = await w.executeWithScheduler(
    `
      function fibonacci(n) {
        if (n <= 1) return n;
        return fibonacci(n - 1) + fibonacci(n - 2);
      }
      fibonacci(20);
    `,
    'javascript',
    { timeout: 5000 },
  );
  assert.equal(e.ok, true, JSON.stringify(e.error));
  assert.equal(e.output, 6765);
});

test('Rust: #[no_mangle] pub extern "C" fn main() -> u32', async () => {
  const e = await w.executeWithScheduler(
    `
      fn fibonacci(n: u32) -> u32 {
          if n <= 1 { n } else { fibonacci(n - 1) + fibonacci(n - 2) }
      }

      #[no_mangle]
      pub extern "C" fn main() -> u32 {
          fibonacci(20)
      }
    `,
    'rust',
  );
  assert.equal(e.ok, true, JSON.stringify(e.error));
  assert.equal(e.output, 6765);
});

test('Python: a notebook cell; numpy says what to use instead', async () => {
  const cell = await w.callJson(
    `
      import statistics

      def analyze_data(data):
          return {"mean": statistics.mean(data), "max": max(data)}

      result = analyze_data(input["data"])
      result
    `,
    { data: [1, 2, 3, 6] },
    { language: 'python' },
  );
  assert.deepEqual(cell.ok && cell.value, { mean: 3, max: 6 }, JSON.stringify(cell.error));
  const numpy = await w.callJson('\n    import numpy as np\n    np.mean([1, 2])\n', null, { language: 'python' });
  assert.equal(numpy.ok, false);
  assert.match(numpy.error.message, /numpy/);
  assert.match(numpy.error.message, /statistics/);
  assert.doesNotMatch(numpy.error.message, /IndentationError/);
});

test('C: an indented packet filter', { skip: process.getuid?.() !== 0 && !process.env.REQUIRE_EBPF }, async () => {
  const e = await w.execute({
    code: `
      int packet_filter(void *data, int data_len) {
          return data_len > 10 ? 1 : 0;
      }
    `,
    language: 'c',
    input: 'a string longer than ten bytes',
  });
  assert.equal(e.ok, true, JSON.stringify(e.error));
  assert.equal(e.output.retval, 1);
});
