#!/usr/bin/env bash
# Prints what a browser downloads of the built package (pkg/): the .wasm, the browser entry
# (glue, src/js and snippets in one module) and sessionwire/react, raw and gzip -9, then their total. With `--budget BYTES`, fails
# when the gzipped total is larger (scripts/test-wasm.sh checks issue 3's 50 KB goal).
set -euo pipefail
cd "$(dirname "$0")/.."
budget=""
if [ "${1:-}" = "--budget" ]; then budget=$2; fi

raw_total=0
gzip_total=0
for f in pkg/sessionwire_bg.wasm pkg/sessionwire.js pkg/react.js; do
  raw=$(stat -c%s "$f")
  gz=$(gzip -9c "$f" | wc -c)
  raw_total=$((raw_total + raw))
  gzip_total=$((gzip_total + gz))
  printf '%-26s %7d bytes raw, %6d bytes gzip -9\n' "$f" "$raw" "$gz"
done
printf '%-26s %7d bytes raw, %6d bytes gzip -9\n' "total" "$raw_total" "$gzip_total"

# The stable fallback of scripts/build-pkg.sh (no pinned nightly: std not rebuilt for size) is
# held to a looser budget, and says so.
if [ -n "$budget" ] && [ "$(cat pkg/.build-kind 2>/dev/null)" = "stable" ]; then
  budget=$((budget + 8000))
  echo "pkg-size: a stable build (the pinned nightly is missing): budget raised to $budget B" >&2
fi
if [ -n "$budget" ] && [ "$gzip_total" -gt "$budget" ]; then
  echo "pkg-size: the package is $gzip_total B gzipped, over its budget of $budget B" >&2
  echo "pkg-size: (docs/benchmarks.md lists what it is made of and what was cut)" >&2
  exit 1
fi
