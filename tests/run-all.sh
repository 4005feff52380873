#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs, builds once, then
# runs the format and lint gates, the Rust tests, the python-fido2 conformance suite against the
# virtual phone, the end-to-end scenarios, independent SCIM checkers against the workspace
# server, the hybrid end to end (tests/hybrid-e2e: a browser
# and a tunnel server no one here wrote), the VM test (a real kernel's uhid/hidraw under qemu
# with libfido2 and OpenSSH as the clients), the Python, Kotlin and Swift tests through the
# generated bindings (Swift: the iOS Kit and the bindings compiled and tested by Debian's Swift,
# tests/swift), the core's unit tests as arm64 code under qemu-user, and a type check of the
# core for Android.
# Usage: tests/run-all.sh        (this is the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/setup.sh

step() { printf '\n== %s\n' "$*"; }

# One build from scratch: incremental caches would only add gigabytes (CI's disk is shared
# with the per-machine caches), not speed. Say how much room there is before building.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "disk: $(df -Pk . | awk 'NR==2 {printf "%.1f GB free", $4/1048576}') for the build in $(pwd)/target"

step "format"
cargo fmt --all -- --check

step "build (once; every later step reuses it)"
cargo build --locked --workspace --all-targets

step "lint"
cargo clippy --locked --workspace --all-targets -- -D warnings
# The BLE adapter (btleplug) is behind a feature the FFI library leaves off; check it compiles.
cargo clippy --locked -p authenticator-core --features ble --all-targets -- -D warnings

step "rust tests"
cargo test --locked --workspace

step "relay on Redis: the relay's whole suite again, each relay on a redis-server of its own"
RELAY_TEST_STORE=redis cargo test --locked -p relay --tests

step "conformance: python-fido2 against the virtual phone's CTAPHID socket"
tests/conformance/run.sh

step "end to end: workspace server, relay, pairing tool, virtual phone, python-fido2"
tests/e2e/run.sh

step "SCIM: scim2-tester and schemathesis (proto/scim-openapi.yaml) against the workspace server"
tests/scim/run.sh

step "hybrid end to end: webauthn-authenticator-rs as the browser through a fake BlueZ, both tunnel servers, the virtual phone"
tests/hybrid-e2e/run.sh

step "hybrid, second browser: libwebauthn/pxp (crates.io) registers and signs in through the virtual phone (wss in a private namespace)"
tests/hybrid-libwebauthn/run.sh

step "VM: a real Linux kernel under qemu (software emulation), the pairing tool's uhid device, libfido2 and OpenSSH"
# Reuses the debug build above; prints its checks and `N passed, N failed` (tests/vm).
tests/vm/run.sh

step "bindings, Python: the core in-process through its generated bindings (python-fido2, real workspace, relay, pairing tool)"
tests/bindings/run.sh

step "bindings, Kotlin: the Android app's state holders (android/core-ui) against the core on the host JVM"
android/host-test.sh

step "bindings, Swift: the iOS Kit's XCTests and the Swift bindings against the core (Debian's Swift in a cached chroot)"
tests/swift/run.sh

step "arm64: the core's unit tests as aarch64 machine code under qemu-user (ring's assembly, SQLite, the vault, the engine)"
# A second build of the core's dependencies, for aarch64-unknown-linux-gnu (target/aarch64-*).
tests/arm64/run.sh

step "android target: the core with Bluetooth and its JNI entry type-check for aarch64-linux-android"
# Only the target's standard library is fetched; the NDK is not needed to check (no linking),
# and the C parts of the build scripts compile with the generic aarch64 cross compiler.
rustup target add aarch64-linux-android >/dev/null
CC_aarch64_linux_android=aarch64-linux-gnu-gcc AR_aarch64_linux_android=aarch64-linux-gnu-ar \
  cargo clippy --locked -q --target aarch64-linux-android -p authenticator-core --features ble \
  -- -D warnings
echo "android check: 1 passed, 0 failed"
