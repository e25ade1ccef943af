#!/usr/bin/env bash
# Memory of a long warm run (run by `just bench-rss`): `faasbed bench` at RATE rps for DURATION
# against echo on the native node; samples VmRSS of the bench process and of the gateway daemon
# every INTERVAL seconds and prints the series and the peaks. Target: peak ≤ 64 MiB, and flat.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-1000}
DURATION=${DURATION:-600s}
INTERVAL=${INTERVAL:-15}

cargo build --release -q -p faasbed
FB=$PWD/target/release/faasbed
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/long.toml" <<TOML
description = "long warm run for memory measurement"
[[node]]
name = "vps-1"
class = "vps"
[[function]]
name = "echo-vps"
source = "echo"
[experiment.warm]
rate = $RATE
duration = "$DURATION"
warmup = "1s"
connections = 8
TOML
FAASBED_HOME=$work/home "$FB" bench "$work/long.toml" --skip-cold --results "$work/results" >"$work/out" 2>"$work/err" &
pid=$!
echo "t_s bench_rss_kib bench_peak_kib daemon_rss_kib samples_lines"
t=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  d=0
  if [ -f "$work/home/current" ]; then
    run=$(cat "$work/home/current" 2>/dev/null || true)
    dpid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$work/home/runs/$run/gateway.json" 2>/dev/null || echo "")
    [ -n "$dpid" ] && d=$(awk '/VmRSS/ {print $2}' "/proc/$dpid/status" 2>/dev/null || echo 0)
  fi
  lines=$(cat "$work"/results/*/samples.jsonl 2>/dev/null | wc -l || echo 0)
  echo "$t ${rss:-0} ${hwm:-0} ${d:-0} $lines"
  sleep "$INTERVAL"; t=$((t + INTERVAL))
done
wait "$pid" || { echo "bench failed:"; tail -5 "$work/err"; exit 1; }
echo "bench peak RSS (VmHWM at the last sample): ${hwm:-0} KiB"
tail -4 "$work/out"
