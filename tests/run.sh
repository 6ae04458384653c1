#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command: installs what the tests need, builds everything (the .deb the
# VM tests install and the VM node image included), starts a real kube-apiserver
# from ../shared/testenv when the kit is there (for the e2e and VM suites), and runs
# every test of the workspace: unit, property, real-NetworkManager lab, e2e and VM
# node tests.
#
#   tests/run.sh                          # everything
#   tests/run.sh -p multinic-lab --test vm   # only the VM node tests (any `cargo test` arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
# No test may change the host's network: its links, addresses, routes and rules are
# compared before and after (address lifetimes count down by themselves: left out).
host_net() {
  { ip -j link show; ip -j addr show; ip -j route show table all; ip -j -6 route show table all; ip -j rule show; } |
    jq -c 'walk(if type == "object" then del(.valid_life_time, .preferred_life_time) else . end)'
}
host_before="$(host_net)"
mkdir -p target
# The image is mostly downloads and disk work: build it beside the compiler.
bash tests/vm/image.sh >/dev/null 2>target/vm-image.log &
image_pid=$!
cargo build --workspace --all-targets --locked
bash packaging/setup.sh
bash packaging/build.sh --out target/packages >/dev/null # the .deb the VM nodes install
wait "$image_pid" || { cat target/vm-image.log >&2; echo "tests/run.sh: the VM image did not build" >&2; exit 1; }

kit="${MULTINIC_TESTENV_KIT:-$PWD/../shared/testenv}"
if [ -z "${MULTINIC_E2E_KUBECONFIG:-}" ] && [ -x "$kit/start.sh" ]; then
  testenv="$(mktemp -d /tmp/multinic-testenv.XXXXXX)"
  trap 'RESET=1 bash "$kit/stop.sh" "$testenv" >/dev/null 2>&1 || true' EXIT
  # VM nodes reach the API server at 10.0.2.100 (tests/src/vm), labs over their own
  # primary network at 203.0.113.10 (API_BEHIND_GATEWAY): keep TLS verified there.
  MULTINIC_E2E_KUBECONFIG="$(TESTENV_EXTRA_SANS=IP:10.0.2.100,IP:203.0.113.10 bash "$kit/start.sh" "$testenv")"
  export MULTINIC_E2E_KUBECONFIG MULTINIC_TESTENV_KIT="$kit"
elif [ -z "${MULTINIC_E2E_KUBECONFIG:-}" ]; then
  echo "tests/run.sh: no testenv kit at $kit and no MULTINIC_E2E_KUBECONFIG: the e2e and VM tests will not run" >&2
fi
if (($#)); then
  cargo test --locked "$@"
else
  # The fault tests mostly wait (a backoff watched for two minutes, restarts, a
  # hung manager): they run beside the others, not after them. Same package set,
  # same features: nothing is built twice.
  tests=()
  while read -r t; do tests+=(--test "$t"); done < <(cargo metadata --no-deps --format-version 1 --locked |
    jq -r '.packages[].targets[] | select(.kind == ["test"] and .name != "faults") | .name')
  cargo test --workspace --locked --test faults >target/faults.log 2>&1 &
  faults_pid=$!
  status=0
  cargo test --workspace --locked --lib --bins "${tests[@]}" || status=$?
  cargo test --workspace --locked --doc || status=$?
  if ! wait "$faults_pid"; then
    cat target/faults.log >&2
    echo "tests/run.sh: the fault tests failed (their output is above)" >&2
    status=1
  else
    grep -E '^test result|^running' target/faults.log >&2
  fi
  ((status == 0)) || exit "$status"
fi
if [ "$(host_net)" != "$host_before" ]; then
  echo "tests/run.sh: FAIL: the tests changed the host's network:" >&2
  diff <(echo "$host_before" | jq .) <(host_net | jq .) >&2 || true
  exit 1
fi
echo "tests/run.sh: the host's links, addresses, routes and rules are unchanged" >&2
