#!/usr/bin/env bash
# Boots a real Linux kernel (Debian's linux-image-6.1 amd64) under qemu's software emulation
# (TCG; never KVM: this kind of machine's /dev/kvm hangs the guest) with a small initramfs,
# runs one guest shell script as root inside it, and exits with that script's exit code.
# Other tests reuse it for anything that needs a real kernel (uhid, hidraw, modules).
#
# Usage: tests/vm/boot.sh [options] GUEST_SCRIPT
#   --bin PATH        a host executable, put at /usr/local/bin/NAME in the guest (debug info
#                     stripped, to keep the initramfs small), with its ldd libraries
#   --file PATH[:DEST]  a host file at the same path in the guest (or at DEST); an ELF file
#                     brings its ldd libraries at their paths too, so dynamic glibc programs
#                     run unchanged
#   --module NAME     also load this kernel module (and its dependencies per modules.dep);
#                     hid, hid-generic and uhid are always loaded
#   --env NAME=VALUE  exported to the guest script
#   --timeout SECS    host-side limit for the whole boot (default 150): qemu is killed by pid
#   --mem MB          guest memory (default 512)   --smp N  guest CPUs (default 2)
#   --log FILE        also keep the whole console output there
#   --quiet           print only the guest script's output, not the boot's progress lines
#
# Exit status: the guest script's own status (0 = pass), carried out through qemu's
# isa-debug-exit device; 124 when the timeout killed qemu; 125 when the VM ended without a
# verdict (kernel panic, init died) or the harness itself failed (setup, download).
#
# The kernel and the modules it needs are built once per machine into
# ${PASSKEYPHONE_VM_CACHE:-~/.cache/passkeyphone-vm}/<package>_<version>/ (from `apt-get
# download` + `dpkg-deb --fsys-tarfile`, nothing installed); the initramfs is built per run
# in a temporary folder that is removed on exit. The guest has busybox (static) as its shell
# and tools, devtmpfs on /dev, proc, sysfs, a tmpfs /tmp, and loopback up; no network card.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "vm: $*" >&2; exit 125; }
say() { [ "$quiet" = 1 ] || echo "vm: $*" >&2; }

bins=() files=() modules=(hid hid-generic uhid) envs=()
timeout_s=150 mem=512 smp=2 log="" quiet=0 guest=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bins+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    --module) modules+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --smp) smp="$2"; shift 2 ;;
    --log) log="$2"; shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$guest" ] || die "one guest script only (got $guest and $1)"; guest="$1"; shift ;;
  esac
done
[ -n "$guest" ] || die "usage: boot.sh [options] GUEST_SCRIPT (see --help)"
[ -f "$guest" ] || die "no guest script at $guest"
[[ "$timeout_s" =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds, got $timeout_s"

# --- what the host needs (idempotent: installs only what is missing) ---------------------
"$here/install.sh"

# --- kernel and modules, once per machine -------------------------------------------------
# The exact package linux-image-amd64 points at, e.g. linux-image-6.1.0-57-amd64 6.1.192-3.
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)"
[ -n "$pkg" ] || die "apt knows no linux-image-amd64 (run apt-get update)"
version="$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')"
kver="${pkg#linux-image-}"
cache="${PASSKEYPHONE_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/passkeyphone-vm}/${pkg}_${version}"
moddir="$cache/lib/modules/$kver"

# Resolves NAME to its module path (relative to $moddir) through modules.dep, where a name's
# '-' and '_' are the same (the kernel's rule).
module_path() {
  awk -v want="${1//-/_}" '{ p = $1; sub(/:$/, "", p); n = p; sub(/.*\//, "", n);
    sub(/\.ko.*/, "", n); gsub(/-/, "_", n); if (n == want) { print p; exit } }' "$moddir/modules.dep"
}
# Prints the modules to insmod for NAME, each after its dependencies (per modules.dep, followed
# recursively: busybox's depmod does not promise an order within a line); callers skip repeats.
module_order() {
  local p
  p="$(module_path "$1")"
  [ -n "$p" ] || die "kernel $kver has no module $1"
  path_order "$p"
}
path_order() {
  local d
  for d in $(sed -n "s|^$1: *||p" "$moddir/modules.dep"); do path_order "$d"; done
  echo "$1"
}

fetch_kernel() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  say "downloading $pkg $version (once per machine, into $cache)"
  (cd "$tmp" && apt-get download -q "$pkg=$version" >/dev/null 2>&1) \
    || die "apt-get download $pkg=$version failed"
  mkdir -p "$tmp/x"
  dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp/x" ./boot "./lib/modules/$kver"
  # The package has no modules.dep (depmod runs at install): build it from the tree.
  busybox depmod -b "$tmp/x" "$kver"
  rm -rf "$cache.part" && mkdir -p "$cache.part/lib/modules/$kver"
  cp "$tmp/x/boot/vmlinuz-$kver" "$cache.part/vmlinuz"
  cp "$tmp/x/lib/modules/$kver/modules.dep" "$tmp/x/lib/modules/$kver/modules.builtin" \
     "$cache.part/lib/modules/$kver/"
  # Keep only the modules asked for (and their dependencies), not the whole 400 MB tree.
  local m p
  for m in "${modules[@]}"; do
    moddir="$tmp/x/lib/modules/$kver" module_order "$m" > "$tmp/order" || exit 125
    while read -r p; do
      mkdir -p "$cache.part/lib/modules/$kver/$(dirname "$p")"
      cp "$tmp/x/lib/modules/$kver/$p" "$cache.part/lib/modules/$kver/$p"
    done < "$tmp/order"
  done
  rm -rf "$cache" && mv "$cache.part" "$cache"
}

