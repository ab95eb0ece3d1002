# The README's two commands: `make demo` and `make test`. Everything builds in
# one release profile with one cargo invocation so Wasmtime compiles once.
SHELL := /bin/bash
CARGO ?= cargo
WARDEN := target/release/warden
WARDEN_BENCH := target/release/warden-bench
GUESTS := target/guests/wasm32-wasip2/release
STAMP := target/.setup-done

.PHONY: setup demo test build guests node test-node lint bench bench-js bench-python bench-node bench-http docs fmt clean

# Idempotent; the stamp only skips re-running it within one checkout.
setup: $(STAMP)
$(STAMP): scripts/setup.sh rust-toolchain.toml
	./scripts/setup.sh
	@mkdir -p target && touch $(STAMP)

# Builds the host, the CLI, warden-bench and (through tests/fixtures/build.rs)
# every guest.
build: setup
	$(CARGO) build --release --workspace

guests: build

# @warden/node: the addon comes out of the workspace build (one cargo
# invocation, so Wasmtime compiles once; `napi build` would pass --target and
# rebuild everything in a second tree), copied to the napi-rs platform name.
NODE_ADDON := node/warden.linux-x64-gnu.node
node: build
	cp target/release/libwarden_node.so $(NODE_ADDON)
	cd node && npm ci --no-audit --no-fund

# The Node suites (node --test): every language, the capabilities, abort,
# jobs, the registry, bad arguments, panics, the event loop under load,
# worker_threads, the generated TypeScript, and the packed-install smoke test.
test-node: node
	cd node && node --test --test-concurrency=1 test/

demo: build node
	@echo; echo "== 1. hello: a Rust guest, nothing granted =="
	$(WARDEN) run $(GUESTS)/hello.wasm --input '{"name":"warden"}'
	@echo; echo "== 2. kv-counter with the kv capability granted (state in target/demo-kv), receipt on stderr =="
	$(WARDEN) run $(GUESTS)/kv_counter.wasm --allow kv --kv-dir target/demo-kv --input '{"key":"demo"}' --receipt
	@echo; echo "== 3. the same guest without the grant: a typed denial before any guest code runs =="
	@$(WARDEN) run $(GUESTS)/kv_counter.wasm --input '{"key":"demo"}'; code=$$?; \
	  echo "(exit code $$code: 3 means CAPABILITY_DENIED)"; test $$code -eq 3
	@echo; echo "== 4. a runaway loop stopped by the 200 ms timeout =="
	@$(WARDEN) run $(GUESTS)/infinite_loop.wasm --timeout 200ms; code=$$?; \
	  echo "(exit code $$code: 4 means a limit stopped it)"; test $$code -eq 4
	@echo; echo "== 5. a JavaScript snippet in a fresh sandbox, calling a granted host function =="
	$(WARDEN) exec -e 'async (input) => ({ doubled: input.n * 2, echoed: await call("echo", input) })' --input '{"n": 21}' --allow-fn echo
	@echo; echo "== 6. the runtime controller picks the runtime and says why: Rust source (compiled once with rustc, cached by hash) =="
	$(WARDEN) exec --lang rust -e 'fn run(input: &str) -> usize { input.len() }' --input '"warden"' --explain
	@echo; echo "== 7. a hint no runtime meets is refused with the reason, never a silent fallback =="
	@$(WARDEN) exec --lang python -e 'def run(i): return i' --hint latency=low; code=$$?; \
	  echo "(exit code $$code: 2 means NO_RUNTIME)"; test $$code -eq 2
	@echo; echo "== 8. from Node: @warden/node runs a TypeScript snippet that calls a host function written in JS =="
	node node/examples/demo.mjs
	@echo; echo "== 9. as a service: warden serve with a token, answering curl (an execution, a 403 above the token's ceiling, a job's events), stopped with SIGTERM =="
	WARDEN=$(WARDEN) ./scripts/demo-server.sh

test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	$(CARGO) test --release --workspace
	$(MAKE) test-node

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The core suite (warden vs bare Wasmtime), then the controller suite.
bench: build
	$(WARDEN_BENCH)
	$(WARDEN_BENCH) controller

# JS peers (isolated-vm, quickjs-emscripten) from npm, then the JS suite.
bench-js: build
	cd bench/js && npm ci --no-audit --no-fund
	$(WARDEN_BENCH) js

# @warden/node against isolated-vm and quickjs-emscripten in one Node
# process, and its binding overhead against the same calls from Rust (N=calls).
bench-node: node
	cd bench/extism-hello && cargo build --release --target wasm32-wasip1 --target-dir ../../target/extism
	cd bench/js && npm ci --no-audit --no-fund
	cd bench/js && node node.mjs

# warden serve vs wasmtime serve on the hello-http wasi:http component, and
# POST /v1/execute at concurrency 1, 16 and 256. The peer, the wasmtime CLI
# at warden's Wasmtime version, is installed here only (never by CI).
WASMTIME_CLI := target/wasmtime-cli/bin/wasmtime
$(WASMTIME_CLI):
	$(CARGO) install wasmtime-cli --version 50.0.1 --locked --root target/wasmtime-cli
bench-http: build $(WASMTIME_CLI)
	$(WARDEN_BENCH) http

# Python peer (pyodide) from npm, then the Python suite.
bench-python: build
	cd bench/python && npm ci --no-audit --no-fund
	$(WARDEN_BENCH) python

# The book (docs/book.toml, chapters in docs/src/) into docs/book/. Not part
# of `make test`: its Rust examples run there as doctests already.
MDBOOK_VERSION := 0.5.4
docs:
	@command -v mdbook >/dev/null || $(CARGO) install mdbook --locked --version $(MDBOOK_VERSION)
	mdbook build docs

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
