#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target of the core for a bounded time (FUZZ_SECONDS each,
# default 30), starting from the committed seed corpus. Fails on any crash. New inputs go to a
# temporary folder, so the committed corpus stays as it is. Needs nightly and cargo-fuzz
# (scripts/setup.sh installs cargo-fuzz and the pinned nightly of scripts/nightly.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${FUZZ_SECONDS:-30}
. scripts/nightly.sh
if ! command -v cargo-fuzz >/dev/null || ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
  echo "cargo-fuzz or the nightly toolchain is missing: run scripts/setup.sh"
  exit 1
fi
fuzz_dir=crates/core/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=$(cargo +"$NIGHTLY" fuzz list --fuzz-dir "$fuzz_dir")
cargo +"$NIGHTLY" fuzz build --fuzz-dir "$fuzz_dir" -O
for target in $targets; do
  mkdir -p "$work/$target"
  echo "fuzzing $target for ${seconds}s"
  cargo +"$NIGHTLY" fuzz run --fuzz-dir "$fuzz_dir" -O "$target" "$work/$target" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -close_fd_mask=1 2>"$work/$target.log" || {
      tail -40 "$work/$target.log"
      echo "fuzz target $target crashed; the input is under $fuzz_dir/artifacts/$target"
      exit 1
    }
  grep -E 'stat::number_of_executed_units|cov: ' "$work/$target.log" | tail -2
done
echo "fuzz: $(wc -w <<<"$targets") targets ran ${seconds}s each with no crash"
