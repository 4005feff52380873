#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs, builds once, then
# runs the format and lint gates, the Rust tests, the python-fido2 conformance suite against the
# virtual phone, the end-to-end scenarios, the hybrid end to end (tests/hybrid-e2e: a browser
# and a tunnel server no one here wrote), the VM test (a real kernel's uhid/hidraw under qemu
# with libfido2 and OpenSSH as the clients), the Python and Kotlin tests through the generated
# bindings, the Swift binding generation, the core's unit tests as arm64 code under qemu-user,
# and a type check of the core for Android.
# Usage: tests/run-all.sh        (this is the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/setup.sh

step() { printf '\n== %s\n' "$*"; }

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

step "conformance: python-fido2 against the virtual phone's CTAPHID socket"
tests/conformance/run.sh

step "end to end: workspace server, relay, pairing tool, virtual phone, python-fido2"
tests/e2e/run.sh

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

step "bindings, Swift: generate (the Swift package itself builds on macOS: .github/workflows/ios.yml)"
out=target/bindings-swift
rm -rf "$out"
cargo build --locked -q -p authenticator-core --features bindgen --bin uniffi-bindgen
if target/debug/uniffi-bindgen generate --no-format --config ios/uniffi-swift.toml \
    --library target/debug/libauthenticator_core.so --language swift --out-dir "$out" >/dev/null \
   && grep -q "public protocol KeyProtector" "$out/authenticator_core.swift"; then
  echo "swift bindings: 1 passed, 0 failed"
else
  echo "swift bindings: 0 passed, 1 failed"
  exit 1
fi

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
