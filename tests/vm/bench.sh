#!/usr/bin/env bash
# Benchmark (not a test, not in run-all) of issue 16: in one VM boot (tests/vm/boot.sh, the
# same payload as tests/vm/run.sh via tests/vm/payload.sh) runs tests/vm/guest/bench.sh, which
# times a getAssertion three ways, interleaved: (a) `fido2-assert -G` through /dev/hidraw0
# (uhid -> pairing tool -> relay -> phone), (b) the guest's bare CTAPHID client on the phone's
# own CTAPHID socket, (c) the same bare client through /dev/hidraw0. Prints per path median,
# p90, min, the overheads (a - b, c - b) and the ratios, with the host's `uptime` before and
# after. Guest times come from the guest's clock (coreutils `date +%s%N`, copied in).
# Usage: tests/vm/bench.sh [-n ROUNDS (default 30)] [boot.sh options]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vm="$repo/tests/vm"
rounds=30
if [ "${1:-}" = -n ]; then rounds="$2"; shift 2; fi
[[ "$rounds" =~ ^[0-9]+$ ]] && [ "$rounds" -gt 0 ] || { echo "vm-bench: -n takes a count" >&2; exit 2; }
. "$vm/payload.sh"   # vm_args: our binaries, lib.sh and the clients
echo "host uptime before: $(uptime)"
rc=0
"$vm/boot.sh" "${vm_args[@]}" --file /usr/bin/date:/vm/date --env "ROUNDS=$rounds" \
  --timeout $((120 + rounds * 20)) --quiet "$@" "$vm/guest/bench.sh" || rc=$?
echo "host uptime after: $(uptime)"
exit "$rc"
