#!/usr/bin/env bash
# Proves the ARM builds on this (x86-64) machine: for each target, cross-builds tern (build.sh, reused when up to
# date), runs the unit tests under qemu-user, then starts the cross-built tern under qemu-user for the host-built
# integration tests (tests/integration) and the conformance suite (conformance/run.py), and checks its Debian
# package (tests/package/check_arch.sh).
#
#   cross-toolchains/test-arm.sh aarch64 armhf
#
# HOST_BUILD (default: build) is the host build directory whose tern_integration_tests is used; it is configured and
# built when missing. JOBS (default: the number of CPUs) limits parallel jobs. Exits non-zero when any suite fails,
# after running them all.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || set -- aarch64 armhf
jobs=${JOBS:-$(nproc)}
host_build=${HOST_BUILD:-build}

if [[ ! -f $host_build/build.ninja ]]; then
  cmake -S . -B "$host_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$host_build" -j "$jobs" --target tern_integration_tests

failed=()
step() {  # step NAME COMMAND...: runs, times and records one suite
  local name=$1 start=$SECONDS
  shift
  echo "==== $name"
  if "$@"; then
    echo "==== $name: passed in $((SECONDS - start)) s"
  else
    echo "==== $name: FAILED in $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

for arch in "$@"; do
  case $arch in
    aarch64) triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;;
    armhf) triplet=arm-linux-gnueabihf qemu=qemu-arm ;;
    *) echo "unknown target $arch (aarch64 or armhf)" >&2; exit 2 ;;
  esac
  start=$SECONDS
  tern=$(JOBS=$jobs cross-toolchains/build.sh "$arch" | tail -1)
  echo "==== $arch: built in $((SECONDS - start)) s: $tern"
  log_dir=build-cross-$arch/test-logs
  wrapper="$qemu -L /usr/$triplet"

  # The power-cut shim's own test preloads the shim into a host program (python3), which a shim of another
  # architecture cannot enter; the simulator is a host test tool (the power-cut tests run in the host build).
  step "$arch unit tests (qemu)" ctest --test-dir "build-cross-$arch" -j "$jobs" --output-on-failure --timeout 300 \
    -E '^PowercutShim[.]'
  # A launcher script rather than TERN_TEST_BROKER_WRAPPER, so that tests which run tern themselves (not through
  # BrokerProcess, e.g. to check start-up errors) get the emulated binary too; exec keeps the pid the tests signal.
  launcher=$PWD/build-cross-$arch/tern-qemu
  printf '#!/bin/sh\nexec %s %q "$@"\n' "$wrapper" "$tern" >"$launcher"
  chmod +x "$launcher"
  step "$arch integration tests (host clients, tern under qemu)" \
    env JOBS="$jobs" scripts/integration.sh "$host_build" "$launcher" "$log_dir"
  step "$arch conformance (tern under qemu)" python3 conformance/run.py --tern "$tern" --wrapper "$wrapper" -j 4
  # The Debian package of this build (arm64 / armhf): architecture, contents, lintian (the binary is not rebuilt).
  step "$arch Debian package" tests/package/check_arch.sh "$([[ $arch == aarch64 ]] && echo arm64 || echo armhf)"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all ARM suites passed: $*"
