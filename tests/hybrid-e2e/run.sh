#!/usr/bin/env bash
# The hybrid end to end (issue 15) against implementations no one here wrote: the browser is
# webauthn-authenticator-rs 0.6.2, the relying party webauthn-rs-core 0.6.2, Bluetooth a fake
# BlueZ (python-dbusmock) on a private D-Bus, the tunnel our tests/tunnel-server and
# cable-tunnel-server-backend 0.1.0; the phone is the virtual phone's `hybrid` command.
# Installs what it needs (apt packages, the crates.io tunnel server; quiet when present),
# builds (this crate is outside the main workspace but shares its target directory), runs,
# prints `N passed, N failed` and exits non-zero on a failure.
# Usage: tests/hybrid-e2e/run.sh [scenario name filters, e.g. chain_to_tunnel]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# The main workspace's target directory holds the phone and our tunnel server; this crate and
# the crates.io tunnel server build in their own subfolders of it. Sharing the folder itself
# with another workspace makes cargo rebuild (and, interleaved, mix up) units both use, such as
# uniffi and tokio, whose dependencies differ between the two lock files.
main_target="${CARGO_TARGET_DIR:-$root/target}"
export HYBRID_E2E_MAIN_TARGET="$main_target"

# System packages (the bus daemon, python3-dbusmock, libssl-dev among the build's): tests/setup.sh.
source "$root/tests/setup.sh"

# The phone and our tunnel server (no-ops after run-all's workspace build).
(cd "$root" && CARGO_TARGET_DIR="$main_target" cargo build --locked -q -p virtual-phone -p tunnel-server)
# The second tunnel server, as published (its own Cargo.lock, --locked).
tools="$main_target/hybrid-e2e-tools"
if [ ! -x "$tools/bin/cable-tunnel-server-backend" ]; then
  cargo install --locked -q --root "$tools" --target-dir "$tools/build" --version =0.1.0 \
    cable-tunnel-server-backend
fi

cd "$here"
export CARGO_TARGET_DIR="$main_target/hybrid-e2e"
# This crate is outside the workspace, so run-all's format and lint steps do not see it.
cargo fmt -- --check
cargo clippy --locked -q --all-targets -- -D warnings
cargo test --locked -q --lib
exec cargo test --locked -q --test e2e -- "$@"
