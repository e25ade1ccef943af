#!/usr/bin/env bash
# Cold starts by replica runtime and gateway model (run by `just bench-cold`, as root): the same
# cold scenario (scenarios/containerd.toml: vps, pi4, pi3, echo on each) three ways,
#   1. process                  — a host process (QEMU user mode for ARM), used at first health pass;
#   2. containerd               — a container of faasbed's own containerd + runc + CNI;
#   3. containerd + openfaas-ce — plus the OpenFaaS CE readiness probe (2 s delay, 2 s period),
#                                 100 ms replica polling and 250 ms replica cache;
#   4. containerd, image fresh  — the image removed and imported again before each cold start
#                                 (image_cache = "fresh", the "pulled" class);
# and prints, per class, the median time to first byte of verified cold starts and the median
# of each step the gateway timed (X-Faasbed-Phases), side by side.
# REPS cold starts per class and way (default 5); FB=path/to/faasbed skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
if [ -z "${FB:-}" ]; then
  cargo build --release -q -p faasbed
  FB=$PWD/target/release/faasbed
fi
[ "$(id -u)" = 0 ] || { echo "containers need root: sudo just bench-cold" >&2; exit 1; }
WORK=$(mktemp -d)
export FAASBED_HOME=$WORK/home
cleanup() { "$FB" clean >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

variant() { # $1 = name, $2 = runtime, $3 = model, $4 = image cache → scenario file path
  local out=$WORK/$1.toml
  sed -e "s/^model = .*/model = \"$3\"/" -e "s/^image_cache = .*/image_cache = \"$4\"/" \
      -e "s/^repetitions = .*/repetitions = $REPS/" \
      -e 's/^rate = .*/rate = 10/' -e 's/^duration = .*/duration = "1s"/' \
      scenarios/containerd.toml | { if [ "$2" = process ]; then grep -v '^runtime = "containerd"'; else cat; fi; } > "$out"
  echo "$out"
}

runs=()
for way in "process none present" "containerd none present" "containerd openfaas-ce present" \
           "containerd none fresh"; do
  set -- $way
  name="$1-$2"
  [ "$3" = fresh ] && name="$name-fresh"
  file=$(variant "$name" "$1" "$2" "$3")
  echo "== $name: $REPS cold starts per class" >&2
  "$FB" bench --results "$WORK/results-$name" "$file" >/dev/null 2>"$WORK/$name.log" \
    || { tail -20 "$WORK/$name.log" >&2; exit 1; }
  runs+=("$name=$(ls -d "$WORK/results-$name"/*/)")
done

python3 - "${runs[@]}" <<'PY'
import json, statistics, sys
steps = ["gateway→start", "import", "network", "create", "task start", "→probe pass", "→noticed", "→first byte"]
def med(v):
    return f"{statistics.median(v):.1f}" if v else "–"
def step_values(c):
    p = c.get("gateway_phases")
    if not p:
        return [None] * 8
    span = lambda k: (p[k]["end_ns"] - p[k]["start_ns"]) if p.get(k) else None
    fb = c["invoked_unix_ns"] + c["first_byte_ns"]
    up = p["task_start"]["end_ns"] if p.get("task_start") else p["spawned_ns"]
    probe, noticed = p.get("probe_pass_ns"), p.get("noticed_ns")
    seen = noticed or probe
    return [p["spawned_ns"] - c["invoked_unix_ns"], span("import"), span("network"), span("create"),
            span("task_start"), probe - up if probe else None,
            noticed - probe if (probe and noticed) else None, fb - seen if seen else None]
print("| way | class | verified | first byte ms (median) | " + " | ".join(steps) + " |")
print("|---|---|---|---:|" + "---:|" * len(steps))
for arg in sys.argv[1:]:
    name, run = arg.split("=", 1)
    colds = [json.loads(l) for l in open(run + "samples.jsonl") if '"kind":"cold"' in l]
    for cls in ("vps", "pi4", "pi3"):
        cs = [c for c in colds if c["function"].endswith("-" + cls)]
        ok = [c for c in cs if c["verified"]]
        fb = [c["first_byte_ns"] / 1e6 for c in ok]
        per = list(zip(*[step_values(c) for c in ok])) if ok else [[]] * 8
        cells = [med([v / 1e6 for v in col if v is not None]) for col in per]
        print(f"| {name} | {cls} | {len(ok)}/{len(cs)} | {med(fb)} | " + " | ".join(cells) + " |")
PY
