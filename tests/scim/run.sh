#!/usr/bin/env bash
# Independent SCIM 2.0 checks against a real workspace-server (issue 20): scim2-tester's
# RFC 7643/7644 compliance checks, then schemathesis with proto/scim-openapi.yaml. Reuses the
# debug build (`cargo build -p workspace-server`, or $WORKSPACE_SERVER); pip-installs the
# pinned checkers into the repo's .venv when missing or changed. Prints each failure and
# `N passed, N failed`; deliberate deviations are explained in proto/scim.md.
# Usage: tests/scim/run.sh   (SCHEMATHESIS_EXAMPLES=N to change the examples per operation)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../python-env.sh"
cd "$repo"
requirements="$repo/tests/scim/requirements.txt"
stamp="$venv/.scim-requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
exec timeout 1800 "$venv/bin/python" tests/scim/check.py
