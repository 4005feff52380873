# Sourced by tests/vm/run.sh and tests/vm/bench.sh (bash): the boot.sh arguments that put our
# relay, pairing tool and virtual phone, tests/vm/guest/lib.sh and libfido2's and OpenSSH's
# clients into the guest, in the array `vm_args`. Uses already built binaries
# (target/debug, or $RELAY / $PAIRING_TOOL / $VIRTUAL_PHONE); exits 125 when one is missing.
# Needs $repo and $vm set by the caller.
vm_bin() { # NAME ENVVAR
  local b="${!2:-$repo/target/debug/$1}"
  [ -x "$b" ] || { echo "vm: no $1 at $b (build it first)" >&2; exit 125; }
  echo "$b"
}
vm_clients=(/usr/bin/fido2-token /usr/bin/fido2-cred /usr/bin/fido2-assert /usr/bin/ssh-keygen
            /usr/lib/openssh/ssh-sk-helper)
"$vm/install.sh"
vm_args=(--bin "$(vm_bin relay RELAY)" --bin "$(vm_bin pairing-tool PAIRING_TOOL)"
         --bin "$(vm_bin virtual-phone VIRTUAL_PHONE)" --file "$vm/guest/lib.sh:/vm/lib.sh"
         # rustls' platform verifier will not build an HTTP client without the system's roots,
         # even for the plain-http loopback relay.
         --file /etc/ssl/certs/ca-certificates.crt)
for c in "${vm_clients[@]}"; do vm_args+=(--file "$c"); done
