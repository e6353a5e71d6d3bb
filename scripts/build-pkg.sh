#!/usr/bin/env bash
# Builds the npm package from one release build of the root crate:
#   target/wasm-glue/  cargo build + wasm-bindgen --target web + wasm-opt (the .wasm and its glue)
#   pkg/               the npm package (`npm publish pkg/`), made by scripts/pack.mjs: one
#                      package with an `exports` map for browsers, bundlers, Node and React
#   www/pkg/           the demo's copy of the browser entry (pages load /pkg/sessionwire.js)
# Release profile: opt-level "s", LTO, one codegen unit (root Cargo.toml), std rebuilt for size on
# the pinned nightly below; then `wasm-opt` from npm's binaryen (never Debian's: its output fails
# to load).
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
# - legacy symbol names, as stable uses: nightly's default is v0, whose longer names end up in
#   the closure exports of the .wasm and the glue;
# - MIR optimization level 1 (of 2): 128 B gzip less, no change bench/store.mjs can see.
# These are unstable options, so this build runs on one dated nightly, installed by
# scripts/setup.sh with its `rust-src` (std is built from source: no wasm32 `rust-std` needed). If
# that toolchain is missing, the build falls back to the workspace's stable without them and says
# so; the package is then ~5 KB larger, and pkg/.build-kind says "stable" (pkg-size.sh's budget
# check allows for it).
# A separate target directory keeps these artifacts from invalidating the other wasm32 builds.
# (SESSIONWIRE_TARGET_DIR: another checkout's target directory, shared by scripts/test-demo.sh.)
. scripts/nightly.sh
export CARGO_TARGET_DIR="${SESSIONWIRE_TARGET_DIR:-$PWD/target}/pkg"
sysroot=$(rustup run "$NIGHTLY" rustc --print sysroot 2>/dev/null || true)
if [ -n "$sysroot" ] && [ -d "$sysroot/lib/rustlib/src/rust/library" ]; then
  kind=nightly
  toolchain=(+"$NIGHTLY")
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -Csymbol-mangling-version=legacy -Zmir-opt-level=1 --cfg sessionwire_size"
  build_std=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
else
  kind=stable
  toolchain=()
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=""
  build_std=()
  echo "build-pkg: $NIGHTLY with rust-src is not installed (scripts/setup.sh installs it):" \
    "building on stable without the size options; the package will be ~5 KB larger" >&2
fi
# Our two crates at opt-level "z" (the release profile's "s" stays for the server and for the
# other dependencies, where "z" measured no smaller), except the functions on `receive`'s
# per-frame path: `sessionwire_size` marks them `#[optimize(speed)]`. 1.8 KB gzip less, for
# about 5% of bench/store.mjs's frames/s (all "z" without the marks lost 20%).
opt_levels=(--config 'profile.release.package.sessionwire-core.opt-level="z"'
  --config 'profile.release.package.sessionwire.opt-level="z"')

# wasm-opt after wasm-bindgen. --converge and stripping the producers and target-features
# sections: ~0.45 KB gzip less than plain -Oz. "-Os" with one-caller inlining limited to
# functions of 20 instructions (-ocimfs=20; -Oz inlines every function that has one caller) is
# 1.5 KB smaller gzipped than -Oz, though larger raw: fewer inlined copies of the same helpers
# (sweep in docs/benchmarks.md). --low-memory-unused lets it fold more address arithmetic: Rust's
# wasm32 layout puts the stack below the data at 1 MB, growing down, so the low 1 KB is only
# reached by a stack overflow.
wasm_opt=(--low-memory-unused -Os -ocimfs=20 --converge --strip-producers --strip-target-features)
# SESSIONWIRE_PROFILE=1: a build with names for CPU profiles (`--cpu-prof`, Chromium's profiler):
# the .wasm keeps its function names, the JavaScript its identifiers. Larger; never shipped.
names=()
if [ "${SESSIONWIRE_PROFILE:-}" = 1 ]; then names=(-g); fi

glue="${CARGO_TARGET_DIR%/pkg}/wasm-glue"
echo "build-pkg: cargo ${toolchain[*]} build --release --target wasm32-unknown-unknown -p sessionwire ($kind)"
cargo "${toolchain[@]}" build -q --release --target wasm32-unknown-unknown -p sessionwire --lib "${build_std[@]}" "${opt_levels[@]}"
rm -rf "$glue"
wasm-bindgen --target web --out-dir "$glue" --out-name sessionwire "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/sessionwire.wasm"
# The first run also puts the functions in the order of their Rust names, so a module's
# functions sit side by side and gzip finds their likenesses: 211 B gzip less (2026-12-04; in
# the second run, with the names gone, it was 620 B more).
wasm-opt "${names[@]}" "${wasm_opt[@]}" --reorder-functions-by-name "$glue/sessionwire_bg.wasm" -o "$glue/sessionwire_bg.wasm"
# The names of the .wasm's imports, exports and import module, minified to "a", "b", …:
# wasm-bindgen's carry a 16-digit hash each (`__wbg_build_904e54d1a8d7e5d0`), which gzip cannot
# shrink, in the .wasm and again in the glue (~1 KB gzip of both). The pass prints the renaming
# as JSON, and scripts/pack.mjs renames them in the glue to match. The features are named, not
# detected (the target-features section is stripped above): Rust's wasm32 defaults, which every
# current browser and Node 20 run. Not --all-features: with it binaryen writes the import
# section in the "compact imports" proposal's encoding, which no engine reads yet.
features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-reference-types --enable-multivalue
  --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals)
wasm-opt "${names[@]}" "${features[@]}" --minify-imports-and-exports-and-modules "$glue/sessionwire_bg.wasm" \
  -o "$glue/sessionwire_bg.wasm" >"$glue/names.json"
# The optimization passes once more, after the renaming: 126 B gzip less (measured 2026-12-04;
# a third run gains nothing). Not in the renaming's own run: `--converge` would run the renaming
# again, and print its JSON twice.
wasm-opt "${names[@]}" "${features[@]}" "${wasm_opt[@]}" "$glue/sessionwire_bg.wasm" -o "$glue/sessionwire_bg.wasm"
SESSIONWIRE_PROFILE="${SESSIONWIRE_PROFILE:-}" node scripts/pack.mjs "$glue"
# Which build this is, for scripts/pkg-size.sh (not a published file: package.json lists them).
echo "$kind" >pkg/.build-kind
rm -rf pkg-node # the nodejs build of earlier versions: Node now uses pkg/ itself

# What a browser downloads, file by file and in total (scripts/pkg-size.sh).
scripts/pkg-size.sh | sed 's/^/build-pkg: /'
