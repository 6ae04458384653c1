#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks the built packages without installing them on this host: file lists and
# modes, conffiles, dependencies, maintainer scripts (sh -n), lintian without
# errors, the glibc floor of the binaries; then installs both .rpm files with
# `rpm --root` into a throwaway root and verifies them there (`rpm -V`).
#
#   packaging/check-packages.sh DIR    # DIR holds the four packages of one version
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: packaging/check-packages.sh DIR}"
version="$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name=="multinicd") | .version')"
fail() { echo "check-packages: $*" >&2; exit 1; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

# has PACKAGE LISTING LINE...: every "mode owner/group path" LINE is in the LISTING.
has() {
  local package="$1" listing="$2"; shift 2
  for want in "$@"; do
    grep -qxF -- "$want" <<<"$listing" || fail "$(basename "$package"): missing or wrong mode: $want"
  done
}
deb_has() { has "$1" "$(dpkg-deb -c "$1" | awk '{print $1, $2, $6}' | sed 's|0/0|root/root|; s| \./| /|')" "${@:2}"; }
rpm_has() {
  has "$1" "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILENAMES}\n]' "$1")" "${@:2}"
}

# --- .deb ---
d="$dir/multinicd_${version}-1_amd64.deb"
p="$dir/kubectl-multinic_${version}-1_amd64.deb"
deb_has "$d" \
  "-rwxr-xr-x root/root /usr/bin/multinicd" \
  "-rw-r--r-- root/root /lib/systemd/system/multinicd.service" \
  "-rw-r--r-- root/root /lib/systemd/networkd.conf.d/multinic.conf" \
  "-rw-r--r-- root/root /etc/multinic/multinicd.yaml" \
  "-rw-r--r-- root/root /usr/share/doc/multinicd/copyright" \
  "-rw-r--r-- root/root /usr/share/man/man8/multinicd.8.gz" \
  "-rw-r--r-- root/root /usr/share/man/man8/multinicd-run.8.gz" \
  "-rw-r--r-- root/root /usr/share/man/man5/multinicd.yaml.5.gz"
deb_has "$p" \
  "-rwxr-xr-x root/root /usr/bin/kubectl-multinic" \
  "-rwxr-xr-x root/root /usr/bin/kubectl_complete-multinic" \
  "-rw-r--r-- root/root /usr/share/doc/kubectl-multinic/copyright" \
  "-rw-r--r-- root/root /usr/share/man/man1/kubectl-multinic.1.gz" \
  "-rw-r--r-- root/root /usr/share/man/man1/kubectl-multinic-status.1.gz" \
  "-rw-r--r-- root/root /usr/share/man/man1/kubectl_complete-multinic.1.gz"
for deb in "$d" "$p"; do
  [ "$(dpkg-deb -f "$deb" Version)" = "$version-1" ] || fail "$(basename "$deb"): version is not the workspace's ($version)"
done
depends="$(dpkg-deb -f "$d" Depends)"
for want in "libc6 (>= 2.28)" dbus "network-manager | systemd (>= 245)"; do
  tr ',' '\n' <<<"$depends" | sed 's/^ *//' | grep -qxF -- "$want" || fail "multinicd Depends lacks $want: $depends"
done
[ "$(dpkg-deb -f "$p" Depends)" = "libc6 (>= 2.28)" ] || fail "kubectl-multinic Depends: $(dpkg-deb -f "$p" Depends)"
dpkg-deb -e "$d" "$work/control"
[ "$(cat "$work/control/conffiles")" = /etc/multinic/multinicd.yaml ] || fail "conffiles: $(cat "$work/control/conffiles")"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "$s missing"
  sh -n "$work/control/$s" || fail "$s does not parse"
done
for deb in "$d" "$p"; do
  tags="$(lintian --tag-display-limit 0 "$deb" 2>/dev/null || true)"
  errors="$(grep '^E:' <<<"$tags" || true)"
  [ -z "$errors" ] || fail "lintian errors in $(basename "$deb"):
$errors"
  # Every program has its manual page, and lintian can read them all.
  manual="$(grep -E 'no-manual-page|manpage-has|groff-message' <<<"$tags" || true)"
  [ -z "$manual" ] || fail "lintian on the manual pages of $(basename "$deb"):
$manual"
done

# --- glibc floor (what packaging/build.sh promises, checked on the packaged files) ---
dpkg-deb -x "$d" "$work/deb"
dpkg-deb -x "$p" "$work/deb"
for bin in "$work"/deb/usr/bin/multinicd "$work"/deb/usr/bin/kubectl-multinic; do
  newest="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
  [ "$(printf '%s\n2.28\n' "$newest" | sort -V | tail -n 1)" = 2.28 ] || fail "$(basename "$bin") needs GLIBC_$newest (> 2.28)"
done

# The pages render (man -l), and the config page documents every key.
man_text() { dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/share/man/$2" | gunzip | MANWIDTH=200 man -l - 2>&1; }
man_text "$d" man8/multinicd.8.gz | grep -q 'multinicd-run(8)' || fail "multinicd(8) does not list its commands"
man_text "$p" man1/kubectl-multinic-create.1.gz | grep -q -- '--nic' || fail "kubectl-multinic-create(1) lacks --nic"
config_page="$(man_text "$d" man5/multinicd.yaml.5.gz)"
for key in $("$work/deb/usr/bin/multinicd" --config /dev/null config | grep -v "^#" | cut -d: -f1); do
  grep -q "^ *$key (default:" <<<"$config_page" || fail "multinicd.yaml(5) does not document $key"
done

# --- .rpm ---
r="$dir/multinicd-${version}-1.x86_64.rpm"
k="$dir/kubectl-multinic-${version}-1.x86_64.rpm"
rpm_has "$r" \
  "-rwxr-xr-x root/root /usr/bin/multinicd" \
  "-rw-r--r-- root/root /usr/lib/systemd/system/multinicd.service" \
  "-rw-r--r-- root/root /usr/lib/systemd/networkd.conf.d/multinic.conf" \
  "-rw-r--r-- root/root /etc/multinic/multinicd.yaml" \
  "-rw-r--r-- root/root /usr/share/man/man8/multinicd.8.gz" \
  "-rw-r--r-- root/root /usr/share/man/man5/multinicd.yaml.5.gz"
rpm_has "$k" \
  "-rwxr-xr-x root/root /usr/bin/kubectl-multinic" \
  "-rwxr-xr-x root/root /usr/bin/kubectl_complete-multinic" \
  "-rw-r--r-- root/root /usr/share/man/man1/kubectl-multinic.1.gz"
for rpmfile in "$r" "$k"; do
  [ "$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpmfile")" = "$version-1" ] || fail "$(basename "$rpmfile"): version"
done
# %config(noreplace): FILEFLAGS has both the config and the noreplace bit.
flags="$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$r" | grep ' /etc/multinic/multinicd.yaml$' | cut -d' ' -f1)"
[ "$flags" = cn ] || fail "multinicd.yaml is not %config(noreplace) (flags: $flags)"
requires="$(rpm -qpR "$r")"
for want in dbus systemd "(NetworkManager or systemd-networkd)" "libc.so.6(GLIBC_2.28)(64bit)"; do
  grep -qxF -- "$want" <<<"$requires" || fail "multinicd.rpm Requires lacks $want"
done
if grep -q 'GLIBC_2\.\(29\|3[0-9]\)' <<<"$requires"; then fail "multinicd.rpm requires glibc above 2.28"; fi
scripts="$(rpm -qp --scripts "$r")"
for want in "postinstall scriptlet" "preuninstall scriptlet" "postuninstall scriptlet"; do
  grep -q "$want" <<<"$scripts" || fail "multinicd.rpm lacks its $want"
done
for s in post preun postun; do sh -n "packaging/rpm/$s.sh" || fail "rpm $s does not parse"; done

# rpm --root: both install into an empty root and verify. The daemon's scriptlets
# need a booted system; packaging/test-boot.sh runs them under real systemd.
rpmroot="$work/rpmroot"
mkdir -p "$rpmroot"
rpm --root "$rpmroot" --initdb
out="$(rpm --root "$rpmroot" -i --nodeps --noscripts "$r" "$k" 2>&1)" || fail "rpm --root -i: $out"
[ "$(rpm --root "$rpmroot" -q multinicd kubectl-multinic | wc -l)" = 2 ] || fail "rpm --root: not both installed"
rpm --root "$rpmroot" -V --nodeps multinicd kubectl-multinic || fail "rpm -V reports changed files right after install"
cmp "$rpmroot/usr/bin/multinicd" "$work/deb/usr/bin/multinicd" || fail "the .rpm and the .deb carry different multinicd binaries"
[ "$(rpm --root "$rpmroot" -qc multinicd)" = /etc/multinic/multinicd.yaml ] || fail "rpm -qc: $(rpm --root "$rpmroot" -qc multinicd)"

size() { du -k "$1" | cut -f1; }
echo "check-packages: ok: $(basename "$d") $(size "$d") KiB, $(basename "$p") $(size "$p") KiB, $(basename "$r") $(size "$r") KiB, $(basename "$k") $(size "$k") KiB; newest glibc symbol 2.28 or older"
