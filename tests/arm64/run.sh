#!/usr/bin/env bash
# The core's unit tests as arm64 machine code: built for aarch64-unknown-linux-gnu (Debian's
# aarch64 cross gcc links them) and run under Debian's qemu-user (qemu-aarch64, user-mode
# emulation with the cross C library as its root), so ring's arm64 assembly, the bundled SQLite,
# the vault and the CTAP engine run the instructions a phone's CPU runs. Prints cargo's own
# `test result` line.
#
# Cost kept small (it is a second build of the core's dependencies, for another target):
# - one `cargo test` build (debug profile) in the shared target directory: the arm64 artifacts
#   go to target/aarch64-unknown-linux-gnu/, the host's stay untouched;
# - `-C debuginfo=0` for the arm64 units only (CARGO_TARGET_<triple>_RUSTFLAGS), which shortens
#   the link and halves the disk; host units (build scripts, proc macros) are not affected, so
#   they are shared with the host build;
# - the linker and runner are set here, in the environment of this one command, not in
#   .cargo/config.toml, so no other build changes.
#
# Every lib test runs; none is skipped under qemu-user (tests/arm64/README.md).
# Usage: tests/arm64/run.sh [extra `cargo test` arguments, e.g. a test name filter]
set -euo pipefail
cd "$(dirname "$0")/../.."

triple=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || need+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
if [ "${#need[@]}" -gt 0 ]; then
  echo "arm64: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
rustup target add "$triple" >/dev/null 2>&1

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C debuginfo=0"
# The C parts (SQLite, ring's assembly and C) are compiled by the cc crate with these.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

# Show that what runs is arm64 code under emulation, not the host's.
echo "arm64: runner $(qemu-aarch64 --version | head -1)"
cargo test --locked --target "$triple" -p authenticator-core --lib --features testkit "$@"
