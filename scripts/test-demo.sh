#!/usr/bin/env bash
# The README's "run the product" command on a fresh clone: clones this repository's HEAD into a
# temporary directory, runs scripts/setup.sh there (quick: the tools are installed; it installs
# the clone's node_modules), then scripts/demo.sh on a free port, waits for its listening line,
# and fetches / and /pkg/sessionwire.js. The clone builds into target/demo-clone of this
# checkout (SESSIONWIRE_TARGET_DIR): kept between runs so a second run is quick, and apart from
# this checkout's own artifacts, which cargo would otherwise take for the clone's (and the
# other way round) since both trees have the same crates.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ]; then kill -- -"$demo_pid" 2>/dev/null || kill "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

git clone -q "$root" "$work/clone"
cd "$work/clone"
export SESSIONWIRE_TARGET_DIR="$root/target/demo-clone"
bash scripts/setup.sh >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; exit 1; }

# In its own process group, so the server cargo starts is stopped with it.
set -m
scripts/demo.sh --listen 127.0.0.1:0 --db "$work/demo.db" >"$work/demo.out" 2>"$work/demo.err" &
demo_pid=$!
set +m
addr=""
for _ in $(seq 1 1200); do # builds first: up to 10 minutes
  addr=$(sed -n 's|^listening on http://||p' "$work/demo.out" | head -1)
  [ -n "$addr" ] && break
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "test-demo: scripts/demo.sh exited before listening"; cat "$work/demo.out" "$work/demo.err"; exit 1
  fi
  sleep 0.5
done
[ -n "$addr" ] || { echo "test-demo: no listening line"; cat "$work/demo.out" "$work/demo.err"; exit 1; }

page=$(curl -fsS "http://$addr/")
grep -q 'src="app.js"' <<<"$page" || { echo "test-demo: / is not the demo page"; echo "$page" | head; exit 1; }
app=$(curl -fsS "http://$addr/app.js")
grep -q '"/pkg/sessionwire.js"' <<<"$app" || { echo "test-demo: app.js does not load the package"; exit 1; }
headers=$(curl -fsS -D - -o "$work/sessionwire.js" "http://$addr/pkg/sessionwire.js")
grep -qi "content-type: text/javascript" <<<"$headers" || { echo "test-demo: wrong type: $headers"; exit 1; }
[ -s "$work/sessionwire.js" ] || { echo "test-demo: empty /pkg/sessionwire.js"; exit 1; }
echo "test-demo: a fresh clone's scripts/demo.sh serves http://$addr/ and /pkg/sessionwire.js ($(wc -c <"$work/sessionwire.js") bytes)"
