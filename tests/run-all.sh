#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs, builds once, then
# runs the format and lint gates, the Rust tests, the python-fido2 conformance suite against the
# virtual phone, the end-to-end scenarios, and the binding generation check.
# Usage: tests/run-all.sh        (this is the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "build (once; every later step reuses it)"
cargo build --locked --workspace --all-targets

step "lint"
cargo clippy --locked --workspace --all-targets -- -D warnings
# The BLE adapter (btleplug) is behind a feature the FFI library leaves off; check it compiles.
cargo clippy --locked -p authenticator-core --features ble --all-targets -- -D warnings

step "rust tests"
cargo test --locked --workspace

step "conformance: python-fido2 against the virtual phone's CTAPHID socket"
tests/conformance/run.sh

step "end to end: workspace server, relay, pairing tool, virtual phone, python-fido2"
tests/e2e/run.sh

step "uniffi bindings generate (python, kotlin)"
out=target/bindings
rm -rf "$out"
passed=0
failed=0
cargo build --locked -q -p authenticator-core --features bindgen --bin uniffi-bindgen
for lang in python kotlin; do
  if target/debug/uniffi-bindgen generate --no-format \
      --library target/debug/libauthenticator_core.so --language "$lang" --out-dir "$out/$lang" >/dev/null \
     && grep -rq "KeyProtector" "$out/$lang"; then
    passed=$((passed + 1))
  else
    echo "bindings for $lang did not generate"
    failed=$((failed + 1))
  fi
done
echo "bindings: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
