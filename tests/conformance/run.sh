#!/usr/bin/env bash
# Runs the CTAP 2.1 conformance suite (pytest + python-fido2 over the CTAPHID socket) against
# an already built virtual phone. It does not build: run `cargo build -p virtual-phone` first,
# or point $VIRTUAL_PHONE at a binary. Uses the repo's .venv, creating it and installing
# tests/conformance/requirements.txt when it is missing or the requirements changed.
# Usage: tests/conformance/run.sh [extra pytest args]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

venv="$repo/.venv"
requirements="tests/conformance/requirements.txt"
stamp="$venv/.conformance-requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

exec "$venv/bin/python" -m pytest -q tests/conformance "$@"
