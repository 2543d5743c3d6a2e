#!/usr/bin/env bash
# Builds tern and runs it on config/tern.conf (listening on port 1883). Extra arguments go to tern (e.g. -v).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_BUILD_TESTS=OFF -DTERN_STATIC=ON >/dev/null
cmake --build build-release --target tern
exec build-release/tern -c config/tern.conf "$@"
