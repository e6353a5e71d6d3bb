#!/usr/bin/env bash
# Installs every tool the tests and the demo need, on a fresh machine, from the package
# registries only (crates.io, npm, Debian apt). Idempotent: each step checks what is already
# there at the right version and skips it, so a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep these in step with Cargo.toml (wasm-bindgen is pinned with `=`; wasm-pack uses the
# wasm-bindgen-cli on PATH only when its version equals the one in Cargo.lock).
WASM_BINDGEN_VERSION=0.2.129
WASM_PACK_VERSION=0.15.1
BINARYEN_VERSION=132.0.0

log() { printf '[setup] %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

# Debian packages: Chromium and its driver for the headless browser tests, and PostgreSQL 15
# (its server binaries: scripts/test-postgres.sh starts a throwaway cluster; no system service
# is used). Installed in the background while cargo builds, because they take about a minute.
apt_pid=""
apt_packages=()
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_packages+=(chromium chromium-driver)
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  apt_packages+=(postgresql)
fi
# openssl: the TLS test of the PostgreSQL store makes its certificates with it.
if ! command -v openssl >/dev/null; then
  apt_packages+=(openssl)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  log "installing ${apt_packages[*]} (apt)"
  ( $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/tmp/sessionwire-apt.log 2>&1 ) &
  apt_pid=$!
fi

log "rust toolchains: the workspace's (rust-toolchain.toml) and the pinned nightly"
# rust-toolchain.toml names the stable with its components and the wasm32 target; `rustup
# toolchain install` with no name installs exactly that (idempotent).
rustup toolchain install
# The package's size build rebuilds std for size from its source, and cargo-fuzz needs a
# nightly: one dated nightly for both (scripts/nightly.sh).
. scripts/nightly.sh
rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 &&
  [ -d "$(rustup run "$NIGHTLY" rustc --print sysroot)/lib/rustlib/src/rust/library" ] ||
  rustup toolchain install "$NIGHTLY" --profile minimal -c rust-src

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --force
fi
if ! wasm-pack --version 2>/dev/null | grep -q " $WASM_PACK_VERSION\$"; then
  log "installing wasm-pack $WASM_PACK_VERSION (about 2 minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi

# Fuzzing: cargo-fuzz drives libFuzzer on the pinned nightly (above).
if ! command -v cargo-fuzz >/dev/null; then
  log "installing cargo-fuzz (about 1 minute)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

# npm packages for the project's JavaScript side: binaryen (wasm-opt), typescript (tsc) and
# playwright-core (drives Debian's Chromium). Installed from package-lock.json.
if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
if ! command -v wasm-opt >/dev/null && [ ! -x node_modules/.bin/wasm-opt ]; then
  log "installing binaryen@$BINARYEN_VERSION (wasm-opt) globally"
  npm install -g --no-audit --no-fund "binaryen@$BINARYEN_VERSION"
fi

if [ -n "$apt_pid" ]; then
  log "waiting for apt"
  if ! wait "$apt_pid"; then cat /tmp/sessionwire-apt.log; exit 1; fi
fi
log "done: $(wasm-bindgen --version), $(wasm-pack --version), chromium $(chromium --version 2>/dev/null | awk '{print $2}')"
