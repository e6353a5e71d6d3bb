#!/usr/bin/env bash
# The demo in one command: builds the web package (www/pkg) and starts the server with its
# defaults, then open http://127.0.0.1:8787. Extra arguments go to the server, e.g.
#   scripts/demo.sh --echo-delay-ms 60        (stream like a real agent)
#   scripts/demo.sh --agent command --agent-cmd 'python3 my_agent.py'
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
if [ ! -f www/pkg/sessionwire.js ] || [ -n "$(find src crates/core/src -newer www/pkg/sessionwire.js \( -name '*.rs' -o -name '*.js' \) | head -1)" ]; then
  scripts/build-pkg.sh
fi
echo "open http://127.0.0.1:8787 (Ctrl-C stops the server)"
# SESSIONWIRE_TARGET_DIR: build into another checkout's target directory (scripts/test-demo.sh).
if [ -n "${SESSIONWIRE_TARGET_DIR:-}" ]; then export CARGO_TARGET_DIR="$SESSIONWIRE_TARGET_DIR"; fi
exec cargo run --release -q -p sessionwire-server -- --www www "$@"
