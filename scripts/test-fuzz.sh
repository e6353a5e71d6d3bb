#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target of the core for a bounded time (FUZZ_SECONDS each,
# default 30), starting from the committed seed corpus. Fails on any crash. New inputs go to a
# temporary folder, so the committed corpus stays as it is. Needs nightly and cargo-fuzz
# (scripts/setup.sh installs cargo-fuzz; nightly comes with the machine's rustup).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${FUZZ_SECONDS:-30}
if ! command -v cargo-fuzz >/dev/null || ! rustup toolchain list | grep -q '^nightly'; then
  echo "cargo-fuzz or the nightly toolchain is missing: run scripts/setup.sh"
  exit 1
fi
fuzz_dir=crates/core/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=$(cargo +nightly fuzz list --fuzz-dir "$fuzz_dir")
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" -O
for target in $targets; do
  mkdir -p "$work/$target"
  echo "fuzzing $target for ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" -O "$target" "$work/$target" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -close_fd_mask=1 2>"$work/$target.log" || {
      tail -40 "$work/$target.log"
      echo "fuzz target $target crashed; the input is under $fuzz_dir/artifacts/$target"
      exit 1
    }
  grep -E 'stat::number_of_executed_units|cov: ' "$work/$target.log" | tail -2
done
echo "fuzz: $(wc -w <<<"$targets") targets ran ${seconds}s each with no crash"
