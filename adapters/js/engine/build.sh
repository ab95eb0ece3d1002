#!/usr/bin/env bash
# Builds the JavaScript engine component (QuickJS-ng via rquickjs) for
# wasm32-wasip2 with Debian's clang + wasi-libc (no wasi-sdk download).
# Output: <repo>/target/engines/wasm32-wasip2/release/warden_js_engine.wasm
# Extra arguments are passed to `cargo build`.
set -euo pipefail
cd "$(dirname "$0")"

# llvm-ar: Debian ships it as llvm-ar-<N>, with `llvm-ar` only from the `llvm` package.
AR_BIN=$(command -v llvm-ar || ls /usr/bin/llvm-ar-* 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$AR_BIN" ]; then
  echo "build.sh: llvm-ar not found (apt-get install llvm)" >&2
  exit 1
fi

export RQUICKJS_SYS_NO_WASI_SDK=1                         # else rquickjs-sys downloads wasi-sdk
export CC_wasm32_wasip2="${CC_wasm32_wasip2:-clang}"
export AR_wasm32_wasip2="${AR_wasm32_wasip2:-$AR_BIN}"
export CFLAGS_wasm32_wasip2="${CFLAGS_wasm32_wasip2:---target=wasm32-wasi}"   # clang 14 has no wasip2; finds /usr/include/wasm32-wasi
# Only read if rquickjs is built with its `bindgen` feature (it ships wasm32-wasip2 bindings).
export BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip2="${BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip2:---target=wasm32-wasi}"

exec cargo build --release --target wasm32-wasip2 --target-dir ../../../target/engines "$@"
