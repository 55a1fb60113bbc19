#!/usr/bin/env bash
# Launches OnAir with its bundled server on the default addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup.sh
exec cargo run --release --locked -- "$@"
