#!/usr/bin/env bash
# Builds, once per machine, the Swift toolchain the Swift tests run in: a Debian 13 ("trixie")
# minbase chroot with Debian's `swiftlang` (Swift 6.0), at
# ${PASSKEYPHONE_SWIFT_CACHE:-~/.cache/passkeyphone-swift}/trixie. Reused when present: the
# marker file `.ready`, written last, holds the package list installed; a tree without it is
# half built (thrown away and built again), and one with another list gets the missing
# packages installed. Prints the chroot's path on stdout; progress goes to stderr, apt's and
# debootstrap's output to debootstrap.log beside the tree.
# Needs root (debootstrap, chroot) and Debian's package archive; installs debootstrap on the
# host if it is missing, and touches nothing else of the host.
set -euo pipefail
cache="${PASSKEYPHONE_SWIFT_CACHE:-$HOME/.cache/passkeyphone-swift}"
root="$cache/trixie"
mirror="http://deb.debian.org/debian"
# swiftlang brings the compiler, SwiftPM, Foundation and XCTest, and gcc/binutils to link;
# the C library's headers (libc6-dev, only recommended by gcc) are needed to import Glibc, and
# the core's HTTPS client (rustls-platform-verifier) will not start without the CA store.
packages="swiftlang libc6-dev ca-certificates"
log="$cache/debootstrap.log"
mkdir -p "$cache"
if [ -f "$root/.ready" ] && [ "$(cat "$root/.ready")" = "$packages" ]; then
  echo "$root"
  exit 0
fi

fail() { tail -n 20 "$log" >&2; echo "swift: $*" >&2; exit 1; }
# install_packages TREE: the package list into TREE, with /proc mounted for the time of it.
install_packages() {
  mount -t proc proc "$1/proc"
  trap 'umount "$1/proc" 2>/dev/null || true' RETURN
  # shellcheck disable=SC2086 # one package per word
  chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages \
           && apt-get clean" >>"$log" 2>&1
}

start=$(date +%s)
if [ -f "$root/.ready" ]; then
  echo "swift: installing into the cached chroot: $packages" >&2
  install_packages "$root" || fail "installing $packages failed"
  echo "$packages" >"$root/.ready"
  echo "swift: chroot updated in $(( $(date +%s) - start ))s" >&2
  echo "$root"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
tmp="$root.partial"
# A previous attempt that died may have left /proc mounted in its tree.
mountpoint -q "$tmp/proc" 2>/dev/null && umount "$tmp/proc"
rm -rf "$tmp"
echo "swift: building the trixie chroot with $packages in $root (once per machine)" >&2
debootstrap --variant=minbase trixie "$tmp" "$mirror" >"$log" 2>&1 || fail "debootstrap failed"
install_packages "$tmp" || fail "installing $packages failed"
echo "$packages" >"$tmp/.ready"
mv "$tmp" "$root"
echo "swift: chroot ready in $(( $(date +%s) - start ))s" >&2
echo "$root"
