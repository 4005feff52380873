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
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

# The test's own system needs (tests/setup.sh installs the build's): the bus daemon, Debian's
# dbusmock (its python3 has python3-dbus), and openssl's headers for the browser's TLS.
need_apt=()
command -v dbus-daemon >/dev/null 2>&1 || need_apt+=(dbus-daemon)
/usr/bin/python3 -c "import dbusmock" >/dev/null 2>&1 || need_apt+=(python3-dbusmock)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
pkg-config --exists dbus-1 2>/dev/null || need_apt+=(libdbus-1-dev)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The phone and our tunnel server (no-ops after run-all's workspace build).
(cd "$root" && cargo build --locked -q -p virtual-phone)
# The second tunnel server, as published (its own Cargo.lock, --locked).
tools="$CARGO_TARGET_DIR/hybrid-e2e-tools"
if [ ! -x "$tools/bin/cable-tunnel-server-backend" ]; then
  cargo install --locked -q --root "$tools" --version =0.1.0 cable-tunnel-server-backend
fi

cd "$here"
cargo build --locked -q --tests
exec cargo test --locked -q --test e2e -- "$@"
