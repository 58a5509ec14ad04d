#!/usr/bin/env bash
# Packs pkg/ as npm would publish it (the CDN build included) and installs that tarball into
# tests/js, so the JS tests exercise exactly what users get (files, exports conditions), with
# tests/js's dependencies (OpenFeature SDKs, miniflare, deno, bun, playwright-core, the peers).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/npm
rm -f target/npm/vexil-*.tgz
# pkg's own devDependency is esbuild, for the CDN build `npm pack` makes first (pkg/build.mjs).
(
  cd pkg
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  npm pack --silent --pack-destination ../target/npm >/dev/null
)
cd tests/js
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm install --no-save --no-audit --no-fund --loglevel=error ../../target/npm/vexil-*.tgz
# The guarded-rollout example runs against the checkout's package (a link to pkg/) with its
# own prom-client.
cd ../../examples/guarded-rollout
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
