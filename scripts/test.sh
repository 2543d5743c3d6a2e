#!/usr/bin/env bash
# Builds everything and runs every test: unit tests and the integration tests that start the real broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh package
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cd build
ctest -j "$jobs" --output-on-failure --timeout 180
cd ..

# The static executable that scripts/run.sh and the ARM builds ship (TERN_STATIC=ON): the integration suite again,
# against it (about a minute).
cmake -S . -B build-static -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_BUILD_TESTS=OFF -DTERN_STATIC=ON >/dev/null
cmake --build build-static -j "$jobs" --target tern
# No iostreams or locales linked (bench/README.md, "What is pulled in"): checked in the static link's map.
python3 bench/footprint.py streams build-static/tern.map
echo "==== integration tests against the static build"
JOBS=$jobs scripts/integration.sh build "$PWD/build-static/tern" build-static/test-logs

# The Debian package made from that static build (dist/deb/build.sh): lintian, systemd-analyze verify on the unit,
# installed, upgraded, removed and purged with dpkg --root in a scratch root, the installed broker started as the
# unit starts it (about 30 s; also checks the ARM packages when their cross builds exist).
tests/package/test_package.sh

# Sanitizers (CMakePresets.json, scripts/sanitize.sh): the unit and integration suites again, under ASan + UBSan and
# under TSan, each with its own instrumented broker; a sanitizer report fails the test that caused it.
echo "==== unit and integration tests under ASan + UBSan"
JOBS=$jobs scripts/sanitize.sh asan
echo "==== unit and integration tests under TSan"
JOBS=$jobs scripts/sanitize.sh tsan

# Fuzzing (tests/fuzz, scripts/fuzz.sh): each target for 60 s from its seeds; a crash, leak, UB or failed check fails.
JOBS=$jobs scripts/fuzz.sh 60

# The ARM builds (64-bit and 32-bit), proven under qemu-user: unit tests emulated, the integration and conformance
# suites run against the cross-built broker (about 5 minutes per target on 2 cores; the whole script about 18 minutes
# from a clean checkout without ccache). TERN_SKIP_ARM=1 skips them.
if [[ ${TERN_SKIP_ARM:-0} != 1 ]]; then
  HOST_BUILD=build JOBS=$jobs cross-toolchains/test-arm.sh aarch64 armhf
fi
