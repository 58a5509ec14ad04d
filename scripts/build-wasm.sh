#!/usr/bin/env bash
# Builds the npm package's WebAssembly: the core (pkg/dist/vexil_bg.wasm), the core for pages
# that read browser snapshots only (pkg/dist/vexil_browser_bg.wasm) and the separately loaded
# signature verifier (pkg/dist/verify_bg.wasm). None has generated glue: their
# exports are functions of numbers, and pkg/src/core.js is their JS side.
#
# Size matters here (the browser downloads it), so core and alloc are rebuilt with
# `panic = immediate-abort` (no panic formatting machinery) — that needs the standard
# library's source, which scripts/setup-wasm-toolchain.sh provides — and wasm-opt -Oz runs
# over the result.
set -euo pipefail
cd "$(dirname "$0")/.."
toolchain=$(scripts/setup-wasm-toolchain.sh)
export PATH="$toolchain:$PATH"
command -v wasm-opt >/dev/null || scripts/apt-install.sh binaryen

out=pkg/dist
target=target/wasm-pkg
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
build() { # $1: crate, $2: target dir, then cargo's feature flags
  local crate=$1 dir=$2
  shift 2
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -Ctarget-feature=-reference-types,-multivalue" \
    cargo build --quiet --target wasm32-unknown-unknown --profile wasm -p "$crate" \
      --target-dir "$dir" -Zbuild-std=core,alloc "$@"
}
build vexil-wasm "$target"
build vexil-verify "$target"
# The browser-snapshot module: the core without full snapshots' decoding (its own target
# directory, so neither build evicts the other's artifacts).
build vexil-wasm "$target-browser" --no-default-features
features="--enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int"
opt() { # $1: in, $2: out
  # shellcheck disable=SC2086
  wasm-opt -Oz $features --strip-debug --strip-producers "$1" -o "$2"
}
opt "$target/wasm32-unknown-unknown/wasm/vexil_wasm.wasm" "$out.tmp/vexil_bg.wasm"
opt "$target/wasm32-unknown-unknown/wasm/vexil_verify.wasm" "$out.tmp/verify_bg.wasm"
opt "$target-browser/wasm32-unknown-unknown/wasm/vexil_wasm.wasm" "$out.tmp/vexil_browser_bg.wasm"
rm -rf "$out" && mv "$out.tmp" "$out"
for f in "$out"/*.wasm; do
  printf 'build-wasm: %-24s %7d bytes, %6d gzip\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)" >&2
done
