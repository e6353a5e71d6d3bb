# The one dated nightly the project uses (sourced by setup.sh, build-pkg.sh and test-fuzz.sh):
# the package's size build (unstable options, std rebuilt from rust-src) and cargo-fuzz. The
# workspace's stable is in rust-toolchain.toml.
NIGHTLY=nightly-2026-04-14
