#!/usr/bin/env bash
# The power-cut test (tests/integration/31_power_cut_test.cpp) run longer than CI runs it:
#   bench/power_cut.sh [CUTS [STATES [SEED...]]]
# CUTS simulated power cuts (default 500) per protocol version (3.1.1 and 5.0), each rebuilt into STATES states
# (default 4), for each SEED (default 1 2 3), then the first-start test with each seed. Prints the test's own
# summary lines ("[ powercut ] ...": cuts, states, operations logged, sectors dropped, torn writes, messages
# acknowledged and lost) and exits non-zero if any run failed; a failed run keeps its directories and says where.
# Uses the integration test binary of build/ (TERN_BUILD=DIR for another build directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cuts=${1:-500}
states=${2:-4}
shift $(($# < 2 ? $# : 2))
seeds=${*:-1 2 3}
binary=${TERN_BUILD:-$root/build}/tests/tern_integration_tests
[ -x "$binary" ] || { echo "no $binary: build the tests first" >&2; exit 2; }
status=0
for seed in $seeds; do
  out=$(TERN_POWERCUT_SEED=$seed TERN_POWERCUT_CUTS=$cuts TERN_POWERCUT_STATES=$states "$binary" \
    --gtest_filter='PowerCut/PowerCutTest.*/v311:PowerCut/PowerCutTest.*/v5:Seeds/PowerCutAtStart.*/seed3110' 2>&1) || status=1
  printf '%s\n' "$out" | grep -E '^\[ powercut \]|^    (failed|anomaly):|^\[  FAILED  \]|directory kept' || true
done
exit $status
