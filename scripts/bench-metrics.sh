#!/usr/bin/env bash
# bench-metrics.sh [ROUNDS] - the cost of --metrics on the engine's echo:
# sock serve echo --engine loop --loops 1 without --metrics, with it and
# never scraped, and with it scraped by curl twice a second, alternating
# within each round (server on CPU 0, echoload on CPU 1, 64 connections x
# 64 B, 4 s a run). Run bench/run.sh (or tls.sh) first: it builds
# bench/bin/sock and bench/bin/echoload.
set -euo pipefail
cd "$(dirname "$0")/../bench"
rounds=${1:-5}
for f in bin/sock bin/echoload; do
  [ -x "$f" ] || { echo "bench-metrics.sh: $f is missing: run bench/run.sh first" >&2; exit 1; }
done
port=7411
for r in $(seq "$rounds"); do
  for mode in plain metrics-idle metrics; do
    args=(serve echo --engine loop --loops 1 --addr 127.0.0.1:$port)
    [ $mode != plain ] && args+=(--metrics 127.0.0.1:$((port + 500)))
    taskset -c 0 bin/sock "${args[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    scr=
    if [ $mode = metrics ]; then
      (for _ in $(seq 1 12); do curl -s 127.0.0.1:$((port + 500))/metrics >/dev/null; sleep 0.5; done) &
      scr=$!
    fi
    m=$(taskset -c 1 bin/echoload -addr 127.0.0.1:$port -c 64 -s 64 -P 1 -d 4s -warmup 0s -json 2>/dev/null |
      python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.0f" % r["msgs_per_s"])')
    if [ -n "$scr" ]; then kill "$scr" 2>/dev/null || true; wait "$scr" 2>/dev/null || true; fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "round $r $mode $m msgs/s"
    port=$((port + 1))
  done
done
