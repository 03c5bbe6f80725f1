#!/usr/bin/env bash
# Crash campaign: kill -9 ferry at seeded random moments during push, sync, copy and pull,
# rerun each to completion, and check that nothing is lost: the result byte-identical to
# the source, the store verifiable, no temporary file left under a final name, and on S3
# no unfinished upload left and no completed part sent twice.
#
# usage: crash.sh FERRY [local|s3]
#   FERRY_CRASH_KILLS  kills per operation (default 2, or FERRY_CRASH_KILLS_CI;
#                      FERRY_CAMPAIGN=long: 5, i.e. 20 in all)
#   FERRY_CRASH_SEED   seed of the kill moments (default 1)
set -uo pipefail
ferry=${1:?usage: crash.sh FERRY [local|s3]}
mode=${2:-local}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-crash.XXXXXX)
srv=$work/swift
bg=
cleanup() {
	[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null
	[ "$mode" = s3 ] && "$here/../s3/swift-server.sh" stop "$srv" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
kills=${FERRY_CRASH_KILLS:-${FERRY_CRASH_KILLS_CI:-2}}
[ "${FERRY_CAMPAIGN:-}" = long ] && kills=${FERRY_CRASH_KILLS:-5}
RANDOM=${FERRY_CRASH_SEED:-1}
export HOME=$work/home FERRY_STATE_DIR=$work/state FERRY_S3_MAX_PARTS=1000
mkdir -p "$HOME"
unset FERRY_PASSPHRASE FERRY_S3_DEBUG
. "$here/../lib.sh"
ERR_FROM=tail ERR_LINES=16
killed=0 twice_total=0

base=$work
if [ "$mode" = s3 ]; then
	S3_BUCKETS="ferry-crash"
	. "$here/../s3/server_up.sh"
	base=s3://ferry-crash
fi
uploads() {
	[ "$mode" = s3 ] || { echo 0; return; }
	local n
	n=$(aws s3api list-multipart-uploads --bucket ferry-crash --output json) ||
		{ echo listing-failed; return; }
	n=$(printf '%s' "$n" | jq '(.Uploads // []) | length')
	echo "${n:-0}"
}
# "KEY PART" of every part that completed: by key and number, not upload, so that a part
# sent again in a new upload of the same object counts as sent twice
parts_sent() { sed -n 's|.*PUT \([^?]*\)?partNumber=\([0-9]*\)&uploadId=[^ ]* -> 200.*|\1 \2|p' "$1" | sort; }

# the source: a file of several chunks and parts, files with an object each, packed small files
src=$work/src
mkdir -p "$src/d/e" "$src/small"
head -c 40000000 /dev/urandom >"$src/big.bin"
for i in $(seq 1 10); do head -c $((1200000 + i * 777)) /dev/urandom >"$src/d/m$i"; done
for i in $(seq 1 300); do printf 'small file %d %s\n' "$i" "$(seq 1 $((i % 40)))" >"$src/small/s$i"; done
seq 1 200000 >"$src/d/e/seq.txt"
head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"
K=(--key-file "$work/key")

# kill_during SECONDS CMD...: runs CMD (stderr to $work/k.log), kills it -9 after SECONDS
kill_during() {
	local t=$1
	shift
	FERRY_S3_DEBUG=1 "$@" >/dev/null 2>"$work/k.log" &
	bg=$!
	sleep "$t"
	if kill -9 "$bg" 2>/dev/null; then killed=$((killed + 1)); fi
	wait "$bg" 2>/dev/null
	bg=
}
# a kill moment in [0.2, 0.2 + span) seconds, from the seeded sequence
moment() { printf '0.%02d' $((RANDOM % 100)) | awk -v s="$1" '{ printf "%.2f", 0.2 + $1 * s }'; }

# rerun CMD...: the rerun after a kill must complete; checks parts not sent twice
rerun() {
	local name=$1
	shift
	FERRY_S3_DEBUG=1 timeout 300 "$@" >/dev/null 2>"$work/r.log"
	local rc=$?
	grep -v '^ferry: s3: ' "$work/r.log" >"$work/err"
	[ $rc -eq 124 ] && tail -12 "$work/r.log" >>"$work/err" # what it was waiting for
	check "$name: rerun completes (exit $rc)" '[ $rc -eq 0 ]'
	if [ "$mode" = s3 ]; then
		parts_sent "$work/k.log" >"$work/p1"
		parts_sent "$work/r.log" >"$work/p2"
		local twice
		twice=$(comm -12 "$work/p1" "$work/p2" | wc -l)
		twice_total=$((twice_total + twice))
		check "$name: no completed part sent twice" '[ "$twice" -eq 0 ]'
		check "$name: no unfinished upload left" '[ "$(uploads)" = 0 ]'
	fi
}
# byte-identical, temporary files aside (checked on their own: a completed rerun removes them)
same_tree() { diff -r --no-dereference -x '.ferry-*' "$src" "$1" >/dev/null; }

n=0
for op in push sync copy pull; do
	for k in $(seq 1 "$kills"); do
		n=$((n + 1))
		store=$base/store$n
		t=$(moment 2.5)
		case $op in
		push | sync)
			"$ferry" init "$store" "${K[@]}" --encrypt >/dev/null 2>"$work/err" || bad "init $store"
			kill_during "$t" "$ferry" "$op" "$src" "$store" "${K[@]}" --bwlimit 15M
			rerun "$op #$k (killed at ${t}s)" "$ferry" "$op" "$src" "$store" "${K[@]}"
			"$ferry" verify "$store" --read-data "${K[@]}" >/dev/null 2>"$work/err"
			check "$op #$k: the store verifies" '[ $? -eq 0 ]'
			rm -rf "$work/out"
			"$ferry" pull "$store" "$work/out" "${K[@]}" >/dev/null 2>"$work/err"
			check "$op #$k: the snapshot is byte-identical to the source" 'same_tree "$work/out"'
			;;
		copy)
			dst=$work/copy$n
			[ "$mode" = s3 ] && dst=$store
			kill_during "$t" "$ferry" copy "$src" "$dst" --bwlimit 15M
			rerun "copy #$k (killed at ${t}s)" "$ferry" copy "$src" "$dst"
			if [ "$mode" = s3 ]; then
				rm -rf "$work/out"
				"$ferry" copy "$dst" "$work/out" >/dev/null 2>"$work/err"
				kill_during "$(moment 2)" "$ferry" copy "$dst" "$work/out2" --bwlimit 15M
				rerun "copy down #$k" "$ferry" copy "$dst" "$work/out2"
				check "copy down #$k: byte-identical" 'same_tree "$work/out2"'
				check "copy down #$k: no temporary file left behind" '[ -z "$(find "$work/out2" -name ".ferry-*" | head -1)" ]'
				rm -rf "$work/out2"
			else
				rm -rf "$work/out"
				cp -a "$dst" "$work/out"
			fi
			check "copy #$k: byte-identical" 'same_tree "$work/out"'
			rm -rf "$work/copy$n"
			;;
		pull)
			if [ $k -eq 1 ]; then
				"$ferry" init "$base/pullstore" "${K[@]}" --encrypt >/dev/null 2>"$work/err" &&
					"$ferry" push "$src" "$base/pullstore" "${K[@]}" >/dev/null 2>"$work/err" || bad "pull store"
			fi
			rm -rf "$work/out"
			kill_during "$t" "$ferry" pull "$base/pullstore" "$work/out" "${K[@]}" --bwlimit 15M
			rerun "pull #$k (killed at ${t}s)" "$ferry" pull "$base/pullstore" "$work/out" "${K[@]}"
			check "pull #$k: byte-identical" 'same_tree "$work/out"'
			check "pull #$k: the rerun removed every temporary file the kill left" '[ -z "$(find "$work/out" -name ".ferry-*" | head -1)" ]'
			;;
		esac
	done
done
echo "crash campaign ($mode, seed ${FERRY_CRASH_SEED:-1}): $killed kills, $n reruns, parts sent twice: $twice_total"
finish
