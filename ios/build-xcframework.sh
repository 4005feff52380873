#!/usr/bin/env bash
# Builds the Rust core for iOS and packages it for the Swift package (ios/Package.swift):
#   1. the static library (release) for the device (aarch64-apple-ios), the simulator
#      (aarch64-apple-ios-sim + x86_64-apple-ios, joined with lipo) and, unless --no-macos,
#      this Mac (so that `swift build` and `swift test` can link the core here);
#   2. the Swift bindings, header and module map, with the host's uniffi-bindgen;
#   3. ios/build/AuthenticatorCoreFFI.xcframework (xcodebuild -create-xcframework), and the
#      bindings copied to ios/Sources/AuthenticatorCore/Generated/.
# Everything it writes is build output (ios/.gitignore). macOS with Xcode only.
#
# Usage: ios/build-xcframework.sh [--no-macos] [--ble]
#   --no-macos  skip the macOS slice (the app still builds; `swift build` cannot link the core)
#   --ble       build the core with its Bluetooth link (cargo feature `ble`)
set -euo pipefail

IOS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$IOS_DIR/.." && pwd)"
BUILD="$IOS_DIR/build"
GENERATED="$IOS_DIR/Sources/AuthenticatorCore/Generated"
CRATE="authenticator-core"
LIB="libauthenticator_core.a"
XCFRAMEWORK="$BUILD/AuthenticatorCoreFFI.xcframework"

die() {
    echo "build-xcframework.sh: $*" >&2
    exit 1
}

with_macos=1
features=()
for arg in "$@"; do
    case "$arg" in
        --no-macos) with_macos=0 ;;
        --ble) features=(--features ble) ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option: $arg (see --help)" ;;
    esac
done

[[ "$(uname -s)" == "Darwin" ]] \
    || die "this builds an Apple xcframework and needs macOS with Xcode; on $(uname -s), run \`swift test\` in ios/ for the Swift-only part (AuthenticatorCoreKit)."
command -v xcodebuild >/dev/null || die "xcodebuild not found: install Xcode and run xcode-select."
command -v lipo >/dev/null || die "lipo not found: install the Xcode command line tools."
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)."

# The slices; the deployment targets match Package.swift's platforms, so that the C code in
# the core (SQLite, ring) is compiled for the same minimum OS as the Swift code.
export IPHONEOS_DEPLOYMENT_TARGET=16.0
export MACOSX_DEPLOYMENT_TARGET=13.0
device_target=aarch64-apple-ios
simulator_targets=(aarch64-apple-ios-sim x86_64-apple-ios)
case "$(uname -m)" in
    arm64) macos_target=aarch64-apple-darwin ;;
    x86_64) macos_target=x86_64-apple-darwin ;;
    *) die "unexpected Mac architecture $(uname -m)" ;;
esac
targets=("$device_target" "${simulator_targets[@]}")
if (( with_macos )); then targets+=("$macos_target"); fi

if command -v rustup >/dev/null; then
    rustup target add "${targets[@]}"
fi

cd "$ROOT"
for target in "${targets[@]}"; do
    echo "==> Rust core for $target"
    # Only the static library: the cdylib is of no use to an iOS app.
    cargo rustc --locked --release -p "$CRATE" --lib --target "$target" \
        ${features[@]+"${features[@]}"} --crate-type staticlib
done

echo "==> Swift bindings"
# Generated from the host build of the same sources: the bindings only depend on the
# exported API, and a debug library keeps the metadata symbols uniffi-bindgen reads.
cargo build --locked -p "$CRATE" --lib
cargo build --locked -p "$CRATE" --features bindgen --bin uniffi-bindgen
host_library="$ROOT/target/debug/libauthenticator_core.dylib"
[[ -f "$host_library" ]] || die "the host library $host_library was not built"
rm -rf "${BUILD:?}/bindings" "${BUILD:?}/headers" "${BUILD:?}/lib" "$XCFRAMEWORK"
mkdir -p "$BUILD/bindings" "$BUILD/headers" "$BUILD/lib/ios" "$BUILD/lib/ios-simulator" \
    "$BUILD/lib/macos"
"$ROOT/target/debug/uniffi-bindgen" generate --no-format \
    --config "$IOS_DIR/uniffi-swift.toml" --language swift \
    --out-dir "$BUILD/bindings" "$host_library"
for file in authenticator_core.swift AuthenticatorCoreFFI.h AuthenticatorCoreFFI.modulemap; do
    [[ -f "$BUILD/bindings/$file" ]] || die "uniffi-bindgen did not write $file"
done
cp "$BUILD/bindings/AuthenticatorCoreFFI.h" "$BUILD/headers/"
# An xcframework's headers carry their module map under this fixed name.
cp "$BUILD/bindings/AuthenticatorCoreFFI.modulemap" "$BUILD/headers/module.modulemap"

echo "==> Static libraries"
cp "$ROOT/target/$device_target/release/$LIB" "$BUILD/lib/ios/$LIB"
lipo -create \
    "$ROOT/target/${simulator_targets[0]}/release/$LIB" \
    "$ROOT/target/${simulator_targets[1]}/release/$LIB" \
    -output "$BUILD/lib/ios-simulator/$LIB"
slices=(
    -library "$BUILD/lib/ios/$LIB" -headers "$BUILD/headers"
    -library "$BUILD/lib/ios-simulator/$LIB" -headers "$BUILD/headers"
)
if (( with_macos )); then
    cp "$ROOT/target/$macos_target/release/$LIB" "$BUILD/lib/macos/$LIB"
    slices+=(-library "$BUILD/lib/macos/$LIB" -headers "$BUILD/headers")
fi

echo "==> $XCFRAMEWORK"
xcodebuild -create-xcframework "${slices[@]}" -output "$XCFRAMEWORK"

rm -rf "$GENERATED"
mkdir -p "$GENERATED"
cp "$BUILD/bindings/authenticator_core.swift" "$GENERATED/"

echo "Done: $XCFRAMEWORK and $GENERATED/authenticator_core.swift"
