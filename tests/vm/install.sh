#!/usr/bin/env bash
# Installs what the VM harness (tests/vm/boot.sh) and its guest tests need on the host, from
# Debian's apt: qemu (software emulation only), busybox-static (the guest's shell and tools),
# cpio (the initramfs), and the real FIDO2 clients the guest tests run (libfido2's
# fido2-tools, OpenSSH's ssh-keygen and its security-key helper). Installs only what is
# missing; safe to run again.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
# The static build: the guest has no libc of its own for busybox to use.
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x depmod >/dev/null \
  && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v objcopy >/dev/null 2>&1 || need+=(binutils)
command -v fido2-token >/dev/null 2>&1 || need+=(fido2-tools)
{ command -v ssh-keygen >/dev/null 2>&1 && [ -x /usr/lib/openssh/ssh-sk-helper ]; } || need+=(openssh-client)
if [ "${#need[@]}" -gt 0 ]; then
  echo "vm: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
