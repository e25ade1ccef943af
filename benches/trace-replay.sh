#!/usr/bin/env bash
# Planned vs issued arrivals of a trace replay (run by `just bench-trace`): replays a shipped
# trace scenario with keep-alive on the embedded platform (warm and cold phases skipped) and
# prints, from what the run stored (trace-plan.json, trace.jsonl):
#   - planned vs issued requests per function and in total;
#   - send lateness (issued - planned time), p50 / p99 / max, in ms, and whether the run was
#     flagged FELL BEHIND (p99 above 100 ms, or fewer issued than planned);
#   - the cold-start rate per class that the keep-alive produced.
# SCENARIO=scenarios/trace-azure2021.toml just bench-trace replays the 2021 trace instead.
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIO=${SCENARIO:-scenarios/trace-azure2019.toml}
PROFILE=${PROFILE:-release}

if [ "$PROFILE" = release ]; then
  cargo build --release -q -p faasbed
else
  cargo build -q -p faasbed
fi
FB=$PWD/target/$PROFILE/faasbed
FAASBED_HOME=$(mktemp -d)
export FAASBED_HOME
RESULTS=$(mktemp -d)
cleanup() { "$FB" down >/dev/null 2>&1 || true; rm -rf "$FAASBED_HOME"; }
trap cleanup EXIT

echo "== trace replay: $SCENARIO ($PROFILE build)"
"$FB" bench --skip-warm --skip-cold --results "$RESULTS" "$SCENARIO" >"$RESULTS/console.txt" 2>&1 \
  || { cat "$RESULTS/console.txt" >&2; exit 1; }
run=$(ls -d "$RESULTS"/*/ | head -1)
echo "run: $run"

python3 - "$run" <<'PY'
import json, sys, os
run = sys.argv[1]
plan = json.load(open(os.path.join(run, "trace-plan.json")))
rows = [json.loads(l) for l in open(os.path.join(run, "trace.jsonl")) if l.strip()]

def pct(v, q):
    # Hyndman & Fan type 7, as faasbed's reports
    if not v:
        return float("nan")
    v = sorted(v)
    h = (len(v) - 1) * q
    lo = int(h)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (h - lo) * (v[hi] - v[lo])

print(f"replay {plan['replay_s']:.1f} s, keep-alive {plan['keep_alive_s']} s")
print()
print("| function | class | planned | issued | lateness p50 ms | p99 ms | max ms | cold | cold rate |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
late_all = []
for f in plan["functions"]:
    rs = [r for r in rows if r["function"] == f["function"]]
    late = [(r["sent_ns"] - r["planned_ns"]) / 1e6 for r in rs]
    late_all += late
    cold = sum(1 for r in rs if r["cold"])
    rate = cold / len(rs) if rs else 0.0
    print(f"| {f['function']} | {f['class']} | {f['planned']} | {len(rs)} | {pct(late, .5):.3f} | "
          f"{pct(late, .99):.3f} | {max(late, default=float('nan')):.3f} | {cold} | {rate:.1%} |")
planned = sum(f["planned"] for f in plan["functions"])
p99 = pct(late_all, .99)
print(f"| **all** | | {planned} | {len(rows)} | {pct(late_all, .5):.3f} | {p99:.3f} | {max(late_all):.3f} | "
      f"{sum(1 for r in rows if r['cold'])} | |")
print()
behind = len(rows) < planned or p99 > 100.0
print("FELL BEHIND" if behind else "kept to the plan (lateness p99 ≤ 100 ms, every planned request issued)")
PY
echo
grep -A8 "Trace replay per class" "$RESULTS/console.txt" || true
rm -rf "$RESULTS"
