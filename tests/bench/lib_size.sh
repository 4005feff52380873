#!/usr/bin/env bash
# The size of the FFI library the apps ship: the release cdylib for the host, stripped (the
# release profile strips), with the repository's SQLite trimming (.cargo/config.toml) and
# packed relative relocations (as android/build-rust.sh links it). Prints the size, its
# gzip size (what a download costs), the largest sections, and the target (<= 3 MB).
# Builds in its own target folder so the everyday builds are not disturbed.
# Usage: tests/bench/lib_size.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=target/size
RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs" \
  cargo build --locked -q --release -p authenticator-core --lib
lib=$CARGO_TARGET_DIR/release/libauthenticator_core.so
bytes=$(stat -c %s "$lib")
gz=$(gzip -9 -c "$lib" | wc -c)
echo "libauthenticator_core.so (host, release, stripped): $bytes bytes ($(( bytes / 1024 )) KiB)"
echo "gzip -9: $gz bytes ($(( gz / 1024 )) KiB)"
echo "largest sections:"
size -A "$lib" | awk '$1 ~ /^\./ && $2 > 65536 {printf "  %-20s %8d KiB\n", $1, $2 / 1024}'
limit=$(( 3 * 1000 * 1000 ))
if [ "$bytes" -le "$limit" ]; then
  echo "target <= 3 MB: PASS"
else
  echo "target <= 3 MB: MISS by $(( (bytes - limit) / 1024 )) KiB"
fi
