#!/usr/bin/env bash
# Runs the end-to-end scenarios (workspace server + virtual phone + python-fido2, each a real
# process on loopback) against already built binaries: run `cargo build --workspace` first, or
# point $VIRTUAL_PHONE / $WORKSPACE_SERVER at binaries. Uses the repo's .venv.
# Usage: tests/e2e/run.sh [extra pytest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../python-env.sh"
cd "$repo"
exec "$venv/bin/python" -m pytest -q tests/e2e "$@"
