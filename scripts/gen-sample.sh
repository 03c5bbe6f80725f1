#!/usr/bin/env bash
# Writes a small mixed sample dataset into DIR: JSON lines, CSV, binary "images",
# float arrays, many small files, nested directories, an empty file and a symlink.
set -euo pipefail
dir=${1:?usage: gen-sample.sh DIR}
mkdir -p "$dir"/{text,images,arrays,small/a/b}
for i in $(seq 1 2000); do
	echo "{\"id\": $i, \"label\": \"class_$((i % 10))\", \"caption\": \"sample caption number $i for the quick start\"}"
done >"$dir/text/train.jsonl"
seq 1 5000 | awk '{printf "%d,%f,%s\n", $1, $1 * 0.25, ($1 % 3 ? "cat" : "dog")}' >"$dir/text/labels.csv"
for i in 1 2 3; do head -c $((1536 * 1024)) /dev/urandom >"$dir/images/img_$i.bin"; done
head -c $((6 * 1024 * 1024)) /dev/zero | tr '\0' '\001' >"$dir/arrays/weights.f32"
for i in $(seq 1 200); do echo "tiny file $i" >"$dir/small/a/b/f$i.txt"; done
: >"$dir/empty"
ln -sf text/train.jsonl "$dir/latest.jsonl"
