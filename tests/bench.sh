#!/usr/bin/env bash
# Benchmark: release multinicd in a real-NetworkManager lab with 10 NICs.
# BENCH_RUNS=N sets the number of runs (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --release -p multinicd --locked
cargo bench -p multinic-lab --bench apply --locked
