#!/usr/bin/env bash
# Cold-start median per runtime x arch (run by `just bench-runtimes`): `faasbed bench` on
# scenarios/runtimes.toml (echo as a static Go binary and as a Python script on Debian's
# python3.11, on vps/amd64 native, pi4/arm64 and pi3/armhf under qemu-user), then one line per
# runtime x arch from the stored summary.json: the median time to first byte of the verified
# cold starts, with n. Builds and Python sysroots are cached in the home, so they are not timed.
# Set FB to use another faasbed binary, REPS to change the cold repetitions (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FB:-}" ]; then
  cargo build --release -q -p faasbed
  FB=$PWD/target/release/faasbed
fi
command -v jq >/dev/null || { echo "jq missing: sudo apt-get install -y jq" >&2; exit 1; }
REPS=${REPS:-20}
HOME_DIR=${FAASBED_HOME:-$PWD/target/bench-runtimes/home}
OUT=$PWD/target/bench-runtimes/results
mkdir -p "$HOME_DIR" "$OUT"
SCEN=$(mktemp --suffix=.toml -p "$PWD/target/bench-runtimes" runtimes-XXXX)
trap 'rm -f "$SCEN"' EXIT
sed "s/^repetitions = .*/repetitions = $REPS/" scenarios/runtimes.toml > "$SCEN"

"$FB" --home "$HOME_DIR" bench --results "$OUT" --json "$SCEN" > "$OUT/last-summary.json"
echo "cold start, time to first byte of verified cold starts (ms), $REPS per cell; host: $(nproc) cores, $(uname -m)"
printf '%-8s %-6s %8s %8s %8s %6s\n' runtime arch median p90 mean n
jq -r '.results[] | [(.runtime // "go"), .arch, .cold.first_byte_ms.p50, .cold.first_byte_ms.p90, .cold.first_byte_ms.mean, .cold.verified] | @tsv' \
  "$OUT/last-summary.json" | sort | while IFS=$'\t' read -r rt arch p50 p90 mean n; do
  printf '%-8s %-6s %8.1f %8.1f %8.1f %6s\n' "$rt" "$arch" "$p50" "$p90" "$mean" "$n"
done
