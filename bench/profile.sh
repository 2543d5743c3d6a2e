#!/usr/bin/env bash
# Profiles Tern's hot path under one load generator scenario (bench/README.md, "Profile"):
#   bench/profile.sh fanin|fanout [extra tern_loadgen options...]
# Starts a fresh Tern (threads = cores) on a free port, runs tern_loadgen for 14 s, and while it runs:
#   1. perf record -e cpu-clock --call-graph dwarf for 4 s (this VM has no hardware PMU: cpu-clock is a software
#      timer, fine for where the time goes);
#   2. perf trace -s for 3 s: the broker's system calls by type and thread, to set against the messages delivered.
# Output in bench/results/profile-SCENARIO.{txt,data} (the .data file is large; it is not meant to be committed).
# TERN_THREADS sets Tern's threads; TERN_CONF_EXTRA adds lines to its configuration (e.g. password_file, acl_file);
# PROFILE_NAME replaces SCENARIO in the output names.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scenario=${1:?usage: profile.sh fanin|fanout [loadgen options]}
shift
tern=${TERN:-$root/build-bench/tern}
loadgen=${LOADGEN:-$root/build-bench/bench/tern_loadgen}
out=$here/results/profile-${PROFILE_NAME:-$scenario}
work=$(mktemp -d)
trap 'kill $tern_pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/tern.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
threads ${TERN_THREADS:-$(nproc)}
max_queued_messages 100000
max_inflight_messages 65535
${TERN_CONF_EXTRA:-}
CONF
"$tern" -c "$work/tern.conf" >"$work/tern.log" 2>&1 &
tern_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$work/tern.log" && break; sleep 0.01; done

"$loadgen" --port "$port" --scenario "$scenario" --warmup 1 --duration 12 "$@" >"$work/result.json" 2>/dev/null &
lg_pid=$!
sleep 2
perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -o "$out.data" -p "$tern_pid" -- sleep 4 2>/dev/null
perf trace -s -p "$tern_pid" -o "$work/trace.txt" -- sleep 3 2>/dev/null || true
wait $lg_pid || true

{
  echo "# bench/profile.sh $scenario $*  ($(date '+%Y-%m-%d %H:%M'))"
  echo "# tern threads ${TERN_THREADS:-$(nproc)}${TERN_CONF_EXTRA:+; extra configuration: ${TERN_CONF_EXTRA//$'\n'/; }}"
  echo "## load generator result (12 s window; perf attached for 4 s of it, perf trace for 3 s)"
  cat "$work/result.json"
  echo
  echo "## perf report --no-children (self time), top symbols"
  perf report -i "$out.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 || true
  echo
  echo "## perf report --children (inclusive time), top symbols"
  perf report -i "$out.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 || true
  echo
  echo "## perf trace -s: system calls over 3 s"
  cat "$work/trace.txt"
} | sed -E -e 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' -e 's/^(.{200}).*/\1…/' >"$out.txt"
echo "wrote $out.txt"
