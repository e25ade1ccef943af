# faasbed recipes; each mirrors a README command.

# Run the default benchmark on the embedded platform.
bench *ARGS:
    cargo run --release -p faasbed -- bench {{ARGS}}

# Run the tests (the same command CI runs).
test:
    cargo test --workspace

# Tests that need a real cluster (docker + k3d + internet).
test-cluster:
    cargo test -p faasbed --test k3d_cluster -- --ignored --nocapture

# Install OS prerequisites (apt, binfmt) — needs root.
setup:
    cargo run --release -p faasbed -- setup

# faasbed's load generator beside oha, hey and wrk against one loopback server.
bench-loadgen:
    bash benches/loadgen-peers.sh

# schemathesis against the live local gateway with the vendored upstream spec (as CI runs it).
api-fuzz:
    bash .ci/schemathesis.sh

# Embedded platform figures: up + deploy time, gateway proxy hop.
bench-local:
    bash benches/local-platform.sh

# Cold-start median and phases per class for process, containerd and containerd + openfaas-ce,
# side by side (root; REPS cold starts per class, default 5).
bench-cold:
    bash benches/cold-runtimes.sh
# Planned vs issued arrivals of a trace replay with keep-alive (SCENARIO=... to pick the trace).
bench-trace:
    bash benches/trace-replay.sh

# Memory of a 10-minute warm run at 1,000 rps (RSS series and peak).
bench-rss:
    bash benches/rss-long-run.sh

# Rebuild time of every report of a run with one million warm samples (target ≤ 2 s).
# Emulation fidelity: calibrate the Pi 3 / Pi 4 / VPS classes against the published figures
# and print the pi3:pi4 ratio per program and the held-out error (root: cgroup quotas).
bench-calibrate:
    cargo build --release -q -p faasbed
    target/release/faasbed calibrate scenarios/pi3-pi4-vps.toml --repetitions 3

bench-report:
    rm -rf target/bench-report && mkdir -p target/bench-report
    FAASBED_KEEP_RUN=$PWD/target/bench-report cargo test --release -q -p faasbed --test report -- --ignored --nocapture million
    cargo build --release -q -p faasbed
    hyperfine --warmup 1 --runs 5 'target/release/faasbed report target/bench-report/million'

# Does the regression gate hold here? Same-code `bench --quick` pairs must pass, a planted slowdown must fail.
gate-noise:
    bash benches/gate-noise.sh

# A/B interleaved gate: BASE and NEW (git revisions or faasbed trees) bench alternately, then compare --gate.
gate-ab BASE NEW:
    bash benches/ab-gate.sh {{BASE}} {{NEW}}

# Cold-start median per runtime (Go, Python) x arch (amd64, arm64, armhf) on the local platform.
bench-runtimes:
    bash benches/runtimes.sh
