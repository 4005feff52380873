# Helpers for guest scripts of the VM harness (busybox sh). Source it: `. /vm/lib.sh`.
# Each check prints `ok - NAME` or `FAIL - NAME` with the command's output; `summary` prints
# the `N passed, N failed` line and returns non-zero when anything failed.
passed=0 failed=0

# check NAME COMMAND...: runs COMMAND (its output kept in /tmp/check.out) and counts it.
check() {
  name="$1"; shift
  if "$@" > /tmp/check.out 2>&1; then
    passed=$((passed + 1)); echo "ok - $name"
  else
    failed=$((failed + 1)); echo "FAIL - $name"; sed 's/^/    | /' /tmp/check.out | tail -n 30
  fi
}

# expect_fail NAME REGEX COMMAND...: passes when COMMAND fails and its output matches REGEX.
expect_fail() {
  name="$1" re="$2"; shift 2
  if "$@" > /tmp/check.out 2>&1; then
    failed=$((failed + 1)); echo "FAIL - $name (succeeded; expected a failure matching /$re/)"
    sed 's/^/    | /' /tmp/check.out | tail -n 30
  elif grep -qE "$re" /tmp/check.out; then
    passed=$((passed + 1)); echo "ok - $name"
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

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
