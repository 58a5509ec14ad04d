# The two commands of the README:
#   make demo    runs the demo on the embedded defaults
#   make test    installs what it needs, then runs every test
# Everything else here is a step of those two, or a benchmark.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET_DIR := target/wasm

.PHONY: demo test deps test-rust test-wasm-build test-fuzz test-js lint bench bench-core bench-publisher bench-serve bench-js

# The dashboard `vexil serve` ends the demo with imports the npm package's wasm.
demo:
	scripts/build-wasm.sh
	$(CARGO) build --quiet --release -p vexil-publisher
	scripts/demo.sh

test: deps lint test-rust test-wasm-build test-fuzz test-js
	@echo "make test: all passed"

# Debian packages, the wasm32 toolchain and cargo tools. Idempotent: a second run installs
# nothing.
deps:
	scripts/deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-features --all-targets --quiet -- -D warnings

test-rust:
	$(CARGO) test --workspace --all-features

# The core is no_std and ships as WebAssembly: prove it builds for the target we ship.
test-wasm-build:
	PATH="$$(scripts/setup-wasm-toolchain.sh):$$PATH" $(CARGO) build --quiet -p vexil-core \
		--target wasm32-unknown-unknown --release --target-dir $(WASM_TARGET_DIR)

# A short smoke run of the decoder fuzz target over its committed corpus (the long runs are
# recorded in the issue notes). New inputs go to a scratch directory (libFuzzer writes to
# the first corpus), so a test run leaves the checkout clean.
test-fuzz:
	scratch=$$(mktemp -d) && cd crates/vexil-core && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode_evaluate \
		"$$scratch" fuzz/corpus/decode_evaluate -- -max_total_time=20 -runs=2000000 2>&1 | tail -n 3; \
		status=$${PIPESTATUS[0]}; rm -rf "$$scratch"; exit $$status

# The npm package: wasm built and packed as published, then the same golden vectors and API
# tests in Node, workerd (miniflare), Deno, Bun and headless Chromium, and the OpenFeature
# providers against the real SDKs.
# The serve and dashboard tests drive the real `vexil` binary, built after the wasm so that
# the dashboard and package files it embeds are the ones just built.
test-js:
	scripts/build-wasm.sh
	$(CARGO) build --quiet -p vexil-publisher
	scripts/pack-npm.sh
	cd tests/js && node --test --test-concurrency=1 *.test.mjs

bench: bench-core bench-publisher bench-serve bench-js

# Workload W1 from ../shared/bench (generated on first use); results go in the README.
bench-core:
	$(CARGO) bench -p vexil-core --all-features --bench w1

bench-publisher:
	$(CARGO) bench -p vexil-publisher --bench publisher

bench-serve:
	$(CARGO) bench -p vexil-publisher --bench serve

bench-js:
	scripts/build-wasm.sh
	scripts/pack-npm.sh
	cd tests/js && node bench.mjs
