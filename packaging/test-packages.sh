#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CI for the packages: builds them (this version and, from the same binaries, an
# older-versioned set for the upgrade test), checks them, then installs them on a
# Debian root booted with real systemd. See the three scripts it calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup.sh
version="$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name=="multinicd") | .version')"
rm -rf target/packages target/packages-old
bash packaging/build.sh --out target/packages >/dev/null
bash packaging/build.sh --out target/packages-old --version "$version~old" >/dev/null
bash packaging/check-packages.sh target/packages
bash packaging/test-boot.sh target/packages-old target/packages
