# Guest script of tests/vm/bench.sh (a benchmark, not a test): sets up as fido2.sh does (relay,
# pairing tool with --uhid, virtual phone paired, here also serving its own CTAPHID socket, a
# credential registered with fido2-cred -M), then $ROUNDS interleaved rounds (after 3 warm-up
# rounds; the order of the paths rotates per round) of the same getAssertion (rp vm.example,
# the credential in the allowList, the same clientDataHash, up=true, no PIN or uv):
#   a  fido2-assert -G -p through /dev/hidraw0 (uhid -> tool -> relay -> phone)
#   b  the bare CTAPHID client below, on the phone's CTAPHID socket (127.0.0.1)
#   c  the bare CTAPHID client through /dev/hidraw0
# Each is timed around the whole command, process start included for all three (a: the
# fido2-assert process, its device open and CTAPHID INIT; b, c: the client's nc / cat
# processes, the open and INIT), on the guest's clock (coreutils date +%s%N at /vm/date).
# Every answer is checked (status 0); prints per path median, p90, min, overheads, ratios.
. /vm/lib.sh
set -u
ROUNDS=${ROUNDS:-30}
pids=""
stop_all() { for p in $pids; do kill "$p" 2>/dev/null; done; }
trap stop_all EXIT
die() { echo "bench: $*"; for f in /tmp/relay.err /tmp/tool.err /tmp/phone.err; do
  [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done; echo "0 passed, 1 failed"; exit 1; }
ns() { /vm/date +%s%N; }

relay serve --listen 127.0.0.1:0 > /tmp/relay.out 2> /tmp/relay.err & pids="$pids $!"
url=$(wait_line /tmp/relay.out '^relay listening on ' 30 | sed 's/^relay listening on //') || die "no relay"
pairing-tool --data-dir /tmp/pc --relay "$url" --allow-insecure-loopback --name "VM PC" \
  serve --ctaphid 127.0.0.1:0 > /tmp/tool.out 2> /tmp/tool.err & toolpid=$!; pids="$pids $toolpid"
code=$(wait_line /tmp/tool.out '^qr PASSKEYPHONE:/' 30 | sed 's/^qr //') || die "no pairing code"
timeout 60 virtual-phone --data-dir /tmp/phone pair --allow-insecure-loopback --name "VM phone" \
  "$code" > /tmp/pair.out 2>&1 || die "pairing failed: $(cat /tmp/pair.out)"
wait_line /tmp/tool.out '^paired with VM phone$' 30 > /dev/null || die "tool saw no pairing"
kill "$toolpid"; wait "$toolpid" 2>/dev/null
pairing-tool --data-dir /tmp/pc --relay "$url" --allow-insecure-loopback --name "VM PC" \
  serve --uhid > /tmp/tool.out 2> /tmp/tool.err & toolpid=$!; pids="$pids $toolpid"
wait_line /tmp/tool.out '^uhid device ready: ' 30 > /dev/null || die "no uhid device"
# One phone process serves both paths: same engine, vault and user; only the path differs.
virtual-phone --data-dir /tmp/phone serve --link --ctaphid 127.0.0.1:0 --allow-insecure-loopback \
  > /tmp/phone.out 2> /tmp/phone.err & pids="$pids $!"
phone=$(wait_line /tmp/phone.out '^ctaphid listening on ' 30 | sed 's/^ctaphid listening on //') \
  || die "phone has no CTAPHID socket"
# (With --ctaphid the link service starts before the banner and prints no line of its own.)
n=100; while [ ! -c /dev/hidraw0 ]; do n=$((n - 1)); [ $n -gt 0 ] || die "no /dev/hidraw0"; sleep 0.1; done
dev=/dev/hidraw0

cdh=$(head -c 32 /dev/urandom | base64)
printf '%s\nvm.example\nalice\n%s\n' "$cdh" "$(head -c 16 /dev/urandom | base64)" > /tmp/cred.param
fido2-cred -M -i /tmp/cred.param -o /tmp/cred.out "$dev" es256 > /tmp/x 2>&1 || die "fido2-cred -M: $(cat /tmp/x)"
fido2-cred -V -i /tmp/cred.out -o /tmp/cred.pub es256 > /tmp/x 2>&1 || die "fido2-cred -V: $(cat /tmp/x)"
credid=$(head -n 1 /tmp/cred.pub)
printf '%s\nvm.example\n%s\n' "$cdh" "$credid" > /tmp/assert.param

# The getAssertion (CTAP 2.1 §6.2) as canonical CBOR: {1: rpId, 2: clientDataHash,
# 3: [{"id": credential, "type": "public-key"}], 5: {"up": true}}, behind command byte 0x02.
hexof() { od -An -tx1 -v | tr -d ' \n'; }
cid_hex=$(echo "$credid" | base64 -d | hexof)
clen=$((${#cid_hex} / 2))
if [ "$clen" -lt 24 ]; then chead=$(printf '%02x' $((0x40 + clen))); else chead=58$(printf '%02x' "$clen"); fi
[ "$clen" -lt 256 ] || die "credential id of $clen bytes"
req=02a4016a$(printf vm.example | hexof)025820$(echo "$cdh" | base64 -d | hexof)
req=${req}0381a2626964${chead}${cid_hex}6474797065$(printf '6a'; printf public-key | hexof)
req=${req}05a1627570f5
reqlen=$((${#req} / 2))

# Polls every 2 ms (lib.sh's wait_size every 100 ms, too coarse to time a round trip).
wait_size() {
  n=$(($3 * 500))
  while [ "$(wc -c < "$1")" -lt "$2" ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || return 1; sleep 0.002
  done
}
# ctaphid_cbor tcp HOST:PORT | hidraw DEV: INIT on the broadcast channel, then CTAPHID_CBOR
# (0x90) with $req split into an init packet (57 bytes) and continuation packets (59 bytes,
# seq 0..), CTAP 2.1 §11.2.4; waits for the whole answer (keepalives 0xbb skipped) and
# prints its first packet. Fails unless the CTAP status is 0.
ctaphid_cbor() {
  kind=$1 target=$2 rc=1
  : > /tmp/hid.out
  if [ "$kind" = tcp ]; then
    rm -f /tmp/hid.in; mkfifo /tmp/hid.in
    timeout 60 nc "${target%:*}" "${target##*:}" < /tmp/hid.in > /tmp/hid.out & rdpid=$!
    exec 3> /tmp/hid.in; prefix="" len=64
  else
    exec 3<> "$target"
    timeout 60 cat <&3 > /tmp/hid.out & rdpid=$!
    prefix=00 len=65
  fi
  # One printf of \xHH escapes per report (lib.sh's `bytes` forks once per byte).
  send() { printf "$(echo "$prefix$1" | sed 's/../\\x&/g')" > /tmp/rep
    head -c 64 /dev/zero >> /tmp/rep; head -c $len /tmp/rep >&3; }
  send ffffffff8600080102030405060708
  if wait_size /tmp/hid.out 64 30; then
    cid=$(hex_at /tmp/hid.out 0 64 | cut -c31-38)
    send "${cid}90$(printf '%04x' "$reqlen")$(echo "$req" | cut -c1-114)"
    rest=$(echo "$req" | cut -c115-) seq=0
    while [ -n "$rest" ]; do
      send "${cid}$(printf '%02x' $seq)$(echo "$rest" | cut -c1-118)"
      rest=$(echo "$rest" | cut -c119-) seq=$((seq + 1))
    done
    off=0
    while wait_size /tmp/hid.out $((off + 128)) 30; do
      off=$((off + 64)); pkt=$(hex_at /tmp/hid.out "$off" 64)
      [ "$(echo "$pkt" | cut -c9-10)" = bb ] && continue
      bcnt=$((0x$(echo "$pkt" | cut -c11-14)))
      more=0; [ "$bcnt" -gt 57 ] && more=$(( (bcnt - 57 + 58) / 59 ))
      wait_size /tmp/hid.out $((off + 64 + more * 64)) 30 || break
      echo "$pkt"
      [ "$(echo "$pkt" | cut -c1-10)" = "${cid}90" ] && [ "$(echo "$pkt" | cut -c15-16)" = 00 ] && rc=0
      break
    done
  fi
  exec 3>&-
  kill "$rdpid" 2>/dev/null; wait "$rdpid" 2>/dev/null
  return $rc
}
path_a() { fido2-assert -G -p -i /tmp/assert.param -o /tmp/assert.out "$dev"; }
path_b() { ctaphid_cbor tcp "$phone"; }
path_c() { ctaphid_cbor hidraw "$dev"; }
# Runs path $1 once, appends its time in microseconds to /tmp/t.$1.
timed() {
  t0=$(ns)
  "path_$1" > /tmp/run.out 2>&1 || die "path $1 failed: $(cat /tmp/run.out)"
  t1=$(ns)
  echo $(( (t1 - t0) / 1000 )) >> "/tmp/t.$1"
}
echo "bench: credential registered; $ROUNDS rounds after 3 warm-up rounds (guest uptime $(now) s)"
for w in 1 2 3; do timed a; timed b; timed c; done
rm -f /tmp/t.a /tmp/t.b /tmp/t.c
i=0
while [ $i -lt "$ROUNDS" ]; do
  case $((i % 3)) in 0) order="a b c" ;; 1) order="b c a" ;; *) order="c a b" ;; esac
  for p in $order; do timed "$p"; done
  i=$((i + 1))
done
echo "bench: done (guest uptime $(now) s)"
# stat FILE: median p90 min in ms (nearest rank).
stat() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.999)];
  printf "%.1f %.1f %.1f", m / 1000, p / 1000, v[1] / 1000 }'; }
set -- $(stat /tmp/t.a); am=$1 ap=$2 an=$3
set -- $(stat /tmp/t.b); bm=$1 bp=$2 bn=$3
set -- $(stat /tmp/t.c); cm=$1 cp=$2 cn=$3
echo "path                                         median    p90     min   (ms, n=$ROUNDS)"
printf '%-44s %7s %7s %7s\n' "a fido2-assert -G via hidraw0 (uhid+relay)" "$am" "$ap" "$an"
printf '%-44s %7s %7s %7s\n' "b bare client on the phone's CTAPHID socket" "$bm" "$bp" "$bn"
printf '%-44s %7s %7s %7s\n' "c bare client via hidraw0 (uhid+relay)" "$cm" "$cp" "$cn"
awk -v a="$am" -v b="$bm" -v c="$cm" 'BEGIN {
  printf "overhead a - b: %.1f ms   ratio a/b: %.2fx\n", a - b, a / b
  printf "overhead c - b: %.1f ms   ratio c/b: %.2fx   (the path: uhid, tool, relay, link)\n", c - b, c / b
  printf "a - c: %.1f ms   ratio a/c: %.2fx   (fido2-assert'"'"'s own cost over the bare client)\n", a - c, a / c }'
# Median of the per-round differences, robust to load drifting between rounds.
paste /tmp/t.a /tmp/t.b /tmp/t.c | awk '{ print $1 - $2 }' | sort -n | awk '{ v[NR] = $1 } END {
  printf "median of per-round a - b: %.1f ms\n", v[int((NR + 1) / 2)] / 1000 }'
paste /tmp/t.a /tmp/t.b /tmp/t.c | awk '{ print $3 - $2 }' | sort -n | awk '{ v[NR] = $1 } END {
  printf "median of per-round c - b: %.1f ms\n", v[int((NR + 1) / 2)] / 1000 }'
echo "1 passed, 0 failed"
