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
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
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
