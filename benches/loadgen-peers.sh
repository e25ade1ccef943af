#!/usr/bin/env bash
# Side-by-side benchmark of faasbed-loadgen against oha, hey and wrk on a loopback hello-server:
#   (a) peak closed-loop requests/s at equal connections;
#   (b) a fixed rate: p50 and p99 latency (faasbed: coordinated-omission corrected).
# Prints a markdown table with ratios of faasbed to oha and to the best peer. A missing peer is
# reported as "missing" and its cells as n/a. Settings come from the environment:
#   PORT (18080) CONNS (16) DURATION (10, seconds) RATE (1000) SERVER_THREADS (1)
set -euo pipefail

cd "$(dirname "$0")/.."
PORT=${PORT:-18080}
CONNS=${CONNS:-16}
DURATION=${DURATION:-10}
RATE=${RATE:-1000}
SERVER_THREADS=${SERVER_THREADS:-1}
URL="http://127.0.0.1:${PORT}/"
OUT=$(mktemp -d)

log() { printf '%s\n' "$*" >&2; }

# ---- parsers: pure functions of a tool's output on stdin; print a number or nothing ----

# faasbed-loadgen JSON: achieved requests/s.
parse_faasbed_rps() { jq -r '.achieved_rps // empty'; }
# faasbed-loadgen JSON: percentile $2 (p50 | p99) of histogram $1 (corrected | uncorrected), µs.
parse_faasbed_us() { jq -r --arg h "$1" --arg p "$2" '.[$h][$p + "_us"] // empty'; }
# oha JSON: requests/s.
parse_oha_rps() { jq -r '.summary.requestsPerSec // empty'; }
# oha JSON: latency percentile $1 (p50 | p99), seconds → µs.
parse_oha_us() { jq -r --arg p "$1" '.latencyPercentiles[$p] // empty | . * 1e6'; }
# hey text summary: "Requests/sec:	1234.5".
parse_hey_rps() { awk '$1 == "Requests/sec:" { print $2 }'; }
# hey text summary: "  50% in 0.0012 secs" for percentile $1 (50 | 99), µs.
parse_hey_us() { awk -v p="$1%" '$1 == p && $2 == "in" { printf "%.1f\n", $3 * 1e6 }'; }
# wrk text: "Requests/sec:  1234.56".
parse_wrk_rps() { awk '$1 == "Requests/sec:" { print $2 }'; }
# wrk --latency: "     50%  451.00us" for percentile $1 (50 | 99), µs.
parse_wrk_us() {
	awk -v p="$1%" '$1 == p && NF == 2 {
		v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
		scale = (unit == "us") ? 1 : (unit == "ms") ? 1e3 : (unit == "s") ? 1e6 : (unit == "m") ? 6e7 : -1
		if (scale > 0) printf "%.1f\n", v * scale
	}'
}

# ---- helpers ----

have() { command -v "$1" >/dev/null 2>&1; }

# Wait until something accepts connections on 127.0.0.1:$1, for at most 10 s.
wait_for_port() {
	local deadline=$((SECONDS + 10))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "hello-server did not accept connections on port $1 within 10 s; see $OUT/server.log"
			return 1
		fi
		sleep 0.1
	done
}

# oha's JSON flag changed between versions.
oha_json_flag() {
	if oha --help 2>&1 | grep -q -- '--output-format'; then
		printf '%s\n' --output-format json
	else
		printf '%s\n' --json
	fi
}

# Run a tool, keep its output in $OUT/$1.out; on failure say so and leave the file empty.
capture() {
	local name=$1
	shift
	log "running $name: $*"
	if ! "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then
		log "$name failed (exit $?); stderr in $OUT/$name.err"
		: >"$OUT/$name.out"
	fi
}

# Print $1 or n/a when empty.
cell() { if [[ -n "$1" ]]; then printf '%s' "$1"; else printf 'n/a'; fi; }
# Ratio $1 / $2 with two decimals, or n/a.
ratio() { if [[ -n "$1" && -n "$2" ]]; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; else printf 'n/a'; fi; }
round() { if [[ -n "$1" ]]; then awk -v a="$1" 'BEGIN { printf "%.0f", a }'; fi; }

# Best of the peers' values ("max" or "min"), as "value tool", or nothing.
best_of() {
	local how=$1
	shift
	printf '%s\n' "$@" | awk -v how="$how" 'NF == 2 && $1 != "" {
		if (!seen || (how == "max" && $1 > v) || (how == "min" && $1 < v)) { v = $1; t = $2; seen = 1 }
	} END { if (seen) print v, t }'
}

# ---- run ----

log "building release binaries"
cargo build --release -q -p faasbed-benches --bins
BIN=target/release

"$BIN/hello-server" --addr "127.0.0.1:$PORT" --threads "$SERVER_THREADS" >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
wait_for_port "$PORT"

PEERS=(oha hey wrk)
declare -A PEAK P50 P99

# (a) peak closed-loop rps at $CONNS connections.
capture faasbed-peak "$BIN/faasbed-loadgen" --url "$URL" --closed --connections "$CONNS" --duration "${DURATION}s"
PEAK[faasbed]=$(parse_faasbed_rps <"$OUT/faasbed-peak.out")
if have oha; then
	mapfile -t OHA_JSON < <(oha_json_flag)
	capture oha-peak oha --no-tui "${OHA_JSON[@]}" -z "${DURATION}s" -c "$CONNS" "$URL"
	PEAK[oha]=$(parse_oha_rps <"$OUT/oha-peak.out")
