#!/usr/bin/env bash
# The TLS comparison of issue 13 in one command: the engine's own TLS
# (sock serve echo --engine loop|uring --tls) against the standard
# library's crypto/tls (a goroutine per connection) and nbio's TLS, side by
# side: the echo matrix with 1 KiB messages and the server's CPU time a
# message, the memory of 10,000 idle TLS connections, and full handshakes
# a second. Writes the results into ../BENCHMARKS.md (between its TLS
# markers) and results/tls.json. Extra arguments go to `benchrun tls` (for
# example -rounds 5 -d 5s; -only idle or -servers ... for a quick look,
# which does not touch BENCHMARKS.md).
#
# Needs: go, taskset and prlimit (util-linux). About 6 minutes with the
# defaults (3 rounds of 3 s). Run it on a quiet machine (uptime: load < 0.5).
set -euo pipefail
cd "$(dirname "$0")"
for tool in go taskset prlimit; do
	command -v "$tool" >/dev/null || { echo "tls.sh: $tool is missing (apt-get install -y util-linux)" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
	echo "tls.sh: needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2
	exit 1
fi
mkdir -p bin results
(cd .. && go build -o bench/bin/sock ./cmd/sock)
go build -o bin/echoserver ./cmd/echoserver
go build -o bin/echoload ./cmd/echoload
go build -o bin/benchrun ./cmd/benchrun
full=true
for a in "$@"; do case "$a" in -only|-only=*|-servers|-servers=*|-idle-conns|-idle-conns=*) full=false ;; esac; done
if $full; then
	exec bin/benchrun tls -json results/tls.json -update ../BENCHMARKS.md "$@"
fi
exec bin/benchrun tls "$@"
