# Sourced by tests/demo.sh and tests/run-all.sh: makes sure a fresh machine has what the build
# needs. Installs only what is missing; safe to run again.
need_apt=()
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
# btleplug (authenticator-core feature `ble`) links libdbus on Linux.
pkg-config --exists dbus-1 2>/dev/null || need_apt+=(libdbus-1-dev)
# A C cross compiler for the build scripts (SQLite, ring) of the Android type check in run-all.
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_apt+=(gcc-aarch64-linux-gnu)
# The vault rollback tests (authenticator-core/tests/vault_rollback.rs) edit a real vault file
# with the SQLite command-line shell, as an attacker with file access would.
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
# The hybrid end to end (tests/hybrid-e2e) and the demo's hybrid step: a private bus daemon,
# Debian's dbusmock (the fake BlueZ; Debian's python3 has its python3-dbus), and openssl's
# headers for the browser side's TLS (webauthn-authenticator-rs).
command -v dbus-daemon >/dev/null 2>&1 || need_apt+=(dbus-daemon)
/usr/bin/python3 -c "import dbusmock" >/dev/null 2>&1 || need_apt+=(python3-dbusmock)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
# The relay's Redis store (tests/relay, RELAY_TEST_STORE=redis) and its multi-instance end
# to end: Debian's Redis and nginx (the load balancer). Neither is started as a service here.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
# The VM test (tests/vm): qemu, busybox-static, cpio, libfido2's tools, OpenSSH's client.
"$(dirname "${BASH_SOURCE[0]}")/vm/install.sh"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv
fi
