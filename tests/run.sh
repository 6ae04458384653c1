#!/usr/bin/env bash
# The test command: installs what the tests need, builds everything, starts a real
# kube-apiserver from ../shared/testenv when the kit is there (for the e2e suite),
# and runs every test of the workspace: unit, property, real-NetworkManager lab and
# e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --workspace --all-targets --locked

kit="${MULTINIC_TESTENV_KIT:-$PWD/../shared/testenv}"
if [ -z "${MULTINIC_E2E_KUBECONFIG:-}" ] && [ -x "$kit/start.sh" ]; then
  testenv="$(mktemp -d /tmp/multinic-testenv.XXXXXX)"
  trap 'RESET=1 bash "$kit/stop.sh" "$testenv" >/dev/null 2>&1 || true' EXIT
  MULTINIC_E2E_KUBECONFIG="$(bash "$kit/start.sh" "$testenv")"
  export MULTINIC_E2E_KUBECONFIG MULTINIC_TESTENV_KIT="$kit"
elif [ -z "${MULTINIC_E2E_KUBECONFIG:-}" ]; then
  echo "tests/run.sh: no testenv kit at $kit and no MULTINIC_E2E_KUBECONFIG: the e2e tests will not run" >&2
fi
cargo test --workspace --locked
