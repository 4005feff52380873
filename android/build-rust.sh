#!/usr/bin/env bash
# Builds everything the Android app needs from the Rust side, on a machine with the Android NDK:
#  1. the core for arm64-v8a, armeabi-v7a and x86_64 (release, with BLE) into app/src/main/jniLibs;
#  2. its Kotlin bindings, generated with the host uniffi-bindgen from the host build, into
#     core-ui/build/generated/uniffi (the core-ui module compiles them; the app gets them from it),
#     and the host tunnel-server (target/debug) that core-ui's linking tests start;
#  3. btleplug's Java half, copied from the crate Cargo.lock picks into
#     btleplug-java/build/generated/btleplug-java.
# Nothing it writes is committed. Needs: rustup, cargo-ndk (`cargo install cargo-ndk`),
# ANDROID_NDK_HOME (or ANDROID_HOME with an ndk/ inside, which cargo-ndk finds), python3.
# Usage: android/build-rust.sh            (from any folder)
set -euo pipefail
cd "$(dirname "$0")/.."

android=android
jni=$android/app/src/main/jniLibs
bindings=$android/core-ui/build/generated/uniffi
btleplug_java=$android/btleplug-java/build/generated/btleplug-java

if ! cargo ndk --version >/dev/null 2>&1; then
  echo "cargo-ndk is missing: cargo install cargo-ndk" >&2
  exit 1
fi
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android >/dev/null

# The Kotlin half of rustls-platform-verifier must match the crate's Android part exactly.
locked=$(grep -A1 '^name = "rustls-platform-verifier-android"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
catalog=$(sed -n 's/^rustls-platform-verifier = "\(.*\)"$/\1/p' $android/gradle/libs.versions.toml)
if [ "$locked" != "$catalog" ]; then
  echo "Cargo.lock has rustls-platform-verifier-android $locked but gradle/libs.versions.toml says $catalog" >&2
  exit 1
fi

# 1. The native libraries. 16 KB pages: Android 15 devices may use them (Play requires it).
# Packed relative relocations (RELR, Android 9+ = our minSdk 28) shrink the library ~6%.
# The cdylib alone (`cargo rustc --crate-type cdylib`): `cargo build` also makes the crate's lib
# and staticlib in the same rustc run, and then fat LTO keeps every Rust-public item of the crate,
# ~1 MB more in the .so (tests/bench/README.md, lib_size.sh). cargo-ndk passes the subcommand and
# its arguments to cargo as they are (adding --target); the .so is copied into jniLibs/<abi>/ here
# rather than with cargo-ndk's -o, which copies only artifacts whose crate types name cdylib.
echo "building the core for Android (release, --features ble)"
rm -rf "$jni"
target_dir=${CARGO_TARGET_DIR:-target}
for abi_triple in arm64-v8a:aarch64-linux-android armeabi-v7a:armv7-linux-androideabi \
  x86_64:x86_64-linux-android; do
  abi=${abi_triple%%:*}
  triple=${abi_triple#*:}
  RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,--pack-dyn-relocs=android+relr" \
    cargo ndk -t "$abi" --platform 28 \
    rustc --locked --release -p authenticator-core --lib --crate-type cdylib --features ble
  mkdir -p "$jni/$abi"
  cp "$target_dir/$triple/release/libauthenticator_core.so" "$jni/$abi/"
done

# 2. The bindings, from the host debug build (the release build is stripped of uniffi's metadata).
echo "generating the Kotlin bindings"
cargo build --locked -q -p authenticator-core
cargo build --locked -q -p authenticator-core --features bindgen --bin uniffi-bindgen
# The reference tunnel server next to the host library, for core-ui's linking tests (:core-ui:test).
cargo build --locked -q -p tunnel-server
rm -rf "$bindings"
target/debug/uniffi-bindgen generate --no-format --config $android/uniffi.toml \
  --library target/debug/libauthenticator_core.so --language kotlin --out-dir "$bindings"

# 3. btleplug's Java sources, from the version in Cargo.lock.
btleplug_dir=$(cargo metadata --locked --format-version 1 --filter-platform aarch64-linux-android \
  --features authenticator-core/ble \
  | python3 -c 'import json, os, sys
packages = json.load(sys.stdin)["packages"]
print(next(os.path.dirname(p["manifest_path"]) for p in packages if p["name"] == "btleplug"))')
rm -rf "$btleplug_java"
mkdir -p "$btleplug_java"
cp -R "$btleplug_dir/src/droidplug/java/src/main/java/." "$btleplug_java/"

echo "done: $(find "$jni" -name '*.so' | wc -l) native libraries, bindings in $bindings"
