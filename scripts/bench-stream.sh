#!/usr/bin/env bash
# bench-stream.sh [ROUNDS] [SECONDS] - sock bench --stream against iperf3 on
# TCP loopback: one stream and -P 4 (received throughput), and UDP at
# 10 Mbit/s, 100 Mbit/s and 1 Gbit/s with 1400-byte datagrams (the rate
# received, and the loss and jitter as each receiver reports them). Each server is pinned to CPU 0 and each client to
# CPU 1, and the two tools alternate within every round, so that both are
# measured within seconds of each other on this shared machine. Prints one
# line per run and a markdown table of medians; the TCP ratio is taken per
# round, then its median.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-5}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
go build -o "$dir/sock" ./cmd/sock
command -v iperf3 >/dev/null || { echo "iperf3 is not installed (apt-get install iperf3)" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 1 300); do ss -ltn "sport = :$1" | grep -q LISTEN && return; sleep 0.01; done; echo "nothing on $1" >&2; exit 1; }
sp=$(port); taskset -c 0 "$dir/sock" bench --server --addr 127.0.0.1:"$sp" 2>/dev/null & pids+=($!)
ip=$(port); taskset -c 0 iperf3 -s -B 127.0.0.1 -p "$ip" >/dev/null 2>&1 & pids+=($!)
waitport "$sp"; waitport "$ip"
echo "uptime before: $(uptime)"

# run TOOL ARGS...: one test with --json; prints the figures the table uses:
# received bits/s, or for UDP "bits/s lost_percent jitter_ms lost/packets".
run() {
  local tool=$1; shift
  local j
  if [ "$tool" = sock ]; then
    j=$(taskset -c 1 "$dir/sock" bench --stream 127.0.0.1 "$sp" -t "$secs" --json "$@")
  else
    j=$(taskset -c 1 iperf3 -c 127.0.0.1 -p "$ip" -t "$secs" --json "$@")
    sleep 0.2 # iperf3's server takes a moment before its next test
  fi
  if [[ " $* " == *" -u "* ]]; then
    echo "$j" | jq -r '.end.sum | "\(.bits_per_second) \(.lost_percent) \(.jitter_ms) \(.lost_packets)/\(.packets)"'
  else
    echo "$j" | jq -r '.end.sum_received.bits_per_second'
  fi
}

declare -A res
for r in $(seq 1 "$rounds"); do
  for t in "tcp1:" "tcp4:-P 4" "udp10:-u -b 10M -l 1400" "udp100:-u -b 100M -l 1400" "udp1g:-u -b 1G -l 1400"; do
    name=${t%%:*}; args=${t#*:}
    # The order of the tools alternates from round to round.
    tools="sock iperf3"; [ $((r % 2)) = 0 ] && tools="iperf3 sock"
    for tool in $tools; do
      # shellcheck disable=SC2086
      out=$(run "$tool" $args)
      res[$name,$tool,$r]=$out
      printf 'round %d %-7s %-6s %s\n' "$r" "$name" "$tool" "$out"
    done
  done
done
echo "uptime after: $(uptime)"

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { local name=$1 tool=$2 f=$3; for r in $(seq 1 "$rounds"); do echo "${res[$name,$tool,$r]}" | awk -v f="$f" '{print $f}'; done; }
echo
echo "| test | sock bench --stream | iperf3 | sock / iperf3 (median of the rounds' ratios, range) |"
echo "|---|---:|---:|---:|"
for name in tcp1 tcp4; do
  label=$([ $name = tcp1 ] && echo "TCP, 1 stream" || echo "TCP, -P 4")
  s=$(med $(col $name sock 1)); i=$(med $(col $name iperf3 1))
  ratios=(); for r in $(seq 1 "$rounds"); do ratios+=("$(awk -v a="${res[$name,sock,$r]}" -v b="${res[$name,iperf3,$r]}" 'BEGIN {print a / b}')"); done
  lo=$(printf '%s\n' "${ratios[@]}" | sort -g | head -1); hi=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)
  printf '| %s, received Gbit/s | %.1f | %.1f | %.2f× (%.2f–%.2f) |\n' "$label" "$(awk -v x="$s" 'BEGIN {print x / 1e9}')" "$(awk -v x="$i" 'BEGIN {print x / 1e9}')" "$(med "${ratios[@]}")" "$lo" "$hi"
done
echo
echo "| UDP, 1400-byte datagrams | tool | received Mbit/s | lost % (median, range) | jitter ms (median, range) |"
echo "|---|---|---:|---:|---:|"
for name in udp10 udp100 udp1g; do
  case $name in udp10) label="-b 10M" ;; udp100) label="-b 100M" ;; *) label="-b 1G" ;; esac
  for tool in sock iperf3; do
    b=$(med $(col $name $tool 1)); l=$(med $(col $name $tool 2)); j=$(med $(col $name $tool 3))
    lr=$(col $name $tool 2 | sort -g | awk 'NR==1{a=$1} {b=$1} END{print a, b}'); jr=$(col $name $tool 3 | sort -g | awk 'NR==1{a=$1} {b=$1} END{print a, b}')
    printf '| %s | %s | %.1f | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) |\n' "$label" "$tool" "$(awk -v x="$b" 'BEGIN {print x / 1e6}')" "$l" ${lr} "$j" ${jr}
  done
done
