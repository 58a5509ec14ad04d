#!/usr/bin/env bash
# Installs everything `make test` needs on a fresh machine, and nothing twice:
# Debian packages, the wasm32 Rust toolchain, and cargo tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# ruby-flipper: the semantic oracle (tests/oracle). Flipper 0.25, GitLab buckets identically.
# chromium: the browser tests (driven by playwright-core, never a downloaded browser).
# binaryen: wasm-opt, for the size of what browsers download.
scripts/apt-install.sh ruby-flipper chromium binaryen

rustup component add rustfmt clippy >/dev/null 2>&1 || true
scripts/setup-wasm-toolchain.sh >/dev/null

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "deps: installing cargo-fuzz" >&2
  cargo install --quiet --locked cargo-fuzz
fi
