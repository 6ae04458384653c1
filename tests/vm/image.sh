#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the VM node image from Debian's packages only: a bookworm root with systemd
# as PID 1, udev, D-Bus, the cloud kernel and its initrd, NetworkManager as Debian
# ships it (auto-default on) and systemd-networkd (disabled, as shipped; a VM boots
# with one of them: see tests/src/vm.rs), root autologin on the serial console.
# Nothing of the host goes into it. Prints the directory holding vmlinuz, initrd.img
# and root.img (raw ext4, booted with snapshot=on so it stays pristine).
#
#   tests/vm/image.sh            # target/vm/<hash of the recipe>/, built once
#
# The cache key is a hash of this script and tests/vm/guest/: change the recipe and
# the next run builds a new image.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
suite=bookworm
mirror="${MULTINIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Debian's packages only; dbus-bin has dbus-monitor (the tests count D-Bus writes),
# kmod loads bonding/8021q, iputils-ping lets a test reach a peer on a segment.
include=systemd,systemd-sysv,udev,dbus,dbus-bin,libpam-systemd,kmod,iproute2,network-manager,iputils-ping
kernel=(linux-image-cloud-amd64 initramfs-tools)

hash="$( (cat "$0"; find tests/vm/guest -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
out="$repo/target/vm/$hash"
if [ -f "$out/root.img" ]; then
  echo "$out"
  exit 0
fi
log() { echo "tests/vm/image.sh: $*" >&2; }
for tool in debootstrap mkfs.ext4; do
  command -v "$tool" >/dev/null || { log "$tool is missing (tests/setup.sh installs it)"; exit 1; }
done

mkdir -p "$repo/target/vm"
work="$(mktemp -d "$repo/target/vm/build.XXXXXX")"
root="$work/root"
mounted=()
cleanup() {
  local m
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start=$SECONDS
log "building the $suite node image (debootstrap, once; cached in $out)"
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }

# The kernel's postinst builds the initrd inside the root: it needs /proc, /sys, /dev.
for m in proc sys dev; do
  mount --bind "/$m" "$root/$m"
  mounted=("$root/$m" "${mounted[@]}")
done
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${kernel[@]}" \
  >"$work/kernel.log" 2>&1 || { tail -n 20 "$work/kernel.log" >&2; log "installing the kernel failed"; exit 1; }
for m in "${mounted[@]}"; do umount -l "$m"; done
mounted=()

# The guest's own files (autologin, the primary's .network for networkd boots).
cp -a tests/vm/guest/. "$root/"
# No static hostname: the harness names each node on the kernel command line
# (systemd.hostname=), and NetworkManager would put a static one back.
rm -f "$root/etc/hostname"
# A fixed machine id: an empty one would make every boot a first boot (presets).
echo 6d756c74696e69637600000000000001 >"$root/etc/machine-id"
# Timers that would start apt or disk jobs in the middle of a test.
for t in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$t"
done
rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages

mkdir -p "$work/out"
cp "$(ls "$root"/boot/vmlinuz-* | tail -n 1)" "$work/out/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | tail -n 1)" "$work/out/initrd.img"
mkfs.ext4 -q -L root -d "$root" "$work/out/root.img" 3G >"$work/mkfs.log" 2>&1 || { cat "$work/mkfs.log" >&2; exit 1; }
rm -rf "$out"
mv "$work/out" "$out"
log "image built in $((SECONDS - start)) s: $(du -sh --apparent-size "$out/root.img" | cut -f1) disk, kernel $(ls "$root"/boot/vmlinuz-* | sed 's/.*vmlinuz-//' | tail -n 1)"
echo "$out"
