#!/usr/bin/env bash
# The one test command: every check the project has, in order, from a fresh clone after
# scripts/setup.sh. Each section runs even when an earlier one failed, so one run shows
# everything that is wrong; the exit code is non-zero if any section failed.
#
#   scripts/test.sh            everything
#   scripts/test.sh core wasm  only the named sections (see SECTIONS below)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

SECTIONS=(fmt clippy purity core server postgres wasm consumers e2e demo reliability fuzz)
selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=("${SECTIONS[@]}")

passed=()
failed=()
run() {
  local name=$1
  shift
  printf '\n==== %s ====\n' "$name"
  local start=$SECONDS
  if "$@"; then
    passed+=("$name")
    printf '==== %s: ok (%ss)\n' "$name" $((SECONDS - start))
  else
    failed+=("$name")
    printf '==== %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
  fi
}

# The core's tests, then the one test of its build without `std-floats` (the Wasm package's
# configuration: floats through an installed codec), which only runs in that build.
core_tests() {
  cargo test -p sessionwire-core || return 1
  cargo test -p sessionwire-core --no-default-features --lib without_std
}

# The core must stay pure (PROTOCOL.md's "no I/O, clock, randomness"): it builds for wasm32
# and none of these crates appears among its normal dependencies. The same section checks that
# no crate's modules depend on each other in a cycle (scripts/module-graph.py).
purity() {
  cargo build -q -p sessionwire-core --target wasm32-unknown-unknown || return 1
  local forbidden='^(tokio|mio|wasm-bindgen|js-sys|web-sys|rusqlite|libsqlite3-sys|getrandom|rand|socket2|chrono) '
  local tree
  tree=$(cargo tree -p sessionwire-core -e normal --prefix none --format '{p}' | sort -u) || return 1
  if grep -E "$forbidden" <<<"$tree"; then
    echo "sessionwire-core depends on the crates above; it must stay free of I/O, async runtimes and bindings"
    return 1
  fi
  echo "sessionwire-core builds for wasm32 and depends only on: $(awk '{print $1}' <<<"$tree" | tr '\n' ' ')"
  # Layers, not a tangle: no crate's top-level modules use each other in a cycle.
  local crate
  for crate in src crates/core/src crates/server/src; do
    scripts/module-graph.py "$crate" || return 1
  done
}

section() {
  case $1 in
    fmt) run fmt cargo fmt --all --check ;;
    clippy) run clippy cargo clippy -q --workspace --all-targets -- -D warnings -A clippy::disallowed_macros -A clippy::disallowed_methods ;;
    purity) run purity purity ;;
    core) run core core_tests ;;
    server) run server cargo test -p sessionwire-server -p sessionwire-fake-acp-agent ;;
    postgres) run postgres scripts/test-postgres.sh ;;
    wasm) run wasm scripts/test-wasm.sh ;;
    consumers) run consumers scripts/test-consumers.sh ;;
    e2e) run e2e scripts/test-e2e.sh ;;
    demo) run demo scripts/test-demo.sh ;;
    reliability) run reliability scripts/test-reliability.sh ;;
    fuzz) run fuzz scripts/test-fuzz.sh ;;
    *) echo "unknown section $1 (known: ${SECTIONS[*]})"; failed+=("$1") ;;
  esac
}

for name in "${selected[@]}"; do
  section "$name"
done

printf '\n==== summary\n'
printf 'passed: %s\n' "${passed[*]:-none}"
printf 'failed: %s\n' "${failed[*]:-none}"
printf 'sections: %d passed, %d failed\n' "${#passed[@]}" "${#failed[@]}"
[ ${#failed[@]} -eq 0 ]
