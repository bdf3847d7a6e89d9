#!/usr/bin/env bash
# What a program that imports socketkit's library inherits: a scratch module
# imports socket, socketserver, eventloop and proxyproto, runs go mod tidy,
# and lists its build list. Anything beyond golang.org/x/sys and x/net (and
# the two modules themselves) fails: the CLI, bench and toxiproxy keep their
# dependencies in modules of their own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
cat > go.mod <<MOD
module example.com/consumer

go 1.26.0

require github.com/socketkit/socketkit v0.0.0

replace github.com/socketkit/socketkit => $root
MOD
imports=""
for pkg in socket socketserver eventloop proxyproto; do
	if [ -d "$root/$pkg" ] && ls "$root/$pkg"/*.go >/dev/null 2>&1; then
		imports="$imports	_ \"github.com/socketkit/socketkit/$pkg\"
"
	fi
done
printf 'package main\n\nimport (\n%s)\n\nfunc main() {}\n' "$imports" > main.go
export GOWORK=off GOFLAGS=-mod=mod
go mod tidy
echo "\$ go list -m all   # in a module that imports:"
grep '_ "' main.go
go list -m all | tee list.txt
extra=$(grep -v -e '^example.com/consumer$' -e '^github.com/socketkit/socketkit ' -e '^golang.org/x/sys ' -e '^golang.org/x/net ' list.txt || true)
if [ -n "$extra" ]; then
	echo "a consumer of the library inherits more than x/sys and x/net:" >&2
	echo "$extra" >&2
	exit 1
fi
