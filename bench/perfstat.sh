#!/usr/bin/env bash
# Context switches and server CPU time a message, from perf stat on the
# server while echoload runs: the profile behind BENCHMARKS.md's notes on
# where the engine stands against gnet and the C floor. Same pinning as the
# suite (server CPU 0, load CPU 1). Run after ./run.sh has built bin/.
#
#   ./perfstat.sh [rounds] [conns] [depth]      # defaults: 2 1 1
#   SERVERS="sock-uring c-epoll" ./perfstat.sh 5 1000 1
#
# The servers: sock-loop (the engine on epoll), sock-uring (on io_uring),
# gnet and c-epoll (the C floor); SERVERS picks some.
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-2} conns=${2:-1} depth=${3:-1}
servers=${SERVERS:-sock-loop sock-uring gnet c-epoll}
for tool in perf taskset python3; do
	command -v "$tool" >/dev/null || { echo "perfstat.sh: $tool is missing" >&2; exit 1; }
done
port=7311
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in $(seq "$rounds"); do
	for srv in $servers; do
		case $srv in
		sock-loop) cmd=(bin/sock serve echo --engine loop --loops 1 --addr "127.0.0.1:$port") ;;
		sock-uring) cmd=(bin/sock serve echo --engine uring --loops 1 --addr "127.0.0.1:$port") ;;
		gnet) cmd=(bin/echoserver -impl gnet -addr "127.0.0.1:$port") ;;
		c-epoll) cmd=(bin/epoll_echo 127.0.0.1 "$port") ;;
		*) echo "perfstat.sh: unknown server $srv" >&2; exit 2 ;;
		esac
		taskset -c 0 "${cmd[@]}" >/dev/null 2>&1 &
		pid=$!
		sleep 0.5
		perf stat -e context-switches,task-clock -p "$pid" -o "$tmp/perf" -- sleep 4 &
		ps=$!
		taskset -c 1 bin/echoload -addr "127.0.0.1:$port" -c "$conns" -s 64 -P "$depth" -d 4s -warmup 0s -json >"$tmp/load" 2>/dev/null
		wait "$ps"
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		python3 - "$srv" "$round" "$tmp/load" "$tmp/perf" <<'PY'
import json, re, sys
srv, rnd, load, perf = sys.argv[1:]
r = json.load(open(load))
text = open(perf).read()
cs = float(re.search(r"([\d,.]+)\s+context-switches", text).group(1).replace(",", ""))
tc = float(re.search(r"([\d,.]+)\s+msec task-clock", text).group(1).replace(",", ""))
print("round %s  %-10s %9.0f msgs/s  context switches a message %.2f  server CPU a message %.2f us"
      % (rnd, srv, r["msgs_per_s"], cs / r["msgs"], tc * 1000 / r["msgs"]))
PY
		port=$((port + 1))
	done
done
