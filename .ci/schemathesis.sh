#!/usr/bin/env bash
# schemathesis (PyPI, pinned) against the live local gateway with the vendored upstream spec:
# `faasbed up` + `faasbed deploy` of harness/tests/fixtures/scenarios/api.toml in a temporary
# FAASBED_HOME, then every operation of schemas/upstream/openfaas-gateway.openapi.yml with a
# bounded number of examples and a time budget; fails on any 5xx or response-schema violation.
# Always takes the topology down again. Needs python3 (with venv) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-25}
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-240}
venv=target/schemathesis-venv

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

cargo build -q -p faasbed
faasbed=$PWD/target/debug/faasbed
home=$(mktemp -d)
export FAASBED_HOME=$home
# The build cache of the tests: each function builds once.
mkdir -p "$home/cache" target/faasbed-test-cache/functions
ln -s "$PWD/target/faasbed-test-cache/functions" "$home/cache/functions"
cleanup() {
  rc=$?
  # On failure, keep what the gateway said (its log and every replica's) for the report.
  if [ "$rc" -ne 0 ] && [ -d "$home/runs" ]; then
    rm -rf target/schemathesis-logs && mkdir -p target/schemathesis-logs
    cp -r "$home"/runs/*/logs/. target/schemathesis-logs/ 2>/dev/null || true
    echo "gateway and replica logs kept in target/schemathesis-logs/" >&2
  fi
  "$faasbed" down >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT

scenario=harness/tests/fixtures/scenarios/api.toml
"$faasbed" up "$scenario"
"$faasbed" deploy "$scenario"
run_dir=$(ls -d "$home"/runs/*/ | head -n1)
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$run_dir/gateway.json")
password=$(cat "$run_dir/password")

# --request-timeout is above api.toml's 60 s cold-start timeout, so a call that waits for a
# replica is judged by the gateway's answer, not cut by the client.
# /metrics and /system/alert are Prometheus/AlertManager routes the local platform does not
# serve (no Prometheus): the spec lists them, CE serves them from other components.
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=.ci "$venv/bin/schemathesis" --no-color \
  --config-file .ci/schemathesis.toml run \
  schemas/upstream/openfaas-gateway.openapi.yml \
  --url "$url" \
  --auth "admin:$password" \
  --checks not_a_server_error,response_schema_conformance \
  --exclude-path /metrics --exclude-path /system/alert \
  --max-examples "$EXAMPLES" \
  --max-time "$MAX_TIME" \
  --request-timeout 90 \
  --seed "${SCHEMATHESIS_SEED:-42}" \
  --workers 1 \
  --report junit,har --report-dir target/schemathesis-report