need_fetch=0
[ -f "$cache/vmlinuz" ] && [ -f "$moddir/modules.dep" ] || need_fetch=1
if [ "$need_fetch" = 0 ]; then
  for m in "${modules[@]}"; do
    order="$(module_order "$m")" || need_fetch=1
    for p in $order; do [ -f "$moddir/$p" ] || need_fetch=1; done
  done
fi
[ "$need_fetch" = 0 ] || fetch_kernel

# --- the initramfs, per run ------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/passkeyphone-vm.XXXXXX")"
qpid=""
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill -KILL "$qpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc/vm,proc,sys,dev,tmp,root,run,usr/local/bin,usr/bin,usr/sbin,vm}

cp "$(command -v busybox)" "$root/bin/busybox"
# Copies host file $1 to guest path $2, and an ELF file's ldd libraries to their own paths.
add_file() {
  local src="$1" dst="$2"
  [ -e "$src" ] || die "no such file: $src"
  mkdir -p "$root$(dirname "$dst")"
  cp -L "$src" "$root$dst"
  if [ "$(head -c 4 "$src" | od -An -c | tr -d ' ')" = "177ELF" ] && ldd "$src" >/dev/null 2>&1; then
    local lib
    ldd "$src" | grep 'not found' >/dev/null && die "$src: a library is missing: $(ldd "$src" | grep 'not found')"
    for lib in $(ldd "$src" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^\s*\(\/[^ ]*\) (.*/\1/p'); do
      if [ ! -e "$root$lib" ]; then mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; fi
    done
  fi
}
for f in "${files[@]}"; do
  if [[ "$f" == *:* ]]; then add_file "${f%%:*}" "${f#*:}"; else add_file "$f" "$f"; fi
done
for b in "${bins[@]}"; do
  add_file "$b" "/usr/local/bin/$(basename "$b")"
  # Debug builds carry ~100 MB of DWARF each; the guest needs none of it.
  objcopy --strip-debug "$root/usr/local/bin/$(basename "$b")" 2>/dev/null || true
done

: > "$root/etc/vm/modules"
for m in "${modules[@]}"; do
  order="$(module_order "$m")" || exit 125
  for p in $order; do
    grep -qx "$p" "$root/etc/vm/modules" && continue
    mkdir -p "$root/lib/modules/$kver/$(dirname "$p")"
    cp "$moddir/$p" "$root/lib/modules/$kver/$p"
    echo "$p" >> "$root/etc/vm/modules"
  done
done
cp "$moddir/modules.dep" "$moddir/modules.builtin" "$root/lib/modules/$kver/"

printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
: > "$root/vm/env"
for e in "${envs[@]}"; do
  [[ "$e" == *=* ]] || die "--env takes NAME=VALUE, got $e"
  printf 'export %s=%q\n' "${e%%=*}" "${e#*=}" >> "$root/vm/env"
done
cp "$guest" "$root/vm/guest.sh"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$work/initrd.gz"
say "initramfs $(du -m "$work/initrd.gz" | cut -f1) MB; booting $kver (tcg, ${smp} cpu, ${mem} MB)"

# --- boot -------------------------------------------------------------------------------
[ -n "$log" ] || log="$work/console.log"
: > "$log"
# no_timer_check: under emulation on a loaded host the kernel's IO-APIC timer check can miss
# its window and panic ("IO-APIC + timer doesn't work!"); seen here with cargo running beside.
# isa-debug-exit: the guest writes byte V to port 0xf4 and qemu exits with (V << 1) | 1.
qemu-system-x86_64 -accel tcg -cpu max -m "$mem" -smp "$smp" \
  -nographic -monitor none -no-reboot -nic none \
  -kernel "$cache/vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check rdinit=/init" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x01 \
  < /dev/null > >(tee -a "$log" | sed -u 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g; s/\r//g') 2>&1 &
qpid=$!
start=$SECONDS
while kill -0 "$qpid" 2>/dev/null; do
  if [ $((SECONDS - start)) -ge "$timeout_s" ]; then
    kill -KILL "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
    qpid=""
    echo "vm: timed out after ${timeout_s} s; qemu killed" >&2
    exit 124
  fi
  sleep 0.2
done
rc=0
wait "$qpid" || rc=$?
qpid=""
sleep 0.1 # let tee flush the last console lines
if [ $((rc % 2)) -eq 1 ]; then
  verdict=$((rc >> 1))
  say "guest verdict $verdict after $((SECONDS - start)) s"
  exit "$verdict"
fi
echo "vm: the VM ended without a verdict (qemu exit $rc): kernel panic or init failure" >&2
exit 125
