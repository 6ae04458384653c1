#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks systemd/multinicd.service with systemd's own tools: `systemd-analyze verify`
# must print nothing (it only warns, exit 0, on unknown keys and bad values), and the
# offline `systemd-analyze security` exposure must be at most 2.5.
# usage: packaging/check-unit.sh [MULTINICD_BINARY]   (default target/debug/multinicd)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/multinicd}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# verify wants ExecStart to exist: point it at the built binary.
sed "s|^ExecStart=/usr/bin/multinicd|ExecStart=$bin|" systemd/multinicd.service >"$work/multinicd.service"
out="$(cd "$work" && systemd-analyze verify ./multinicd.service 2>&1)" || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify complained:" >&2
  echo "$out" >&2
  exit 1
fi
(cd "$work" && systemd-analyze security --offline=true --threshold=25 ./multinicd.service) | tail -1
echo "packaging/check-unit.sh: multinicd.service verified"
