#!/usr/bin/env bash
# The size of the FFI library as it ships, in three builds (release profile: opt-level "s", fat
# LTO, one codegen unit, panics unwind), each with the repository's SQLite trimming
# (.cargo/config.toml):
#   1. host      x86_64-unknown-linux-gnu, the host's gcc and GNU ld, RELR
#                (-z pack-relative-relocs);
#   2. arm64     aarch64-unknown-linux-gnu: Debian's aarch64 cross gcc as the driver with the
#                Rust toolchain's own lld (gcc-ld/ld.lld), RELR and 16 KB pages
#                (-z max-page-size=16384), as the NDK's clang + lld link the Android library;
#   3. android   aarch64-linux-android with the Android feature set (`ble`; the platform
#                verifier and the JNI start-up are there on every Android build), linked the
#                same way as a size proxy: there is no NDK here, so the C parts compile with the
#                glibc cross gcc and bionic's libraries are stand-ins (empty liblog/libunwind
#                archives in this script's cache; the unwinder's own code, ~100 KB in the NDK's
#                libunwind.a, is missing from the figure, the unwind tables are in it).
# Each is built as the cdylib alone (`cargo rustc --crate-type cdylib`), as the apps load it: built
# together with the crate's other types (lib, staticlib; what `cargo build` makes) the same
# cdylib is ~1 MB larger, since LTO then keeps every Rust-public item of the crate.
# For each: the stripped size (a stripped copy of the build: strip --strip-all, what the release
# profile's `strip = "symbols"` makes), its gzip -9 size (what a download costs), the largest
# sections, that unwinding is kept (.eh_frame present), and `cargo bloat --crates` on the same,
# unstripped, build. Target (issue 17), for the Android arm64 build: at most 5.0 MB stripped
# and at most 2.3 MB gzip (MB = 1,000,000 bytes), with unwinding kept; the two other builds are
# printed against the same figures for reference.
# Builds in its own target folder (target/size) so the everyday builds are not disturbed;
# cargo-bloat is installed into ~/.cache/passkeyphone-size when missing. Not run by run-all.
# Usage: [LIB_SIZE_BLOAT=0] tests/bench/lib_size.sh [host|arm64|android ...]   (default: all three;
#        LIB_SIZE_BLOAT=0: sizes only, without the second build cargo bloat makes)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=target/size
# Symbols kept in the build so cargo bloat can read it; the sizes are of a stripped copy.
export CARGO_PROFILE_RELEASE_STRIP=none
cache=$HOME/.cache/passkeyphone-size
mkdir -p "$cache"

need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
command -v aarch64-linux-gnu-strip >/dev/null 2>&1 || need+=(binutils-aarch64-linux-gnu)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -x "$cache/cargo/bin/cargo-bloat" ]; then
  echo "installing cargo-bloat into $cache/cargo" >&2
  cargo install -q --locked --root "$cache/cargo" cargo-bloat
fi
export PATH="$cache/cargo/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu aarch64-linux-android >/dev/null 2>&1

# The toolchain's own lld, found by gcc through -B and -fuse-ld=lld.
gccld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld"
lld_flags="-C link-arg=-B$gccld -C link-arg=-fuse-ld=lld -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,-z,max-page-size=16384"

# Bionic stand-ins for the Android link: the Rust standard library for Android asks for liblog
# and libunwind (the NDK's); unwinding resolves against libgcc here.
stubs=$cache/android-stubs
if [ ! -f "$stubs/liblog.a" ]; then
  mkdir -p "$stubs"
  aarch64-linux-gnu-ar rc "$stubs/liblog.a"
  aarch64-linux-gnu-ar rc "$stubs/libunwind.a"
fi

limit_stripped=5000000
limit_gz=2300000
failures=0

# Only the Android build is judged; the others are printed against the same figures.
judged() { if [ "$name" = android ]; then failures=$((failures + 1)); fi; }

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB (%.2f MiB)", b / 1e6, b / 1048576 }'; }

