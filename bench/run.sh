#!/usr/bin/env bash
# The benchmark suite in one command: builds every server and the load
# generator, runs the echo matrix, system-call counts, idle memory, the
# slow reader and HTTP plaintext, and writes the results into
# ../BENCHMARKS.md (between its generated markers), charts/*.png and
# results/suite.json. Extra arguments go to `benchrun all` (for example
# -rounds 5 -d 5s, or -only echo -servers sock-loop,gnet for a quick look).
#
# Needs: go, gcc, python3, taskset and prlimit (util-linux), strace, wrk.
# Takes about 25 minutes with the defaults (3 rounds of 3 s).
set -euo pipefail
cd "$(dirname "$0")"
for tool in go gcc python3 taskset prlimit strace wrk; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install -y gcc python3 util-linux strace wrk)" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
	echo "run.sh: needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2
	exit 1
fi
mkdir -p bin charts results
(cd .. && go build -o bench/bin/sock ./cmd/sock)
go build -o bin/echoserver ./cmd/echoserver
go build -o bin/echoload ./cmd/echoload
go build -o bin/benchrun ./cmd/benchrun
gcc -O2 -o bin/epoll_echo c/epoll_echo.c
full=true
for a in "$@"; do case "$a" in -only|-only=*|-servers|-servers=*) full=false ;; esac; done
if $full; then
	exec bin/benchrun all -charts charts -json results/suite.json -update ../BENCHMARKS.md "$@"
fi
exec bin/benchrun all "$@" # a partial run does not overwrite BENCHMARKS.md
