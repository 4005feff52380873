# Guest script (tests/vm/run.sh boots it with tests/vm/boot.sh): inside a real Linux kernel,
# on 127.0.0.1, the relay, the pairing tool and the virtual phone pair as processes, the
# phone answers CTAP through the tool's CTAPHID socket, and libfido2's tools see the kernel's
# HID stack (uhid loaded, /dev/uhid present). Prints each check and `N passed, N failed`.
. /vm/lib.sh
# Section headers carry the guest's uptime, to see where the time goes.
section() { echo "== [$(cut -d" " -f1 /proc/uptime) s] $*"; }
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

section "kernel: $(uname -r)"
check "uhid module is loaded" grep -q '^uhid ' /proc/modules
check "hid-generic module is loaded" grep -q '^hid_generic ' /proc/modules
check "/dev/uhid is a character device" test -c /dev/uhid

section "pairing on 127.0.0.1: relay, pairing tool, virtual phone"
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

# A bare CTAPHID exchange on the tool's socket: getInfo is forwarded over the relay to the
# phone, which answers CTAP2_OK (00) and a CBOR map whose versions hold "FIDO_2_0".
getinfo_ok() {
  r=$(ctaphid_getinfo "$@") || { echo "$r"; return 1; }
  echo "$r"
  cid=$(echo "$r" | cut -d' ' -f2) pkt=$(echo "$r" | cut -d' ' -f4)
  [ "$(echo "$pkt" | cut -c1-10)" = "${cid}90" ] && [ "$(echo "$pkt" | cut -c15-16)" = 00 ] \
    && echo "$pkt" | grep -q 4649444f5f325f30
}
check "getInfo through the tool's CTAPHID socket reaches the phone" getinfo_ok tcp "$addr"

section "the phone as a FIDO HID device: pairing-tool serve --uhid"
# Restarted now that it is paired: the device is named after the paired phone.
kill "$toolpid"; wait "$toolpid" 2>/dev/null
check "fido2-token -L lists nothing before the device exists" sh -c '[ -z "$(fido2-token -L)" ]'
pairing-tool --data-dir /tmp/pc --relay "$url" --allow-insecure-loopback --name "VM PC" \
  serve --ctaphid 127.0.0.1:0 --uhid --session-idle-secs 2 > /tmp/tool.out 2> /tmp/tool.err & toolpid=$!; pids="$pids $toolpid"
check "the tool creates the uhid device, named after the phone" \
  wait_line /tmp/tool.out '^uhid device ready: VM phone via pairing-tool$' 30
hidraw_appears() { n=100; while [ ! -c /dev/hidraw0 ]; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done; }
check "the kernel exposes /dev/hidraw0" hidraw_appears
check "sysfs names the device after the phone" \
  grep -q '^HID_NAME=VM phone via pairing-tool$' /sys/class/hidraw/hidraw0/device/uevent
dev=/dev/hidraw0
check "getInfo as bare reports on /dev/hidraw0 reaches the phone" getinfo_ok hidraw /dev/hidraw0
check "fido2-token -L lists the phone (USB bus, pid.codes test ids)" \
  sh -c 'fido2-token -L | tee /dev/stderr | grep -q "^/dev/hidraw0: vendor=0x1209, product=0x0001"'
cat /tmp/check.out
check "fido2-token -I shows the phone's getInfo" sh -c "fido2-token -I $dev | grep -q FIDO_2_0"
cat /tmp/check.out
pin=246810
check "fido2-token -S sets the client PIN" sh -c "printf '$pin\n$pin\n' | fido2-token -S $dev"
check "getInfo now says clientPin is set" sh -c "fido2-token -I $dev | grep -q 'options:.* clientPin'"

section "libfido2's fido2-cred / fido2-assert through /dev/hidraw0"
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

