#!/usr/bin/env bash
# The long soak (issue 22): tests/integration/36_soak_test.cpp's churn for SECONDS (default 600) against the broker
# the integration tests use, printing connections, messages, RSS at each tenth of the run and descriptors.
#   bench/soak.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
build=${2:-$root/build}
TERN_SOAK_SECONDS=$seconds "$build/tests/tern_integration_tests" --gtest_filter='Soak.*' | grep -E '^soak:|OK|FAILED'
