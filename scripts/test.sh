#!/usr/bin/env bash
# Builds everything and runs every test: unit tests and the integration tests that start the real broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cd build
ctest -j "$jobs" --output-on-failure --timeout 180
