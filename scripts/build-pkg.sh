#!/usr/bin/env bash
# Builds the npm package from one release build of the root crate:
#   target/wasm-glue/  wasm-pack --target web (the .wasm and its glue)
#   pkg/               the npm package (`npm publish pkg/`), made by scripts/pack.mjs: one
#                      package with an `exports` map for browsers, bundlers, Node and React
#   www/pkg/           the demo's copy of the browser entry (pages load /pkg/sessionwire.js)
# Release profile: opt-level "s", LTO, one codegen unit (root Cargo.toml), std rebuilt for size
# (below); then `wasm-opt` (wasm-pack runs it; root Cargo.toml says how) from npm's binaryen
# (never Debian's: its output fails to load).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

if ! wasm-opt --version 2>/dev/null | grep -q "version 1[3-9][0-9]"; then
  echo "build-pkg: wasm-opt from npm binaryen (>= 132) is required; run scripts/setup.sh" >&2
  exit 1
fi

# The standard library rebuilt for size (this cut the gzipped .wasm from 68.8 to 58.6 KB):
# - panics trap at once (`-Cpanic=immediate-abort`) instead of formatting a message that nothing
#   in the browser would show: wasm32-unknown-unknown has no stderr, and no panic hook is
#   installed, so a panic was already an `unreachable` trap seen from JavaScript;
# - no file names for panic locations (`-Zlocation-detail=none`);
# - `{:?}` writes nothing (`-Zfmt-debug=none`): no message the package shows uses `Debug`
#   (crates/core/src/protocol/decode.rs spells out the one quoted string it needs);
# - std's `optimize_for_size` feature picks its smaller algorithms;
# - legacy symbol names, as stable uses: with RUSTC_BOOTSTRAP the compiler takes nightly's v0
#   default, whose longer names end up in the closure exports of the .wasm and the glue;
# - MIR optimization level 1 (of 2): 128 B gzip less, no change bench/store.mjs can see.
# These are unstable options on the machine's stable toolchain (checked with 1.95.0), enabled by
# RUSTC_BOOTSTRAP=1 for this build only; they need the `rust-src` component (scripts/setup.sh).
# A separate target directory keeps these artifacts from invalidating the other wasm32 builds.
export RUSTC_BOOTSTRAP=1
# (SESSIONWIRE_TARGET_DIR: another checkout's target directory, shared by scripts/test-demo.sh.)
export CARGO_TARGET_DIR="${SESSIONWIRE_TARGET_DIR:-$PWD/target}/pkg"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -Csymbol-mangling-version=legacy -Zmir-opt-level=1 --cfg sessionwire_size"
build_std=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
# Our two crates at opt-level "z" (the release profile's "s" stays for the server and for the
# other dependencies, where "z" measured no smaller), except the functions on `receive`'s
# per-frame path: `sessionwire_size` marks them `#[optimize(speed)]`. 1.8 KB gzip less, for
# about 5% of bench/store.mjs's frames/s (all "z" without the marks lost 20%).
opt_levels=(--config 'profile.release.package.sessionwire-core.opt-level="z"'
  --config 'profile.release.package.sessionwire.opt-level="z"')

glue="${CARGO_TARGET_DIR%/pkg}/wasm-glue"
echo "build-pkg: wasm-pack build --release --target web --out-dir $glue"
wasm-pack --quiet build --release --mode no-install --target web --out-dir "$glue" --out-name sessionwire . -- "${build_std[@]}" "${opt_levels[@]}" >/dev/null
node scripts/pack.mjs "$glue"
rm -rf pkg-node # the nodejs build of earlier versions: Node now uses pkg/ itself

# What a browser downloads, file by file and in total (scripts/pkg-size.sh).
scripts/pkg-size.sh | sed 's/^/build-pkg: /'
