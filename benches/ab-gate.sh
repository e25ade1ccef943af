#!/usr/bin/env bash
# A/B interleaved regression gate (run by `just gate-ab BASE NEW`): baseline and candidate run
# alternately on this machine (B N N B B N ..., so slow drift of the machine falls on both sides
# alike), then `faasbed compare --gate BASE-runs -- NEW-runs`, whose noise floor comes from the
# spread of each side's runs.
#
#   benches/ab-gate.sh BASE NEW
#
# BASE and NEW are each a git revision (built in a worktree under target/ab/) or a directory
# holding a faasbed tree (scenarios/ and images/functions/; its target/release/faasbed is used
# when present, else this checkout's). Environment: ROUNDS (pairs, default 3), SCENARIO (path
# inside each tree, default scenarios/local.toml), QUICK (1 = `bench --quick`, the default),
# OUT (default target/ab), FB (a faasbed binary for trees without their own). Exit status: that of `faasbed compare --gate` (0 pass, 3 regressed,
# 4 not comparable, 1 error).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: benches/ab-gate.sh BASE NEW (git revisions or faasbed trees)" >&2; exit 2; }

ROUNDS=${ROUNDS:-3}
SCENARIO=${SCENARIO:-scenarios/local.toml}
QUICK=${QUICK:-1}
OUT=${OUT:-target/ab}
ROOT=$PWD
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# tree NAME REV-OR-DIR: print the directory of a faasbed tree for it.
tree() {
  if [ -d "$2/images/functions" ]; then
    (cd "$2" && pwd)
  else
    local wt="$OUT/tree-$1"
    if [ ! -d "$wt" ]; then
      git worktree add --detach "$wt" "$2" >&2
    else
      git -C "$wt" checkout --detach -q "$2" >&2
    fi
    echo "$wt"
  fi
}

# binary TREE: the faasbed binary to run for it: a worktree's, built there; a tree's own
# target/release/faasbed; else $FB when set, or this checkout's, built.
binary() {
  if [[ "$1" == "$OUT"/tree-* ]]; then
    (cd "$1" && cargo build --release -q -p faasbed >&2) && echo "$1/target/release/faasbed"
  elif [ "$1" != "$ROOT" ] && [ -x "$1/target/release/faasbed" ]; then
    echo "$1/target/release/faasbed"
  elif [ -n "${FB:-}" ]; then
    echo "$FB"
  else
    cargo build --release -q -p faasbed >&2 && echo "$ROOT/target/release/faasbed"
  fi
}

BASE_TREE=$(tree base "$1")
NEW_TREE=$(tree new "$2")
BASE_FB=$(binary "$BASE_TREE")
NEW_FB=$(binary "$NEW_TREE")
rm -rf "$OUT/base" "$OUT/new"
mkdir -p "$OUT/base" "$OUT/new"
flags=()
[ "$QUICK" = 1 ] && flags+=(--quick)

# run SIDE: one bench of that side, from its own tree (its functions are built from its sources).
run() {
  local fb tree
  if [ "$1" = base ]; then fb=$BASE_FB tree=$BASE_TREE; else fb=$NEW_FB tree=$NEW_TREE; fi
  echo "== $1: $tree" >&2
  (cd "$tree" && FAASBED_HOME="$OUT/home-$1" "$fb" bench "${flags[@]}" --results "$OUT/$1" "$SCENARIO" \
    > "$OUT/$1-$(date +%s%N).log" 2>&1)
}

for i in $(seq 1 "$ROUNDS"); do
  # ABBA order: each side goes first in every other round.
  if [ $((i % 2)) = 1 ]; then run base; run new; else run new; run base; fi
done

set +e
"$NEW_FB" compare --gate "$OUT/base" -- "$OUT/new" | tee "$OUT/compare.md"
status=${PIPESTATUS[0]}
set -e
echo "ab-gate: compare exit status $status (0 pass, 3 regressed, 4 not comparable, 1 error); runs in $OUT" >&2
exit "$status"
