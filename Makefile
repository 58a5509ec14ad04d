# The two commands of the README:
#   make demo    runs the demo on the embedded defaults
#   make test    installs what it needs, then runs every test
# Everything else here is a step of those two, or a benchmark.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET_DIR := target/wasm

.PHONY: demo test deps test-rust test-wasm-build test-fuzz lint bench bench-core bench-publisher

demo:
	$(CARGO) build --quiet --release -p vexil-publisher
	scripts/demo.sh

test: deps lint test-rust test-wasm-build test-fuzz
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
# recorded in the issue notes).
test-fuzz:
	cd crates/vexil-core && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode_evaluate \
		fuzz/corpus/decode_evaluate -- -max_total_time=20 -runs=2000000 2>&1 | tail -n 3

bench: bench-core bench-publisher

# Workload W1 from ../shared/bench (generated on first use); results go in the README.
bench-core:
	$(CARGO) bench -p vexil-core --all-features --bench w1

bench-publisher:
	$(CARGO) bench -p vexil-publisher --bench publisher
