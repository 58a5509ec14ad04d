#!/usr/bin/env bash
# Makes sure a Rust toolchain that can build wasm32-unknown-unknown exists, and prints the
# directory whose `cargo`/`rustc` to put first on PATH for wasm builds.
#
# Preferred: rustup's wasm32 target. Where rustup cannot download it (closed networks), we
# fall back to Debian's rustc-web toolchain and build its wasm32 standard library once from
# rust-web-src (see DEVELOPERS.md). "Has the target" is judged by libcore in the sysroot,
# because an interrupted `rustup target add` leaves the target listed but empty.
set -euo pipefail

has_wasm_std() { # $1: rustc
  local sysroot
  sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
  compgen -G "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib/libcore-*.rlib" >/dev/null
}

has_std_source() { # $1: rustc
  local sysroot
  sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
  [ -f "$sysroot/lib/rustlib/src/rust/library/core/Cargo.toml" ]
}

log() { echo "setup-wasm: $*" >&2; }

# VEXIL_WASM_TOOLCHAIN=debian forces the fallback (to test it where rustup works).
if [ "${VEXIL_WASM_TOOLCHAIN:-}" != debian ] && command -v rustup >/dev/null 2>&1; then
  rustc_path=$(rustup which rustc 2>/dev/null || true)
  if [ -n "$rustc_path" ] && ! has_wasm_std "$rustc_path"; then
    timeout 120 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
  fi
  # The npm package's build recompiles core with -Zbuild-std, which needs the source.
  if [ -n "$rustc_path" ] && ! has_std_source "$rustc_path"; then
    timeout 120 rustup component add rust-src >/dev/null 2>&1 || true
  fi
  if [ -n "$rustc_path" ] && has_wasm_std "$rustc_path" && has_std_source "$rustc_path"; then
    dirname "$rustc_path"
    exit 0
  fi
fi

log "rustup has no wasm32 target here; using Debian's rustc-web toolchain"
if ! has_wasm_std /usr/bin/rustc; then
  "$(dirname "$0")/apt-install.sh" rustc-web cargo-web rust-web-src lld-22
  log "building the wasm32 standard library from rust-web-src (once)"
  work=$(mktemp -d)
  mkdir -p "$work/src"
  printf '[package]\nname = "vexil-wasm-sysroot"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n[workspace]\n' >"$work/Cargo.toml"
  printf '#![no_std]\n' >"$work/src/lib.rs"
  # embed-bitcode: without it, `lto = true` builds later fail with "Can't find section .llvmbc".
  (cd "$work" && PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C embed-bitcode=yes" \
    cargo build --quiet --release --target wasm32-unknown-unknown -Z build-std=std,panic_abort)
  dest=$(/usr/bin/rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown/lib
  mkdir -p "$dest"
  find "$work/target/wasm32-unknown-unknown/release/deps" -name '*.rlib' \
    ! -name 'libvexil_wasm_sysroot-*' -exec cp {} "$dest/" \;
  rm -rf "$work"
  has_wasm_std /usr/bin/rustc || { log "wasm32 standard library build failed"; exit 1; }
fi
echo /usr/bin
