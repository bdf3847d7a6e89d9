#!/usr/bin/env bash
# bench-transfer.sh [ROUNDS] [SIZE_MIB] - sock send/recv against socat, 1 GiB
# over TCP loopback by default. Each transfer is timed from the start of the
# sender until the receiving process has exited (the file is complete), and
# the two tools alternate within each round. Prints one line per transfer
# and a markdown summary; every received file's sha256 is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
mib=${2:-1024}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/sock" ./cmd/sock
src="$dir/src.bin"
head -c $((mib << 20)) /dev/urandom > "$src"
want=$(sha256sum < "$src" | cut -d' ' -f1)
cat "$src" > /dev/null # warm the page cache
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
waitport() { for _ in $(seq 1 200); do ss -ltn "sport = :$1" | grep -q LISTEN && return; sleep 0.01; done; echo "nothing on $1" >&2; exit 1; }
check() { got=$(sha256sum < "$1" | cut -d' ' -f1); [ "$got" = "$want" ] || { echo "sha256 mismatch for $2" >&2; exit 1; }; rm -f "$1"; }
sock_t=(); socat_t=()
for r in $(seq 1 "$rounds"); do
  p=$(port); "$dir/sock" recv -q 127.0.0.1 "$p" -o "$dir/out.sock" 2>/dev/null & rp=$!; waitport "$p"
  t0=$(now); "$dir/sock" send -q "$src" 127.0.0.1 "$p" 2>/dev/null; wait $rp; t1=$(now)
  check "$dir/out.sock" sock; s=$(echo "$t1 - $t0" | bc -l); sock_t+=("$s")
  p=$(port); socat -u TCP-LISTEN:"$p",bind=127.0.0.1,reuseaddr OPEN:"$dir/out.socat",creat,trunc & rp=$!; waitport "$p"
  t0=$(now); socat -u OPEN:"$src" TCP:127.0.0.1:"$p"; wait $rp; t1=$(now)
  check "$dir/out.socat" socat; c=$(echo "$t1 - $t0" | bc -l); socat_t+=("$c")
  printf 'round %d: sock %.3f s (%.0f MiB/s), socat %.3f s (%.0f MiB/s)\n' "$r" "$s" "$(echo "$mib / $s" | bc -l)" "$c" "$(echo "$mib / $c" | bc -l)"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms=$(med "${sock_t[@]}"); mc=$(med "${socat_t[@]}")
echo
echo "| tool | median time for $mib MiB | MiB/s | speed vs socat |"
echo "|---|---:|---:|---:|"
printf '| sock send / sock recv (sendfile, sha256 checked end to end) | %.3f s | %.0f | %.2f× |\n' "$ms" "$(echo "$mib / $ms" | bc -l)" "$(echo "$mc / $ms" | bc -l)"
printf '| socat -u OPEN:file TCP / socat -u TCP-LISTEN OPEN:file | %.3f s | %.0f | 1.00× |\n' "$mc" "$(echo "$mib / $mc" | bc -l)"
