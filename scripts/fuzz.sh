#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, TERN_FUZZ=ON) with clang-14 in build-fuzz and runs each for a bounded
# time from its seed corpus. Fails if any target finds a crash, a leak, undefined behaviour, a failed check, an input
# slower than 10 s or one that needs more than 2 GiB.
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]     default: 60 s, every target (codec broker config ... rules)
# libFuzzer's random seed is FUZZ_SEED (default 1): CI explores the same inputs on every run, so that a finding is
# a change in the code and not luck; FUZZ_SEED=0 (a new seed each run) for longer runs by hand.
# At the end it prints, per target, the executions per second and the coverage reached (libFuzzer's final counts:
# cov = instrumented edges reached, ft = features, corpus = inputs kept). A finding's input is kept in
# build-fuzz/fuzz-runs/TARGET/ (crash-*, leak-*, timeout-*, oom-*); reproduce it with
#   build-fuzz/tests/fuzz/tern_fuzz_TARGET build-fuzz/fuzz-runs/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(codec broker config commit_log password_file acl_file websocket rules)
jobs=${JOBS:-2}

scripts/install-deps.sh fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTERN_FUZZ=ON \
  >/dev/null
nice -n 10 cmake --build build-fuzz -j "$jobs" --target tern_fuzz tern_protocol_tests

runs=build-fuzz/fuzz-runs
rm -rf "$runs"
mkdir -p "$runs/seeds/codec" "$runs/seeds/config"
# Seeds made from the repository: every wire example of the codec tests (tests/unit/protocol/codec_test_util.hpp
# writes them), and every configuration file the config tests read.
TERN_FUZZ_SEEDS=$PWD/$runs/seeds/codec build-fuzz/tests/tern_protocol_tests --gtest_brief=1 >/dev/null
cp config/*.conf tests/unit/config/corpus/*.conf "$runs/seeds/config/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=()
summary=()
for target in "${targets[@]}"; do
  dir=$runs/$target
  mkdir -p "$dir/corpus"
  seeds=()
  for s in "$runs/seeds/$target" "tests/fuzz/seeds/$target"; do
    [[ -d $s ]] && seeds+=("$s")
  done
  echo "==== fuzz $target (${seconds}s)"
  rc=0
  build-fuzz/tests/fuzz/tern_fuzz_$target -max_total_time="$seconds" -seed="${FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "${seeds[@]}" >"$dir/log" 2>&1 || rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$dir/log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")
  summary+=("$(printf '%-14s %9s %7s %7s %7s' "$target" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
  if [[ $rc -ne 0 ]]; then
    failed+=("$target")
    echo "FAILED: tern_fuzz_$target exited with $rc; its log ($dir/log) ends:"
    tail -60 "$dir/log"
    ls "$dir" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true
  fi
done

echo "==== fuzzing: ${seconds}s per target"
printf '%-14s %9s %7s %7s %7s\n' target exec/s cov ft corpus
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found something in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: ${#targets[@]} passed, 0 failed"
