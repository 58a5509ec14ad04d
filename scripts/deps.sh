#!/usr/bin/env bash
# Installs everything `make test` needs on a fresh machine, and nothing twice:
# Debian packages, the wasm32 Rust toolchain, and cargo tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# ruby-flipper: the semantic oracle (tests/oracle). Flipper 0.25, GitLab buckets identically.
# chromium: the browser tests (driven by playwright-core, never a downloaded browser).
# binaryen: wasm-opt, for the size of what browsers download.
# postgresql, nginx: the team-setup tests run a real PostgreSQL and an HTTP origin taking PUT
# (nginx's WebDAV module), started by the tests themselves on 127.0.0.1.
# curl, python3-venv: the write API is tested with GitLab's documented curl examples and
# GitLab's own Python client.
# prometheus: rollout guards are read from a real Prometheus, started by the tests on 127.0.0.1.
scripts/apt-install.sh ruby-flipper chromium binaryen postgresql nginx curl python3-venv prometheus

rustup component add rustfmt clippy >/dev/null 2>&1 || true

# python-gitlab, GitLab's API client, unmodified, in a virtualenv of the checkout's own.
PYTHON_GITLAB_VERSION=8.6.0
if ! target/venv/bin/python -c "import gitlab, sys; sys.exit(gitlab.__version__ != '$PYTHON_GITLAB_VERSION')" 2>/dev/null; then
  echo "deps: installing python-gitlab $PYTHON_GITLAB_VERSION" >&2
  python3 -m venv target/venv
  target/venv/bin/pip install --quiet --disable-pip-version-check "python-gitlab==$PYTHON_GITLAB_VERSION"
fi
scripts/setup-wasm-toolchain.sh >/dev/null

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "deps: installing cargo-fuzz" >&2
  cargo install --quiet --locked cargo-fuzz
fi

# Garage, a real distributed S3-compatible store, for the object-storage tests. Only what the
# tests use is built (SQLite metadata; no LMDB, Consul, Kubernetes, telemetry), which skips a
# good part of the default dependency tree. The binary is checked first, so it is built once.
GARAGE_VERSION=2.5.0
garage_bin=$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")
if ! "$garage_bin" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
  echo "deps: building garage $GARAGE_VERSION (once; takes a while on two cores)" >&2
  # A test server, not production: less optimisation and no debug info cut the build time.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --quiet --locked "garage@$GARAGE_VERSION" --no-default-features --features bundled-libs,sqlite
fi
