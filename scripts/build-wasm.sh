#!/usr/bin/env bash
# Builds the npm package's WebAssembly: the core (pkg/dist/vexil.js + vexil_bg.wasm) and the
# separately loaded signature verifier (pkg/dist/verify.js + verify_bg.wasm).
#
# Size matters here (the browser downloads it), so core and alloc are rebuilt with
# `panic = immediate-abort` (no panic formatting machinery) — that needs the standard
# library's source, which scripts/setup-wasm-toolchain.sh provides — and wasm-opt -Oz runs
# over wasm-bindgen's output.
set -euo pipefail
cd "$(dirname "$0")/.."
toolchain=$(scripts/setup-wasm-toolchain.sh)
export PATH="$toolchain:$PATH"
WASM_BINDGEN_VERSION=0.2.130
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  echo "build-wasm: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (once, a few minutes)" >&2
  # Not --locked: its lockfile pins a crate release the registry may not serve.
  cargo install --quiet wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi
command -v wasm-opt >/dev/null || scripts/apt-install.sh binaryen

out=pkg/dist
target=target/wasm-pkg
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
for crate in vexil-wasm vexil-verify; do
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Ctarget-feature=-reference-types,-multivalue" \
    cargo build --quiet --target wasm32-unknown-unknown --profile wasm -p "$crate" \
      --target-dir "$target" -Zbuild-std=core,alloc
done
features="--enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int"
for pair in vexil_wasm:vexil vexil_verify:verify; do
  crate=${pair%%:*} name=${pair##*:}
  wasm-bindgen --target web --out-dir "$out.tmp" --out-name "$name" "$target/wasm32-unknown-unknown/wasm/$crate.wasm"
  # shellcheck disable=SC2086
  wasm-opt -Oz $features --strip-debug --strip-producers "$out.tmp/${name}_bg.wasm" -o "$out.tmp/${name}_bg.wasm"
done
# wasm-bindgen puts the host imports under a hashed snippets/ path; the SDK imports the same
# module (to register the verifier), so give it a stable name.
host=$(find "$out.tmp/snippets" -name host.js)
mv "$host" "$out.tmp/host.js"
rm -rf "$out.tmp/snippets"
sed -i "s#'\./snippets/[^']*/host\.js'#'./host.js'#" "$out.tmp/vexil.js"
grep -q "from './host.js'" "$out.tmp/vexil.js"
rm -f "$out.tmp"/*.d.ts
rm -rf "$out" && mv "$out.tmp" "$out"
for f in "$out"/*.wasm "$out"/*.js; do
  printf 'build-wasm: %-24s %7d bytes, %6d gzip\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)" >&2
done
