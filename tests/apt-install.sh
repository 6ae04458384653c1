#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# apt-install.sh WHO PACKAGE...: installs the Debian packages that are not installed
# yet (quietly, no recommends). Shared by tests/setup.sh and packaging/setup.sh.
set -euo pipefail
who="$1"; shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "$who: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