section "OpenSSH: resident security keys on the phone"
printf '#!/bin/sh\necho %s\n' "$pin" > /tmp/askpass; chmod +x /tmp/askpass
export SSH_ASKPASS=/tmp/askpass SSH_ASKPASS_REQUIRE=force SSH_SK_HELPER=/usr/lib/openssh/ssh-sk-helper
echo "a file to sign" > /tmp/msg
ssh_key_checks() { # TYPE
  t=$1
  check "ssh-keygen -t $t -O resident makes a key on the phone" \
    ssh-keygen -q -t "$t" -O resident -O application=ssh:vm -O user="vm-$t" -N '' -f "/tmp/id_$t" -C "vm-$t"
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
check "getInfo lists EdDSA beside ES256" sh -c "fido2-token -I $dev | grep -q 'algorithms:.*es256.*eddsa'"
ssh_key_checks ed25519-sk
check "ssh-keygen -K downloads the resident keys again" \
  sh -c 'mkdir -p /tmp/k && cd /tmp/k && ssh-keygen -K -N "" && ls /tmp/k'
cat /tmp/check.out
for t in ecdsa-sk ed25519-sk; do
  check "the downloaded $t key is the one made before" \
    sh -c "cut -d' ' -f2 /tmp/k/*.pub | grep -qxF \"\$(cut -d' ' -f2 /tmp/id_$t.pub)\""
done

section "the user declines on the phone, then the phone is unreachable"
# The tool runs with --session-idle-secs 2: once the killed phone's session has idled out, the
# next request knocks afresh (else the first one waits out 15 s of silence on the dead one).
stop_phone() { kill "$phonepid"; wait "$phonepid" 2>/dev/null; sleep 3; }
passkeys() { virtual-phone --data-dir /tmp/phone passkeys list | wc -l; }
stop_phone
before=$(passkeys)
echo "passkeys on the phone: $before"
virtual-phone --data-dir /tmp/phone serve --link --allow-insecure-loopback --no-builtin-uv \
  --presence deny > /tmp/phone.out 2> /tmp/phone.err & phonepid=$!; pids="$pids $phonepid"
check "the phone serves its link again (the user will decline)" \
  wait_line /tmp/phone.out '^link service running$' 30
printf '%s\nvm.example\nbob\n%s\n' "$cdh" "$uid" > /tmp/cred2.param
expect_fail "declining reaches fido2-cred -M as operation denied" 'FIDO_ERR_OPERATION_DENIED' \
  sh -c "echo $pin | fido2-cred -M -r -v -i /tmp/cred2.param $dev es256"
expect_fail "declining reaches fido2-assert -G as operation denied" 'FIDO_ERR_OPERATION_DENIED' \
  sh -c "echo $pin | fido2-assert -G -p -v -i /tmp/assert.param $dev"
# OpenSSH 9.2's sk-usbhid reads CTAP2_ERR_OPERATION_DENIED as "PIN required" and retries
# with the PIN until it gives up: that is what its user sees.
expect_fail "declining reaches ssh-keygen, which gives up" 'Too many incorrect PINs' \
  ssh-keygen -q -t ecdsa-sk -O resident -O application=ssh:declined -N '' -f /tmp/id_declined
check "ssh-keygen wrote no key for the declined request" test ! -e /tmp/id_declined
stop_phone
check "nothing was stored when the user declined" test "$(passkeys)" -eq "$before"
# Nobody answers the tool's knock: it answers CTAP1_ERR_TIMEOUT (0x05) after 10 s, "the phone
# never got the request" (tests/pairing-tool/README.md).
unreachable() {
  r=$(ctaphid_getinfo hidraw /dev/hidraw0) || { echo "$r"; return 1; }
  echo "$r"
  cid=$(echo "$r" | cut -d' ' -f2) pkt=$(echo "$r" | cut -d' ' -f4)
  [ "$(echo "$pkt" | cut -c1-16)" = "${cid}90000105" ]
}
check "an unreachable phone answers a request on /dev/hidraw0 with CTAP1_ERR_TIMEOUT (0x05)" unreachable
check "nothing was stored while the phone was unreachable" test "$(passkeys)" -eq "$before"

section "the device goes away with the tool"
kill -TERM "$toolpid"
tool_rc=0; wait "$toolpid" || tool_rc=$?
check "the tool exits 0 on SIGTERM" test "$tool_rc" -eq 0
check "/dev/hidraw0 is gone" sh -c 'n=50; while [ -e /dev/hidraw0 ]; do n=$((n-1)); [ $n -gt 0 ] || exit 1; sleep 0.1; done'
check "fido2-token -L lists nothing again" sh -c '[ -z "$(fido2-token -L)" ]'

show_logs
section "done"
summary
