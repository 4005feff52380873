#!/usr/bin/env bash
# The VM test of issue 16: boots Debian's kernel under qemu TCG (tests/vm/boot.sh) with our
# relay, pairing tool and virtual phone and libfido2's and OpenSSH's clients inside, runs
# tests/vm/guest/fido2.sh there, and prints its checks and `N passed, N failed`.
# Uses already built binaries: run `cargo build -p relay -p pairing-tool -p virtual-phone`
# first, or point $RELAY / $PAIRING_TOOL / $VIRTUAL_PHONE at binaries.
# Usage: tests/vm/run.sh [boot.sh options, e.g. --smp 1 --log FILE]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vm="$repo/tests/vm"
. "$vm/payload.sh"   # vm_args: our binaries, lib.sh and the clients
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
"$vm/boot.sh" "${vm_args[@]}" "$@" "$vm/guest/fido2.sh" | tee "$out"
rc=${PIPESTATUS[0]}
set -e
line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1 || true)"
if [ -z "$line" ]; then
  echo "vm: no result line from the guest (boot.sh exit $rc)" >&2
  echo "vm: 0 passed, 1 failed"
  exit 1
fi
[ "$rc" -eq 0 ] || { echo "vm: guest verdict $rc"; exit 1; }
