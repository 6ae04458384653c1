#!/usr/bin/env bash
# Builds the multinicd .deb (cargo-deb) and checks it: file list and modes,
# conffiles, dependencies, maintainer scripts (sh -n), lintian without errors.
# Installing it into a throwaway root and booting that root come next (issue 7).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb
command -v lintian >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null; }
deb="$(cargo deb -p multinicd --locked 2>/dev/null | tail -n 1)"
[ -f "$deb" ] || { echo "test-deb: cargo deb produced no package" >&2; exit 1; }
fail() { echo "test-deb: $*" >&2; exit 1; }

contents="$(dpkg-deb -c "$deb")"
for want in \
    "-rwxr-xr-x root/root .* ./usr/bin/multinicd" \
    "-rw-r--r-- root/root .* ./lib/systemd/system/multinicd.service" \
    "-rw-r--r-- root/root .* ./etc/multinic/multinicd.yaml" \
    "-rw-r--r-- root/root .* ./usr/share/doc/multinicd/copyright"; do
  echo "$contents" | sed 's|0/0|root/root|' | grep -Eq -- "$want" || fail "missing or wrong mode: $want"
done
[ "$(dpkg-deb -f "$deb" Package)" = multinicd ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Version)" = "$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name=="multinicd") | .version')-1" ] || fail "version is not the workspace's"
depends="$(dpkg-deb -f "$deb" Depends)"
echo "$depends" | grep -q 'dbus' || fail "Depends lacks dbus: $depends"
echo "$depends" | grep -q 'network-manager | systemd' || fail "Depends lacks the manager alternative: $depends"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
dpkg-deb -e "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = /etc/multinic/multinicd.yaml ] || fail "conffiles: $(cat "$work/control/conffiles")"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "$s missing"
  sh -n "$work/control/$s" || fail "$s does not parse"
done
errors="$(lintian --no-tag-display-limit "$deb" 2>/dev/null | grep '^E:' || true)"
[ -z "$errors" ] || fail "lintian errors:
$errors"
echo "test-deb: $(basename "$deb") ok ($(du -k "$deb" | cut -f1) KiB; Depends: $depends)"
