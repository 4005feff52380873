#!/usr/bin/env bash
# The Swift side compiled and tested on Linux (issue 17), as run-all's Swift step:
# 1. the Debian 13 chroot with Debian's Swift 6.0 (tests/swift/chroot.sh: built once per
#    machine in ~/.cache/passkeyphone-swift, reused when present);
# 2. the core's debug library, its Swift bindings (target/bindings-swift, uniffi-bindgen with
#    ios/uniffi-swift.toml, as the xcframework script does) and the workspace-server the
#    activation tests start, built on the host (the shared target/);
# 3. in the chroot, with /proc mounted and the repo bind-mounted at its own path (both
#    unmounted on exit, in a trap): `swift test` of the iOS package (ios/: the Kit's XCTests)
#    and of ios/LinuxBindings (the generated bindings, KitBridge.swift and VaultLocation.swift
#    against target/debug/libauthenticator_core.so, and the binding tests).
# SwiftPM's build folders live in target/swift/{kit,linux-bindings}, so a second run only
# rebuilds what changed. Prints `swift-kit: N passed, N failed` and `swift-bindings: N passed,
# N failed` from XCTest's own summary (a package that does not compile counts as 1 failed), and
# exits non-zero on any failure. Runs as root (chroot, mount). One run at a time per machine
# (a lock in the cache folder).
# Usage: tests/swift/run.sh [extra `swift test` args for both packages, e.g. --filter NAME]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
cache="${PASSKEYPHONE_SWIFT_CACHE:-$HOME/.cache/passkeyphone-swift}"
# One run at a time per machine: the chroot is built, updated and mounted under this lock.
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
t0=$SECONDS
root="$(tests/swift/chroot.sh)"
t1=$SECONDS

# 2. What the packages compile and link against, built on the host.
cargo build --locked -q -p authenticator-core
cargo build --locked -q -p authenticator-core --features bindgen --bin uniffi-bindgen
# The same set as tests/bindings/run.sh builds: another set unifies other features (tokio's
# `signal`) and would rebuild the core in run-all instead of reusing that build.
cargo build --locked -q -p workspace-server -p relay -p pairing-tool
out=target/bindings-swift
rm -rf "$out"
target/debug/uniffi-bindgen generate --no-format --config ios/uniffi-swift.toml \
  --library target/debug/libauthenticator_core.so --language swift --out-dir "$out" >/dev/null
pkg=ios/LinuxBindings
# Copied only when changed: SwiftPM rebuilds by modification time.
update() { cmp -s "$1" "$2/$(basename "$1")" || cp "$1" "$2/"; }
mkdir -p "$pkg/Sources/AuthenticatorCore/Generated"
update "$out/authenticator_core.swift" "$pkg/Sources/AuthenticatorCore/Generated"
update "$out/AuthenticatorCoreFFI.h" "$pkg/Sources/AuthenticatorCoreFFI"
mkdir -p target/swift
t2=$SECONDS

# 3. The chroot's mounts, for this run only.
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mounts+=("$root/proc")
mkdir -p "$root$repo"
mount --bind "$repo" "$root$repo"
mounts+=("$root$repo")

failed_any=0
# run_package LABEL PACKAGE_DIR SCRATCH [swift test args]: runs `swift test` in the chroot,
# keeps its whole output in target/swift/LABEL.log, prints the counts from XCTest's summary.
run_package() {
  local label="$1" dir="$2" scratch="$3"
  shift 3
  local log="target/swift/$label.log" status=0
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    WORKSPACE_SERVER="$repo/target/debug/workspace-server" \
    sh -c 'cd "$1" && shift && exec swift test "$@"' sh "$repo" \
    --package-path "$dir" --scratch-path "$scratch" "$@" >"$log" 2>&1 || status=$?
  # XCTest's lines per test: "Test Case 'Suite.test' passed (0.01 seconds)" (or failed), and
  # the run's summary "Executed N tests, with N failures" (failures counts assertions).
  local passed failed executed
  passed="$(grep -cE "^Test Case '.*' passed \(" "$log" || true)"
  failed="$(grep -cE "^Test Case '.*' failed \(" "$log" || true)"
  executed="$(grep -E 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -n 1 \
    | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' || true)"
  if [ "${executed:-0}" -ne $((passed + failed)) ]; then
    echo "swift-$label: XCTest's summary (${executed:-none}) differs from its test lines"
    failed=$((failed + 1))
  fi
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    # Show why: the compiler's errors or the failing assertions.
    grep -E 'error:|: error|failed|Fatal error' "$log" | head -n 40 || true
    echo "(whole output: $log)"
    [ "$failed" -eq 0 ] && failed=1
    failed_any=1
  fi
  echo "swift-$label: $passed passed, $failed failed"
}

lib="$repo/target/debug"
run_package kit ios target/swift/kit "$@"
run_package bindings "$pkg" target/swift/linux-bindings \
  -Xlinker -L"$lib" -Xlinker -rpath -Xlinker "$lib" "$@"
echo "swift: chroot $((t1 - t0))s, host builds and bindings $((t2 - t1))s, swift test $((SECONDS - t2))s"
exit "$failed_any"