fi
if have hey; then
	capture hey-peak hey -z "${DURATION}s" -c "$CONNS" "$URL"
	PEAK[hey]=$(parse_hey_rps <"$OUT/hey-peak.out")
fi
if have wrk; then
	capture wrk-peak wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency "$URL"
	PEAK[wrk]=$(parse_wrk_rps <"$OUT/wrk-peak.out")
fi

# (b) fixed rate: $RATE rps for $DURATION s at $CONNS connections.
capture faasbed-rate "$BIN/faasbed-loadgen" --url "$URL" --rate "$RATE" --connections "$CONNS" --duration "${DURATION}s"
P50[faasbed]=$(parse_faasbed_us corrected p50 <"$OUT/faasbed-rate.out")
P99[faasbed]=$(parse_faasbed_us corrected p99 <"$OUT/faasbed-rate.out")
P50[faasbed-uncorrected]=$(parse_faasbed_us uncorrected p50 <"$OUT/faasbed-rate.out")
P99[faasbed-uncorrected]=$(parse_faasbed_us uncorrected p99 <"$OUT/faasbed-rate.out")
if have oha; then
	OHA_CORRECT=()
	if oha --help 2>&1 | grep -q -- '--latency-correction'; then OHA_CORRECT=(--latency-correction); fi
	capture oha-rate oha --no-tui "${OHA_JSON[@]}" "${OHA_CORRECT[@]}" -z "${DURATION}s" -c "$CONNS" -q "$RATE" "$URL"
	P50[oha]=$(parse_oha_us p50 <"$OUT/oha-rate.out")
	P99[oha]=$(parse_oha_us p99 <"$OUT/oha-rate.out")
fi
if have hey; then
	# hey's -q is per worker: workers × q = RATE.
	PER_WORKER=$(awk -v r="$RATE" -v c="$CONNS" 'BEGIN { print r / c }')
	capture hey-rate hey -z "${DURATION}s" -c "$CONNS" -q "$PER_WORKER" "$URL"
	P50[hey]=$(parse_hey_us 50 <"$OUT/hey-rate.out")
	P99[hey]=$(parse_hey_us 99 <"$OUT/hey-rate.out")
fi
# wrk has no fixed-rate mode (wrk2 does): its cells stay n/a.

# ---- table ----

peer_values() {
	local -n values=$1
	local p
	for p in "${PEERS[@]}"; do printf '%s %s\n' "${values[$p]:-}" "$p"; done
}
read -r BEST_PEAK BEST_PEAK_TOOL <<<"$(best_of max "$(peer_values PEAK)")" || true
read -r BEST_P50 BEST_P50_TOOL <<<"$(best_of min "$(peer_values P50)")" || true
read -r BEST_P99 BEST_P99_TOOL <<<"$(best_of min "$(peer_values P99)")" || true

printf '\n%s\n\n' "loopback hello-server ($SERVER_THREADS thread), $CONNS connections, ${DURATION} s per run; $(nproc) cores"
printf '| tool | peak rps (closed, %s conns) | p50 µs @ %s rps | p99 µs @ %s rps |\n' "$CONNS" "$RATE" "$RATE"
printf '|---|---:|---:|---:|\n'
for tool in faasbed faasbed-uncorrected "${PEERS[@]}"; do
	name=$tool
	[[ $tool == faasbed ]] && name="faasbed-loadgen (corrected)"
	[[ $tool == faasbed-uncorrected ]] && name="faasbed-loadgen (uncorrected, same run)"
	[[ $tool != faasbed* ]] && ! have "$tool" && name="$tool (missing)"
	printf '| %s | %s | %s | %s |\n' "$name" "$(cell "$(round "${PEAK[$tool]:-}")")" \
		"$(cell "$(round "${P50[$tool]:-}")")" "$(cell "$(round "${P99[$tool]:-}")")"
done
printf '| faasbed ÷ oha | %s | %s | %s |\n' "$(ratio "${PEAK[faasbed]:-}" "${PEAK[oha]:-}")" \
	"$(ratio "${P50[faasbed]:-}" "${P50[oha]:-}")" "$(ratio "${P99[faasbed]:-}" "${P99[oha]:-}")"
printf '| faasbed ÷ best peer | %s (%s) | %s (%s) | %s (%s) |\n' \
	"$(ratio "${PEAK[faasbed]:-}" "${BEST_PEAK:-}")" "$(cell "${BEST_PEAK_TOOL:-}")" \
	"$(ratio "${P50[faasbed]:-}" "${BEST_P50:-}")" "$(cell "${BEST_P50_TOOL:-}")" \
	"$(ratio "${P99[faasbed]:-}" "${BEST_P99:-}")" "$(cell "${BEST_P99_TOOL:-}")"
printf '\n%s %s %s\n' "rps ratio > 1: faasbed faster; latency ratio < 1: faasbed lower. faasbed corrected = end - scheduled time;" \
	"oha --latency-correction starts the clock when its timer fires (after tokio's ~1 ms timer lag); hey is uncorrected." \
	"wrk has no fixed-rate mode (wrk2 does). Raw output: $OUT"
