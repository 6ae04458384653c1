#!/usr/bin/env bash
# Installs what the tests and the demo need on a Debian/Ubuntu machine (root):
# a real NetworkManager, D-Bus, iproute2, util-linux (unshare, nsenter, setpriv).
# Installing NetworkManager does not start it when PID 1 is not systemd; on a
# systemd host it is the host's own and the labs never talk to it.
set -euo pipefail

packages=(network-manager dbus-daemon dbus-bin systemd iproute2 util-linux jq ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tests/setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
