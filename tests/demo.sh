#!/usr/bin/env bash
# The README's main job: builds the virtual phone and runs its end-to-end demo on embedded
# defaults (a vault in a temporary folder, the software key protector), then the hybrid step:
# a browser (webauthn-authenticator-rs, tests/hybrid-e2e) shows a QR code, the phone scans it
# and signs in through our tunnel server, over a fake Bluetooth stack on a private D-Bus.
# Extra arguments go to the virtual phone's demo, e.g. `tests/demo.sh --data-dir /tmp/phone`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/setup.sh
cargo build --locked -q -p virtual-phone -p workspace-server -p relay -p pairing-tool -p tunnel-server
target/debug/virtual-phone demo "$@"
echo
echo "== hybrid: sign in from a browser that shows a QR code (CTAP 2.2 hybrid transport)"
# Its own crate (outside the workspace) builds in its own subfolder of target/ (see its README).
(cd tests/hybrid-e2e && CARGO_TARGET_DIR="$PWD/../../target/hybrid-e2e" cargo build --locked -q --bin hybrid-demo)
exec target/hybrid-e2e/debug/hybrid-demo
