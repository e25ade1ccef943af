#!/usr/bin/env bash
# Does the regression gate hold on this machine? (run by `just gate-noise`)
#   1. HISTORY runs of `faasbed bench --quick` (same scenario, same code) → `compare --learn-noise`
#      → noise.json, the noise floor a nightly baseline would carry;
#   2. RUNS more runs; each consecutive pair (RUNS − 1 pairs) through
#      `compare --gate --noise noise.json`: all must pass (exit 0). The same pairs without the
#      noise file (the old within-run-only gate) are counted for comparison;
#   3. a planted slowdown: a copy of scenarios/ and images/functions/ whose `cpu` function hashes
#      its input 8 times instead of once (the same scenario file, so the same scenario hash),
#      PLANTED runs of it, each compared with the last same-code run: must fail (exit 3) on cpu
#      rows, and not on echo rows.
# Environment: HISTORY (default 4), RUNS (default 6), PLANTED (default 2), OUT (target/gate-noise),
# FB (a faasbed binary to use instead of building this checkout's).
set -euo pipefail
cd "$(dirname "$0")/.."

HISTORY=${HISTORY:-4}
RUNS=${RUNS:-6}
PLANTED=${PLANTED:-2}
OUT=${OUT:-target/gate-noise}
SCENARIO=scenarios/local.toml
# FB=/path/to/faasbed uses that binary as it is (no build).
if [ -z "${FB:-}" ]; then
  cargo build --release -q -p faasbed
  FB=$PWD/target/release/faasbed
fi
rm -rf "$OUT"
mkdir -p "$OUT"/{history,same,planted}
OUT=$(cd "$OUT" && pwd)
export FAASBED_HOME="$OUT/home"

bench() { # bench RESULTS [TREE]
  local tree=${2:-$PWD}
  local t0=$SECONDS
  (cd "$tree" && "$FB" bench --quick --results "$1" "$SCENARIO" >>"$OUT/bench.log" 2>&1)
  echo "  $(ls -1 "$1" | tail -n 1) in $((SECONDS - t0)) s" >&2
}

echo "== 1. $HISTORY history runs → noise.json" >&2
for _ in $(seq 1 "$HISTORY"); do bench "$OUT/history"; done
"$FB" compare --learn-noise "$OUT/history" > "$OUT/noise.json"

echo "== 2. $RUNS same-code runs, $((RUNS - 1)) consecutive pairs" >&2
for _ in $(seq 1 "$RUNS"); do bench "$OUT/same"; done
mapfile -t same < <(find "$OUT/same" -mindepth 1 -maxdepth 1 -type d | sort)
pass=0 old_fail=0
for i in $(seq 0 $((RUNS - 2))); do
  a=${same[$i]} b=${same[$((i + 1))]}
  set +e
  "$FB" compare --gate --noise "$OUT/noise.json" "$a" "$b" > "$OUT/pair-$i.md" 2>"$OUT/pair-$i.err"
  s=$?
  "$FB" compare --gate "$a" "$b" > "$OUT/pair-$i-no-noise.md" 2>/dev/null
  s_old=$?
  set -e
  [ "$s" = 0 ] && pass=$((pass + 1))
  [ "$s_old" = 3 ] && old_fail=$((old_fail + 1))
  echo "  pair $i: $(basename "$a") → $(basename "$b"): exit $s with the noise file, $s_old without" >&2
done

echo "== 3. planted slowdown: cpu hashes 8× its input" >&2
tree="$OUT/planted-tree"
mkdir -p "$tree"
cp -r scenarios images "$tree"/
rm -rf "$tree/images/functions/.faasbed"
sed -i 's/for n := kib \* rounds; n > 0; n-- {/for n := 8 * kib * rounds; n > 0; n-- {/' "$tree/images/functions/cpu/main.go"
grep -q 'n := 8 \* kib' "$tree/images/functions/cpu/main.go" || { echo "the plant did not apply" >&2; exit 1; }
for _ in $(seq 1 "$PLANTED"); do bench "$OUT/planted" "$tree"; done
flagged=0
last=${same[$((RUNS - 1))]}
for p in $(find "$OUT/planted" -mindepth 1 -maxdepth 1 -type d | sort); do
  set +e
  "$FB" compare --gate --noise "$OUT/noise.json" "$last" "$p" > "$OUT/planted-$(basename "$p").md" 2>"$OUT/planted-$(basename "$p").err"
  s=$?
  set -e
  [ "$s" = 3 ] && flagged=$((flagged + 1))
  echo "  $(basename "$last") → planted $(basename "$p"): exit $s" >&2
  grep -E '^\| (cpu|echo) ' "$OUT/planted-$(basename "$p").md" | grep -E 'regressed|warm_p50' >&2 || true
done

echo "same-code pairs passing the gate (with noise.json): $pass of $((RUNS - 1)); failing without it: $old_fail of $((RUNS - 1))"
echo "planted slowdowns flagged: $flagged of $PLANTED"
echo "files: $OUT"
[ "$pass" = $((RUNS - 1)) ] && [ "$flagged" = "$PLANTED" ]
