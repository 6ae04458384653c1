#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo: builds multinicd, starts a lab (private namespaces, private D-Bus, a real
# NetworkManager, eth0 with the default route), hot-attaches two NICs, applies
# examples/lab-node.yaml, shows the status and the lab's addresses, tears down —
# and checks that the host's links, addresses and routes did not change.
# Usage: tests/demo.sh [--backend networkmanager|networkd]   (default networkmanager)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=networkmanager
if [ "${1:-}" = --backend ]; then backend="${2:-}"; fi
case $backend in networkmanager | networkd) ;; *) echo "usage: $0 [--backend networkmanager|networkd]" >&2; exit 2 ;; esac
bash tests/setup.sh
cargo build -q -p multinicd
bin="$PWD/target/debug/multinicd"
lab=tests/lab/lab.sh
snapshot() { ip -j link show; ip -j addr show; ip -j route show; }
before=$(snapshot)

state=$(mktemp -d /tmp/multinic-demo.XXXXXX)
pid=$(LAB_MANAGER=$backend LAB_OWNER_PID=$$ bash "$lab" up "$state")
trap 'bash "$lab" down "$pid" "$state" >/dev/null; rm -rf "$state"' EXIT
in_lab() { bash "$lab" exec "$pid" "$@"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
if [ "$backend" = networkd ]; then version="systemd-networkd $(in_lab networkctl --version | head -1)"; else version="NetworkManager $(in_lab NetworkManager --version)"; fi
step "lab up ($version); hot-attaching two NICs"
bash "$lab" add-nic "$pid" ens4 02:00:00:00:01:04
bash "$lab" add-nic "$pid" ens5 02:00:00:00:01:05
in_lab ip -br link
step "multinicd plan --file examples/lab-node.yaml"
in_lab "$bin" plan --file "$PWD/examples/lab-node.yaml" || true
step "multinicd apply --file examples/lab-node.yaml"
in_lab "$bin" apply --file "$PWD/examples/lab-node.yaml"
step "ip -br addr (inside the lab)"
in_lab ip -br addr
step "multinicd inventory"
in_lab "$bin" inventory
step "apply again: nothing to do"
in_lab "$bin" apply --file "$PWD/examples/lab-node.yaml" -o json >/dev/null
step "tearing down"
bash "$lab" down "$pid" "$state" >/dev/null
trap 'rm -rf "$state"' EXIT
if [ "$before" = "$(snapshot)" ]; then
  echo "host links, addresses and routes unchanged"
else
  echo "host network changed!" >&2
  exit 1
fi
