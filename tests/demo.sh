#!/usr/bin/env bash
# The README's main job: builds the virtual phone and runs its end-to-end demo on embedded
# defaults (a vault in a temporary folder, the software key protector).
# Extra arguments go to the demo, e.g. `tests/demo.sh --data-dir /tmp/phone`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/setup.sh
cargo build --locked -q -p virtual-phone -p workspace-server -p relay -p pairing-tool
exec target/debug/virtual-phone demo "$@"
