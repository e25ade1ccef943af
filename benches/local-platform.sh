#!/usr/bin/env bash
# Benchmarks of the embedded platform (run by `just bench-local`):
#   1. `faasbed up` + `faasbed deploy` of scenarios/local.toml with a warm build cache (hyperfine);
#   2. the gateway's proxy hop: echo on the native vps node, the same open-loop load sent straight
#      to the replica, through a byte-for-byte TCP relay (the floor of any user-space hop here)
#      and through the gateway; the hop is the difference of the medians.
# Compile time is excluded (binaries are built first, function builds are cached).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-1000}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-10}

cargo build --release -q -p faasbed -p faasbed-benches
FB=$PWD/target/release/faasbed
LG=$PWD/target/release/faasbed-loadgen
FAASBED_HOME=$(mktemp -d)
export FAASBED_HOME
cleanup() { "$FB" down >/dev/null 2>&1 || true; rm -rf "$FAASBED_HOME"; }
trap cleanup EXIT
command -v hyperfine >/dev/null || { echo "hyperfine missing: sudo apt-get install -y hyperfine" >&2; exit 1; }

echo "== 1. up + deploy of scenarios/local.toml (build cache warm; $RUNS runs)"
"$FB" up >/dev/null 2>&1 && "$FB" deploy >/dev/null 2>&1 && "$FB" down >/dev/null 2>&1
hyperfine --runs "$RUNS" --prepare "$FB down >/dev/null 2>&1 || true" \
  --export-json "$FAASBED_HOME/updeploy.json" "$FB up 2>/dev/null && $FB deploy 2>/dev/null"
"$FB" down >/dev/null 2>&1 || true

echo
echo "== 2. gateway proxy hop, echo on a native node, open loop $RATE rps for $DURATION"
"$FB" up >/dev/null 2>&1
"$FB" deploy >/dev/null 2>&1
run=$(cat "$FAASBED_HOME/current")
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$FAASBED_HOME/runs/$run/gateway.json")
pw=$(cat "$FAASBED_HOME/runs/$run/password")
port=$(curl -sf -u "admin:$pw" "$url/system/faasbed/replicas/echo-vps" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["port"])')

measure() { # $1 = url → JSON on stdout
  "$LG" --url "$1" --rate "$RATE" --duration "$DURATION" --warmup 2s --connections 4
}
measure "http://127.0.0.1:$port/" > "$FAASBED_HOME/direct.json"
"$PWD/target/release/tcp-relay" --to "127.0.0.1:$port" > "$FAASBED_HOME/relay.addr" &
RELAY=$!
trap 'kill $RELAY 2>/dev/null || true; cleanup' EXIT
until grep -q listening "$FAASBED_HOME/relay.addr"; do sleep 0.1; done
relay=$(awk '{print $3}' "$FAASBED_HOME/relay.addr")
measure "http://$relay/" > "$FAASBED_HOME/relay.json"
measure "$url/function/echo-vps" > "$FAASBED_HOME/gateway.json"

python3 - "$FAASBED_HOME/direct.json" "$FAASBED_HOME/gateway.json" "$FAASBED_HOME/updeploy.json" "$FAASBED_HOME/relay.json" <<'PY'
import json, sys
d, g, h, rl = (json.load(open(p)) for p in sys.argv[1:5])
t = h["results"][0]
print(f"up + deploy: mean {t['mean']:.3f} s ± {t['stddev']:.3f} s, median {t['median']:.3f} s (target ≤ 5 s)")
print()
print("| path | achieved rps | p50 µs | p90 µs | p99 µs | errors |")
print("|---|---:|---:|---:|---:|---:|")
for name, r in (("direct to replica", d), ("through a TCP relay (floor)", rl), ("through gateway", g)):
    u = r["uncorrected"]
    errs = sum(r["total"]["errors"].values()) if isinstance(r["total"].get("errors"), dict) else r["total"].get("errors", 0)
    print(f"| {name} | {r['achieved_rps']:.0f} | {u['p50_us']:.0f} | {u['p90_us']:.0f} | {u['p99_us']:.0f} | {errs} |")
hop = g["uncorrected"]["p50_us"] - d["uncorrected"]["p50_us"]
print()
floor = rl["uncorrected"]["p50_us"] - d["uncorrected"]["p50_us"]
print(f"gateway hop at p50: {hop:.0f} µs (target ≤ 100 µs); a bare TCP relay's hop: {floor:.0f} µs")
PY
