#!/usr/bin/env bash
# Browser end-to-end tests: builds the server and the web package, then drives the demo page in
# Debian's Chromium with playwright-core (node's test runner). Screenshots go to
# target/e2e-screenshots (printed by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
cargo build -q -p sessionwire-server -p sessionwire-fake-acp-agent
if [ ! -f www/pkg/sessionwire.js ] || [ -n "$(find src crates/core/src -newer www/pkg/sessionwire.js \( -name '*.rs' -o -name '*.js' \) | head -1)" ]; then
  scripts/build-pkg.sh
fi
node --test --test-concurrency=1 tests/e2e/
