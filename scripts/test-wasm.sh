#!/usr/bin/env bash
# The npm package's checks (issue 3), from a fresh clone after scripts/setup.sh:
#   1. clippy for wasm32 and native, rustfmt
#   2. the generated TypeScript is up to date (native test)
#   3. the Wasm suites: every golden vector and the JS-facing API, in Node and headless Chromium
#   4. the package builds (pkg/, www/pkg/), within its size budget (50,000 B gzip: the goal)
#   5. node --test tests/node/ against the built pkg (what users install)
#   6. tsc --noEmit on tests/ts/usage.ts and the npm README's snippets against pkg/
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

section() { printf '\n==== %s ====\n' "$*"; }

if [ ! -x node_modules/.bin/tsc ]; then
  section "npm ci (dev tools: typescript, binaryen)"
  npm ci --no-audit --no-fund --loglevel=error
fi

section "rustfmt"
cargo fmt -p sessionwire -- --check

section "clippy (wasm32: what the package compiles, with its size lints from clippy.toml)"
cargo clippy -p sessionwire --target wasm32-unknown-unknown -- -D warnings

section "clippy (native, all targets)"
# (the size lints are for the package only: tests and the server may format and collect)
cargo clippy -p sessionwire --all-targets -- -D warnings -A clippy::disallowed_macros -A clippy::disallowed_methods

section "native tests (generated TypeScript up to date, backoff)"
cargo test -p sessionwire

section "wasm-bindgen-test in Node (wasm-pack test --node)"
wasm-pack test --node --mode no-install

section "wasm-bindgen-test in headless Chromium (wasm-pack test --headless --chrome)"
wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver || echo /usr/bin/chromedriver)" --mode no-install

section "build the package (scripts/build-pkg.sh)"
scripts/build-pkg.sh

section "size budget: what a browser loads (.wasm + entry + react) at most 50,000 B gzip -9 (scripts/pkg-size.sh; the goal)"
# The goal itself (docs/benchmarks.md, "Size", has the history of what it is made of).
scripts/pkg-size.sh --budget 50000 | tail -1

section "the package as shipped, in Node (node --test tests/node/)"
node --test tests/node/

section "TypeScript check of tests/ts/usage.ts and the npm README's snippets (tsc --noEmit -p tests/ts)"
node scripts/readme-snippets.mjs
tsc -p tests/ts
echo "tsc: ok"

section "test-wasm: all passed"
