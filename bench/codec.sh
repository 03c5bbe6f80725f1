#!/usr/bin/env bash
# Codec benchmark: builds bench_codec (Release), runs it, then the zstd, openssl and xxhsum CLI references.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
CHUNK=4194304

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== ferry codec benchmark"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
	"family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')" \
	"model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
echo "kernel:  $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers)"
echo "tools:   $(gcc --version | head -1); $(zstd --version | sed 's/^\*\** *//;s/ *\**$//'); $(openssl version); $(xxhsum --version 2>&1 | head -1)"
echo

echo "== build (Release)"
# unit tests are not needed here: keep them out of the configure
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF -DFERRY_FUZZ=OFF >"$tmp/cmake.log" 2>&1 ||
	{ cat "$tmp/cmake.log"; exit 1; }
make -C "$BUILD" -j"$(nproc)" bench_codec >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; exit 1; }
echo "built $BUILD/bench_codec"
echo

echo "== bench_codec (ferry API vs the same libraries called directly, same process, same buffers)"
"$BUILD/bench_codec"
echo

echo "== external references (their own units: zstd MB/s = 10^6 B/s; openssl 1000s of B/s; xxhsum MB/s = 2^20 B/s)"
"$BUILD/bench_codec" --write-corpus "$tmp/text.jsonl"
echo "corpus: the bench's text corpus, $(stat -c %s "$tmp/text.jsonl") bytes, split in $CHUNK-byte blocks (-B)"
for level in 1 3 9; do
	echo "\$ zstd -b$level -i1 -B$CHUNK text.jsonl"
	# zstd redraws its progress line with \r; keep the last full result (compress, decompress MB/s)
	zstd -b"$level" -i1 -B"$CHUNK" "$tmp/text.jsonl" 2>&1 | tr '\r' '\n' | grep 'MB/s,' | tail -1 |
		sed "s/^ *[-|/\\\\]-/ $level#/"
done
echo

for mode in "" "-decrypt"; do
	echo "\$ openssl speed -evp aes-256-gcm $mode -bytes $CHUNK -seconds 2"
	openssl speed -evp aes-256-gcm $mode -bytes "$CHUNK" -seconds 2 2>/dev/null >"$tmp/speed.txt"
	grep -E '^(type|aes-256-gcm|AES-256-GCM)' "$tmp/speed.txt"
	awk 'tolower($1) == "aes-256-gcm" { v = $NF; sub(/k$/, "", v); printf "= %.0f MB/s (10^6 B/s)\n", v / 1000 }' \
		"$tmp/speed.txt"
done
echo

echo "\$ xxhsum -q -b5,7,11 -B$CHUNK -i1   (5 = XXH3_64b, 7 = XXH3_64b w/seed, 11 = XXH128; dispatched SIMD)"
xxhsum -q -b5,7,11 -B"$CHUNK" -i1 2>&1 | tr '\r' '\n' | grep -E '^ *[0-9]+#'
echo
echo "== done; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