# measure NAME LIB STRIP [cargo bloat arguments...]; the build environment is set by the caller.
measure() {
  local name=$1 lib=$2 strip=$3
  shift 3
  local out=$CARGO_TARGET_DIR/measured
  mkdir -p "$out"
  cp "$lib" "$out/$name.so"
  "$strip" --strip-all "$out/$name.so"
  local bytes gz
  bytes=$(stat -c %s "$out/$name.so")
  gz=$(gzip -9 -c "$out/$name.so" | wc -c)
  echo "== $name: $lib"
  echo "unstripped: $(mb "$(stat -c %s "$lib")")"
  printf 'stripped:   %s  ' "$(mb "$bytes")"
  if [ "$bytes" -le "$limit_stripped" ]; then echo "target <= 5.0 MB: PASS"; else
    echo "target <= 5.0 MB: MISS by $(( (bytes - limit_stripped) / 1000 )) KB"
    judged; fi
  printf 'gzip -9:    %s  ' "$(mb "$gz")"
  if [ "$gz" -le "$limit_gz" ]; then echo "target <= 2.3 MB: PASS"; else
    echo "target <= 2.3 MB: MISS by $(( (gz - limit_gz) / 1000 )) KB"
    judged; fi
  local eh
  eh=$(size -A "$out/$name.so" | awk '$1 == ".eh_frame" { print $2 }')
  if [ -n "$eh" ] && [ "$eh" -gt 0 ]; then
    echo "unwinding: kept (.eh_frame $(( eh / 1024 )) KiB)"
  else
    echo "unwinding: MISSING (.eh_frame absent)"
    judged
  fi
  echo "sections over 64 KiB (stripped):"
  size -A "$out/$name.so" | awk '$1 ~ /^\./ && $2 > 65536 {printf "  %-20s %8d KiB\n", $1, $2 / 1024}'
  # cargo bloat builds with `cargo build` (all crate types), so its figures are of that larger build.
  # LIB_SIZE_BLOAT=0 skips it: it is a second full build.
  if [ "${LIB_SIZE_BLOAT:-1}" = 0 ]; then return; fi
  echo "cargo bloat --crates (share of .text; cargo build's unstripped build, all crate types):"
  cargo bloat --locked --release -p authenticator-core --lib --crates -n 15 "$@" 2>/dev/null \
    | sed 's/^/  /'
}

want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(host arm64 android)
for which in "${want[@]}"; do
  case $which in
    host)
      export RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs"
      cargo rustc --locked -q --release -p authenticator-core --lib --crate-type cdylib
      measure host "$CARGO_TARGET_DIR/release/libauthenticator_core.so" strip
      unset RUSTFLAGS
      ;;
    arm64)
      t=aarch64-unknown-linux-gnu
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="$lld_flags"
      export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
      export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
      cargo rustc --locked -q --release --target $t -p authenticator-core --lib --crate-type cdylib
      measure arm64 "$CARGO_TARGET_DIR/$t/release/libauthenticator_core.so" \
        aarch64-linux-gnu-strip --target $t
      ;;
    android)
      t=aarch64-linux-android
      export CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER=aarch64-linux-gnu-gcc
      export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="$lld_flags -L native=$stubs"
      export CC_aarch64_linux_android=aarch64-linux-gnu-gcc
      export AR_aarch64_linux_android=aarch64-linux-gnu-ar
      cargo rustc --locked -q --release --target $t -p authenticator-core --lib --crate-type cdylib \
        --features ble
      measure android "$CARGO_TARGET_DIR/$t/release/libauthenticator_core.so" \
        aarch64-linux-gnu-strip --target $t --features ble
      ;;
    *) echo "unknown build: $which (host, arm64 or android)" >&2; exit 2 ;;
  esac
done
echo "android arm64 target (<= 5.0 MB stripped, <= 2.3 MB gzip, unwinding kept): $failures misses"
[ "$failures" -eq 0 ]
