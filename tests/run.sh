#!/usr/bin/env bash
# The test command: installs what the tests need, builds everything, runs every test
# of the workspace, the real-NetworkManager lab tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked
