#!/usr/bin/env bash
# Consumer tests (issue 12): the packed npm tarball installed into small real apps, as a user
# installs it, with no sessionwire-specific bundler configuration (tests/consumers/README.md):
#   - one React + TypeScript app built by Vite 7, Vite 8 (dev server and build) and webpack 5,
#     each opened in Debian's Chromium against a fresh sessionwire-server;
#   - a Node project: `import` and `require` with the `ws` package, SSR with react-dom/server;
#   - `tsc --noEmit` (strict) of each project against the package's types.
# From a fresh clone after scripts/setup.sh; npm needs registry access (one shared npm cache).
# Each step runs even when an earlier one failed; the exit code is non-zero if any failed.
#
#   scripts/test-consumers.sh
#   SESSIONWIRE_SERVER=path/to/sessionwire-server  use that binary (no cargo build)
#   CONSUMER_SETUPS=vite8-dev,webpack5-build       only those browser setups
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
root=$PWD
consumers=$root/tests/consumers
projects=(vite7 vite8 webpack5 node)

passed=()
failed=()
step() {
  local name=$1
  shift
  printf '\n==== consumers: %s ====\n' "$name"
  local start=$SECONDS
  if "$@"; then
    passed+=("$name")
    printf '==== consumers: %s: ok (%ss)\n' "$name" $((SECONDS - start))
  else
    failed+=("$name")
    printf '==== consumers: %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
  fi
}
die() {
  echo "test-consumers: $*" >&2
  exit 1
}

# The server (release) and the package (built when pkg/ is missing or older than its sources).
if [ -z "${SESSIONWIRE_SERVER:-}" ]; then
  cargo build -q --release -p sessionwire-server || die "cargo build of the server failed"
  export SESSIONWIRE_SERVER=$root/target/release/sessionwire-server
fi
[ -x "$SESSIONWIRE_SERVER" ] || die "no server binary at $SESSIONWIRE_SERVER"
if [ ! -f pkg/package.json ] ||
  [ -n "$(find src crates/core/src scripts/pack.mjs -newer pkg/package.json \( -name '*.rs' -o -name '*.js' -o -name '*.mjs' -o -name '*.ts' \) | head -1)" ]; then
  scripts/build-pkg.sh || die "scripts/build-pkg.sh failed"
fi

# The tarball `npm publish` would upload, under a fixed name the projects depend on.
pack() {
  local name
  name=$(npm pack pkg/ --pack-destination "$consumers" --silent) || return 1
  mv "$consumers/$name" "$consumers/sessionwire.tgz"
  echo "packed $name ($(wc -c <"$consumers/sessionwire.tgz") B)"
}

# Every project installs the tarball fresh (no lockfile: the tarball's hash changes with every
# build; every direct dependency is pinned exactly in package.json), then must hold this very build.
install() {
  node "$consumers/prepare.mjs" || return 1
  local project
  for project in "${projects[@]}"; do
    echo "npm install: tests/consumers/$project"
    rm -rf "$consumers/$project/node_modules/sessionwire"
    (cd "$consumers/$project" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) || return 1
    cmp -s pkg/sessionwire_bg.wasm "$consumers/$project/node_modules/sessionwire/sessionwire_bg.wasm" ||
      { echo "tests/consumers/$project: the installed package is not pkg/'s build"; return 1; }
  done
}

typecheck() {
  local project status=0
  for project in "${projects[@]}"; do
    echo "tsc --noEmit: tests/consumers/$project"
    (cd "$consumers/$project" && node node_modules/typescript/bin/tsc --noEmit -p .) || status=1
  done
  return $status
}

# Without the tarball installed there is nothing to test: these two stop the run.
step pack pack
[ ${#failed[@]} -eq 0 ] || die "npm pack failed"
step install install
[ ${#failed[@]} -eq 0 ] || die "npm install failed"
step types typecheck
step node bash -c "cd '$consumers/node' && node --test"
step browsers node --test --test-concurrency=1 "$consumers/browser.test.mjs"

printf '\n==== consumers summary\n'
printf 'passed: %s\n' "${passed[*]:-none}"
printf 'failed: %s\n' "${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
