# Helpers for guest scripts of the VM harness (busybox sh). Source it: `. /vm/lib.sh`.
# Each check prints `ok - NAME` or `FAIL - NAME` with the command's output; `summary` prints
# the `N passed, N failed` line and returns non-zero when anything failed.
passed=0 failed=0
# Seconds since boot, to tenths (each check's line ends with the time it took).
now() { cut -d' ' -f1 /proc/uptime; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# check NAME COMMAND...: runs COMMAND (its output kept in /tmp/check.out) and counts it.
check() {
  name="$1"; shift; t0=$(now)
  if "$@" > /tmp/check.out 2>&1; then
    passed=$((passed + 1)); echo "ok - $name ($(took "$t0"))"
  else
    failed=$((failed + 1)); echo "FAIL - $name ($(took "$t0"))"; sed 's/^/    | /' /tmp/check.out | tail -n 30
  fi
}

# expect_fail NAME REGEX COMMAND...: passes when COMMAND fails and its output matches REGEX.
expect_fail() {
  name="$1" re="$2"; shift 2; t0=$(now)
  if "$@" > /tmp/check.out 2>&1; then
    failed=$((failed + 1)); echo "FAIL - $name (succeeded; expected a failure matching /$re/)"
    sed 's/^/    | /' /tmp/check.out | tail -n 30
  elif grep -qE "$re" /tmp/check.out; then
    passed=$((passed + 1)); echo "ok - $name ($(took "$t0"))"
  else
    failed=$((failed + 1)); echo "FAIL - $name (failed, but not with /$re/)"
    sed 's/^/    | /' /tmp/check.out | tail -n 30
  fi
}

# wait_line FILE REGEX SECS: prints the first line of FILE matching REGEX, waiting up to SECS.
wait_line() {
  n=$(($3 * 10))
  while [ "$n" -gt 0 ]; do
    if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1; n=$((n - 1))
  done
  echo "no line /$2/ in $1 within $3 s:" >&2; tail -n 20 "$1" >&2
  return 1
}

# bytes HEX...: writes each hex byte as binary.
bytes() { for h in "$@"; do printf "\\$(printf '%03o' "0x$h")"; done; }

# hexdump_at FILE OFFSET COUNT: COUNT bytes of FILE from OFFSET as one lowercase hex string.
hex_at() { od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# wait_size FILE SIZE SECS: waits until FILE holds at least SIZE bytes.
wait_size() {
  n=$(($3 * 10))
  while [ "$(wc -c < "$1")" -lt "$2" ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || return 1; sleep 0.1
  done
}

# ctaphid_getinfo tcp HOST:PORT | hidraw /dev/hidrawN: a bare CTAPHID exchange (CTAP 2.1
# §11.2: 64-byte reports), INIT on the broadcast channel, then authenticatorGetInfo (0x04) on
# the channel it gives. Prints the channel and the first reply packet that is not a
# keepalive, as hex. On the TCP socket (proto/ctaphid-socket.md) reports are raw 64 bytes; on
# hidraw each write is one report led by its report id (0), each read one 64-byte report.
ctaphid_getinfo() {
  kind=$1 target=$2 rc=1
  : > /tmp/hid.out
  if [ "$kind" = tcp ]; then
    rm -f /tmp/hid.in; mkfifo /tmp/hid.in
    timeout 90 nc "${target%:*}" "${target##*:}" < /tmp/hid.in > /tmp/hid.out & rdpid=$!
    exec 3> /tmp/hid.in
    prefix="" len=64
  else
    [ -c "$target" ] || { echo "no hidraw device at $target"; return 1; }
    exec 3<> "$target"
    timeout 90 cat <&3 > /tmp/hid.out & rdpid=$!
    prefix=00 len=65
  fi
  { bytes $prefix ff ff ff ff 86 00 08 01 02 03 04 05 06 07 08; head -c 64 /dev/zero; } \
    | head -c $len > /tmp/rep
  cat /tmp/rep >&3
  if wait_size /tmp/hid.out 64 30; then
    init=$(hex_at /tmp/hid.out 0 64)
    cid=$(echo "$init" | cut -c31-38)
    if [ "$(echo "$init" | cut -c1-30)" != ffffffff8600110102030405060708 ]; then
      echo "bad INIT reply $init"
    else
      { bytes $prefix $(echo "$cid" | sed 's/../& /g') 90 00 01 04; head -c 64 /dev/zero; } \
        | head -c $len > /tmp/rep
      cat /tmp/rep >&3
      off=64
      while wait_size /tmp/hid.out $((off + 64)) 60; do
        pkt=$(hex_at /tmp/hid.out "$off" 64); off=$((off + 64))
        [ "$(echo "$pkt" | cut -c9-10)" = bb ] && continue
        echo "channel $cid reply $pkt"; rc=0; break
      done
      [ "$rc" = 0 ] || echo "no getInfo reply"
    fi
  else
    echo "no INIT reply"
  fi
  exec 3>&-
  kill "$rdpid" 2>/dev/null
  return $rc
}

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
