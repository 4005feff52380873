#!/usr/bin/env bash
# Runs the CTAP 2.1 conformance suite (pytest + python-fido2 over the CTAPHID socket) against
# an already built virtual phone. It does not build: run `cargo build -p virtual-phone` first,
# or point $VIRTUAL_PHONE at a binary. Uses the repo's .venv (tests/python-env.sh).
# Usage: tests/conformance/run.sh [extra pytest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../python-env.sh"
cd "$repo"
exec "$venv/bin/python" -m pytest -q tests/conformance "$@"
