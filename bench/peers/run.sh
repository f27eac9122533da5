#!/bin/sh
# Runs the Log benchmarks three times (each pass runs every row once, so the
# three stores of a row see the same disk weather) and prints the tables of
# ../RESULTS.md. About 4-7 minutes on a 2-core VM. Temp dirs go to $TMPDIR
# (default /tmp); keep it on the filesystem you mean to measure.
set -eu
cd "$(dirname "$0")"
out=${1:-results/run-$(date -u +%Y%m%d-%H%M)}
mkdir -p "$out"
go test -c -o "$out/peers.test" .
sha256sum ../../log/*.go ../../raftlog/store.go > "$out/src.sha"
for i in 1 2 3; do
	"$out/peers.test" -test.run '^$' -test.bench StoreLogs -test.benchtime 2000x -test.v > "$out/pass$i.txt"
	"$out/peers.test" -test.run '^$' -test.bench Open1GiB -test.benchtime 5x -test.v > "$out/open$i.txt"
done
rm -f "$out/peers.test"
cat "$out"/pass*.txt "$out"/open*.txt | go run ./cmd/benchtable
