#!/usr/bin/env bash
# bench-socket.sh [ROUNDS] - the socket package's benchmarks, interleaved.
#
# On a small VM, timing noise is large (±10-20% run to run) and drifts, so
# running each variant N times in a row biases the comparison. This script
# builds the test binary once and runs one round of every variant at a time,
# ROUNDS times (default 20), then summarises with benchstat (medians and
# confidence intervals).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
out=${OUT:-/tmp/bench-socket.txt}
bin=$(mktemp -d)/socket.test
go test -c -o "$bin" ./socket
: > "$out"
for i in $(seq 1 "$rounds"); do
  for v in PingPong/tcp/socket PingPong/tcp/net PingPong/tcp/raw PingPong/unix/socket PingPong/unix/net PingPong/unix/raw \
           SendRecv/tcp/socket SendRecv/tcp/net SendRecv/tcp/raw SendRecv/unix/socket SendRecv/unix/net SendRecv/unix/raw; do
    "$bin" -test.run '^$' -test.bench "^Benchmark${v%%/*}\$/^${v#*/}\$" -test.benchtime 1s >> "$out"
  done
done
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out"
