#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup.sh
cargo test --locked --lib --bins --tests -- --test-threads=2 "$@"
