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
  serve --ctaphid 127.0.0.1:0 > /tmp/tool.out 2> /tmp/tool.err & toolpid=$!; pids="$pids $toolpid"
addr=$(wait_line /tmp/tool.out '^ctaphid listening on ' 30 | sed 's/^ctaphid listening on //')
code=$(wait_line /tmp/tool.out '^qr PASSKEYPHONE:/' 30 | sed 's/^qr //')
check "pairing tool shows a pairing code" test -n "$code"

check "phone pairs with the code" timeout 60 virtual-phone --data-dir /tmp/phone pair \
  --allow-insecure-loopback --name "VM phone" "$code"
check "tool reports the pairing" wait_line /tmp/tool.out '^paired with VM phone$' 30

# No built-in user verification: clients verify the user with the client PIN.
virtual-phone --data-dir /tmp/phone serve --link --allow-insecure-loopback --no-builtin-uv \
  > /tmp/phone.out 2> /tmp/phone.err & phonepid=$!; pids="$pids $phonepid"
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

echo "== the phone as a FIDO HID device: pairing-tool serve --uhid"
# Restarted now that it is paired: the device is named after the paired phone.
kill "$toolpid"; wait "$toolpid" 2>/dev/null
check "fido2-token -L lists nothing before the device exists" sh -c '[ -z "$(fido2-token -L)" ]'
pairing-tool --data-dir /tmp/pc --relay "$url" --allow-insecure-loopback --name "VM PC" \
  serve --ctaphid 127.0.0.1:0 --uhid > /tmp/tool.out 2> /tmp/tool.err & toolpid=$!; pids="$pids $toolpid"
check "the tool creates the uhid device, named after the phone" \
  wait_line /tmp/tool.out '^uhid device ready: VM phone via pairing-tool$' 30
hidraw_appears() { n=100; while [ ! -c /dev/hidraw0 ]; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done; }
check "the kernel exposes /dev/hidraw0" hidraw_appears
check "sysfs names the device after the phone" \
  grep -q '^HID_NAME=VM phone via pairing-tool$' /sys/class/hidraw/hidraw0/device/uevent
dev=/dev/hidraw0
check "fido2-token -L lists the phone (USB bus, pid.codes test ids)" \
  sh -c 'fido2-token -L | tee /dev/stderr | grep -q "^/dev/hidraw0: vendor=0x1209, product=0x0001"'
cat /tmp/check.out
check "fido2-token -I shows the phone's getInfo" sh -c "fido2-token -I $dev | grep -q FIDO_2_0"
cat /tmp/check.out
pin=246810
check "fido2-token -S sets the client PIN" sh -c "printf '$pin\n$pin\n' | fido2-token -S $dev"
check "getInfo now says clientPin is set" sh -c "fido2-token -I $dev | grep -q 'options:.* clientPin'"

echo "== libfido2's fido2-cred / fido2-assert through /dev/hidraw0"
cdh=$(head -c 32 /dev/urandom | base64)
uid=$(head -c 16 /dev/urandom | base64)
printf '%s\nvm.example\nalice\n%s\n' "$cdh" "$uid" > /tmp/cred.param
check "fido2-cred -M registers (PIN, user verified)" \
  sh -c "echo $pin | fido2-cred -M -v -i /tmp/cred.param -o /tmp/cred.out $dev es256"
check "fido2-cred -V verifies the attestation" \
  fido2-cred -V -v -i /tmp/cred.out -o /tmp/cred.pub es256
head -n 1 /tmp/cred.pub > /tmp/cred.id; sed 1d /tmp/cred.pub > /tmp/cred.pem
printf '%s\nvm.example\n%s\n' "$(head -c 32 /dev/urandom | base64)" "$(cat /tmp/cred.id)" > /tmp/assert.param
check "fido2-assert -G signs in (PIN, user present and verified)" \
  sh -c "echo $pin | fido2-assert -G -p -v -i /tmp/assert.param -o /tmp/assert.out $dev"
check "fido2-assert -V verifies the signature with the registered key" \
  fido2-assert -V -p -v -i /tmp/assert.out /tmp/cred.pem es256
# The same check must refuse a signature over another challenge.
sed '1s/.*/'"$(head -c 32 /dev/urandom | base64 | sed 's/[\/&]/\\&/g')"'/' /tmp/assert.out > /tmp/assert.bad
expect_fail "fido2-assert -V refuses it for another challenge" 'verify|signature|FIDO_ERR' \
  fido2-assert -V -p -v -i /tmp/assert.bad /tmp/cred.pem es256

echo "== OpenSSH: resident security keys on the phone"
printf '#!/bin/sh\necho %s\n' "$pin" > /tmp/askpass; chmod +x /tmp/askpass
export SSH_ASKPASS=/tmp/askpass SSH_ASKPASS_REQUIRE=force SSH_SK_HELPER=/usr/lib/openssh/ssh-sk-helper
echo "a file to sign" > /tmp/msg
ssh_key_checks() { # TYPE
  t=$1
  check "ssh-keygen -t $t -O resident makes a key on the phone" \
    ssh-keygen -q -t "$t" -O resident -O application=ssh:vm -N '' -f "/tmp/id_$t" -C "vm-$t"
  check "ssh-keygen -Y sign signs a file with the $t key" \
    sh -c "rm -f /tmp/msg.sig; ssh-keygen -Y sign -f /tmp/id_$t -n file /tmp/msg"
  echo "vm@test $(cat /tmp/id_$t.pub)" > /tmp/allowed_$t
  check "ssh-keygen -Y verify accepts the $t signature" \
    sh -c "ssh-keygen -Y verify -f /tmp/allowed_$t -I vm@test -n file -s /tmp/msg.sig < /tmp/msg"
  echo "another file" > /tmp/msg2
  expect_fail "ssh-keygen -Y verify refuses it for another file" 'failed|invalid|incorrect' \
    sh -c "ssh-keygen -Y verify -f /tmp/allowed_$t -I vm@test -n file -s /tmp/msg.sig < /tmp/msg2"
}
ssh_key_checks ecdsa-sk
if fido2-token -I "$dev" | grep -q 'algorithms:.*eddsa'; then
  ssh_key_checks ed25519-sk
else
  echo "skip - ed25519-sk: the phone does not offer EdDSA (COSE -8) yet"
fi
check "ssh-keygen -K downloads the resident keys again" \
  sh -c 'mkdir -p /tmp/k && cd /tmp/k && ssh-keygen -K -N "" && ls /tmp/k | grep -q "^id_ecdsa_sk_rk_vm$"'
check "the downloaded key is the one made before" \
  sh -c 'cut -d" " -f2 /tmp/k/id_ecdsa_sk_rk_vm.pub | grep -qxF "$(cut -d" " -f2 /tmp/id_ecdsa-sk.pub)"'

show_logs
summary
