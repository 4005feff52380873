#!/usr/bin/env bash
# libwebauthn 0.11.0 / pxp 0.1.0 (linux-credentials, crates.io) as a second independent hybrid
# browser side: registers and signs in through the virtual phone (see src/main.rs).
#
# pxp dials only wss://{advert's tunnel domain}:443 and trusts the system's roots, so the test
# runs in a private network + mount namespace (root, or an unprivileged user namespace):
# loopback up, /etc/hosts bind-mounted to map the two assigned tunnel domains to 127.0.0.1,
# and SSL_CERT_FILE naming a CA made here with openssl for this run only. Nothing it starts
# can reach or be reached from the machine's network, and port 443 there is its own.
#
# Usage: tests/hybrid-libwebauthn/run.sh   (prints "N passed, N failed")
# Overrides: HYBRID_E2E_VIRTUAL_PHONE, HYBRID_E2E_TUNNEL_SERVER, HYBRID_E2E_CABLE_BACKEND
# (binaries to use instead, as in tests/hybrid-e2e).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
source tests/setup.sh

# tests/setup.sh installed the fake BlueZ's packages (dbus-daemon, python3-dbusmock). Here:
# hidapi (a libwebauthn dependency) links libudev; openssl makes the CA; ip makes the namespace.
need=()
pkg-config --exists libudev 2>/dev/null || need+=(libudev-dev)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
# The phone and our tunnel server (no-ops after run-all's workspace build).
cargo build --locked -q -p virtual-phone -p tunnel-server
backend="${HYBRID_E2E_CABLE_BACKEND:-$CARGO_TARGET_DIR/hybrid-e2e-tools/bin/cable-tunnel-server-backend}"
if [ ! -x "$backend" ]; then
  cargo install --locked -q --root "$CARGO_TARGET_DIR/hybrid-e2e-tools" \
    cable-tunnel-server-backend@0.1.0
fi
export HYBRID_E2E_CABLE_BACKEND="$backend"
# The relying party's own checks first (each rejects a response changed in one way).
cargo test --locked -q --manifest-path "$here/Cargo.toml"
cargo build --locked -q --manifest-path "$here/Cargo.toml"
bin="$CARGO_TARGET_DIR/debug/hybrid-libwebauthn"

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

# The test CA and the tunnel front's certificate for both assigned domains (CTAP 2.2 §11.5:
# server ids 0 and 1). P-256 keys, valid for a day.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=hybrid-libwebauthn test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=cable.ua5v.com" -keyout "$dir/front.key" -out "$dir/front.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:cable.ua5v.com,DNS:cable.auth.com" \
  "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" > "$dir/front.ext"
openssl x509 -req -in "$dir/front.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 1 -extfile "$dir/front.ext" -out "$dir/front.pem" 2>/dev/null
printf '%s\n' "127.0.0.1 localhost cable.ua5v.com cable.auth.com" "::1 localhost" > "$dir/hosts"

inner='set -e
ip link set lo up
mount --bind "$1/hosts" /etc/hosts
export SSL_CERT_FILE="$1/ca.pem"
exec "$2" --work-dir "$1" --tls-cert "$1/front.pem" --tls-key "$1/front.key"'
ns=(unshare --net --mount)
[ "$(id -u)" -ne 0 ] && ns=(unshare --user --map-root-user --net --mount)
"${ns[@]}" bash -c "$inner" inner "$dir" "$bin"
