#!/usr/bin/env bash
# Drives the core through its generated Python bindings (the library in-process, with Python
# implementations of KeyProtector, UserInterface, CoreLogger and LinkObserver) against real
# workspace-server, relay and pairing-tool processes and python-fido2.
# Self-contained: builds the library, generates the bindings into target/bindings-py (build
# output, never committed) with libauthenticator_core.so beside them, builds the helper
# processes, then runs pytest. Uses the repo's .venv (tests/python-env.sh).
# Usage: tests/bindings/run.sh [extra pytest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../python-env.sh"
cd "$repo"
out="$repo/target/bindings-py"
cargo build -q -p authenticator-core
cargo build -q -p authenticator-core --features bindgen --bin uniffi-bindgen
cargo build -q -p workspace-server -p relay -p pairing-tool
rm -rf "$out"
mkdir -p "$out"
target/debug/uniffi-bindgen generate --no-format --library target/debug/libauthenticator_core.so \
    --language python --out-dir "$out" >/dev/null
cp target/debug/libauthenticator_core.so "$out/"
export AUTHENTICATOR_BINDINGS="$out"
exec "$venv/bin/python" -m pytest -q tests/bindings "$@"
