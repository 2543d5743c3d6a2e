#!/usr/bin/env bash
# The unit and integration suites under a sanitizer build, as CMakePresets.json defines them:
#   scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan (clang-14)
#   scripts/sanitize.sh tsan   ThreadSanitizer, in build-tsan (clang-14)
# Further arguments go to ctest (-R PATTERN, ...). The integration tests start the sanitized broker and fail on a
# sanitizer report in its log (tests/integration/harness.cpp); the test preset sets halt_on_error, so a report in a
# test binary fails that test too. Left out: the browser test (chromium) and the conformance suite, whose runner
# does not read the broker's log; both drive the same broker code the integration tests reach. And the power-cut
# tests, which preload their (uninstrumented) file-call shim into the broker: ASan refuses to start behind another
# preloaded library, and what they check is the files a cut leaves, which the other tests' code paths share; and
# the shim's own test, which preloads the (instrumented) shim into python3.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:?usage: scripts/sanitize.sh asan|tsan [ctest arguments]}
shift
jobs=${JOBS:-$(nproc)}
scripts/install-deps.sh fuzz  # the test packages and clang-14, which the presets build with
cmake --preset "$preset" >/dev/null
nice -n 10 cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs" "$@"
