# Guest script (tests/vm/run.sh boots it with tests/vm/boot.sh): inside a real Linux kernel,
# on 127.0.0.1, the relay, the pairing tool and the virtual phone pair as processes, the
# phone answers CTAP through the tool's CTAPHID socket, and libfido2's tools see the kernel's
# HID stack (uhid loaded, /dev/uhid present). Prints each check and `N passed, N failed`.
. /vm/lib.sh
set -u
pids=""
stop_all() { for p in $pids; do kill "$p" 2>/dev/null; done; }
trap stop_all EXIT
# On a failure, the processes' logs say why.
show_logs() {
  [ "$failed" -eq 0 ] && return
  for f in /tmp/relay.err /tmp/tool.err /tmp/phone.err; do
    [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
}

echo "== kernel: $(uname -r)"
check "uhid module is loaded" grep -q '^uhid ' /proc/modules
check "hid-generic module is loaded" grep -q '^hid_generic ' /proc/modules
check "/dev/uhid is a character device" test -c /dev/uhid

echo "== pairing on 127.0.0.1: relay, pairing tool, virtual phone"
relay serve --listen 127.0.0.1:0 > /tmp/relay.out 2> /tmp/relay.err & pids="$pids $!"
url=$(wait_line /tmp/relay.out '^relay listening on ' 30 | sed 's/^relay listening on //')
check "relay listens on loopback" test -n "$url"

pairing-tool --data-dir /tmp/pc --relay "$url" --allow-insecure-loopback --name "VM PC" \
  serve --ctaphid 127.0.0.1:0 ${TOOL_FLAGS:-} > /tmp/tool.out 2> /tmp/tool.err & pids="$pids $!"
addr=$(wait_line /tmp/tool.out '^ctaphid listening on ' 30 | sed 's/^ctaphid listening on //')
code=$(wait_line /tmp/tool.out '^qr PASSKEYPHONE:/' 30 | sed 's/^qr //')
check "pairing tool shows a pairing code" test -n "$code"

check "phone pairs with the code" timeout 60 virtual-phone --data-dir /tmp/phone pair \
  --allow-insecure-loopback --name "VM phone" "$code"
check "tool reports the pairing" wait_line /tmp/tool.out '^paired with VM phone$' 30

virtual-phone --data-dir /tmp/phone serve --link --allow-insecure-loopback ${PHONE_FLAGS:-} \
  > /tmp/phone.out 2> /tmp/phone.err & pids="$pids $!"
check "phone serves its link" wait_line /tmp/phone.out '^link service running$' 30

# A CTAPHID exchange on the tool's socket (proto/ctaphid-socket.md: raw 64-byte reports):
# INIT on the broadcast channel, then authenticatorGetInfo (CTAP 2.1 §6.4, command 0x04) on
# the channel it gives, which the tool forwards over the relay to the phone.
getinfo_via_tool() {
  [ -n "$addr" ] || { echo "the tool has no CTAPHID socket"; return 1; }
  host=${addr%:*} port=${addr##*:}
  rm -f /tmp/hid.in; mkfifo /tmp/hid.in; : > /tmp/hid.out
  timeout 60 nc "$host" "$port" < /tmp/hid.in > /tmp/hid.out & ncpid=$!
  exec 3> /tmp/hid.in
  { bytes ff ff ff ff 86 00 08 01 02 03 04 05 06 07 08; head -c 49 /dev/zero; } >&3
  wait_size /tmp/hid.out 64 30 || { echo "no INIT response"; exec 3>&-; return 1; }
  init=$(hex_at /tmp/hid.out 0 64)
  case "$init" in ffffffff860011010203040506070800*|ffffffff8600110102030405060708*) ;;
    *) echo "bad INIT response $init"; exec 3>&-; return 1 ;; esac
  cid=$(echo "$init" | cut -c31-38)
  { bytes $(echo "$cid" | sed 's/../& /g') 90 00 01 04; head -c 57 /dev/zero; } >&3
  off=64
  while :; do
    wait_size /tmp/hid.out $((off + 64)) 60 || { echo "no getInfo response"; exec 3>&-; return 1; }
    pkt=$(hex_at /tmp/hid.out "$off" 64)
    off=$((off + 64))
    # Keepalives (0xbb) may come first while the phone is reached.
    [ "$(echo "$pkt" | cut -c9-10)" = bb ] && continue
    break
  done
  exec 3>&-
  kill "$ncpid" 2>/dev/null
  echo "getInfo first packet: $pkt"
  # cid, 0x90, length, status 0x00 (CTAP2_OK), then a CBOR map whose versions hold "FIDO_2_0".
  [ "$(echo "$pkt" | cut -c1-10)" = "${cid}90" ] || return 1
  [ "$(echo "$pkt" | cut -c15-16)" = 00 ] || return 1
  echo "$pkt" | grep -q 4649444f5f325f30
}
check "getInfo through the tool's CTAPHID socket reaches the phone" getinfo_via_tool

echo "== libfido2 on the kernel's HID stack"
check "fido2-token -L runs" fido2-token -L
cat /tmp/check.out

show_logs
summary
