#!/usr/bin/env bash
# Resume against a real S3 server (Swift + s3api on 127.0.0.1, tests/s3/swift-server.sh):
# kill -9 of ferry mid-push then a rerun (fewer bytes sent, no completed part sent twice,
# no unfinished upload left), a changed file's orphaned upload aborted, and the server
# killed mid-transfer then restarted (the push rides it out), and killed for good (the
# push gives up in bounded time, the rerun resumes).
# usage: resume.sh FERRY
set -uo pipefail
ferry=${1:?usage: resume.sh FERRY}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-resume.XXXXXX)
srv=$work/swift
bg=
cleanup() {
	[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null
	"$here/swift-server.sh" stop "$srv" >/dev/null 2>&1
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home FERRY_STATE_DIR=$work/state FERRY_S3_MAX_PARTS=1000
mkdir -p "$HOME" "$srv"
unset FERRY_PASSPHRASE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN FERRY_S3_DEBUG
. "$here/../lib.sh"
OK_SECONDS=1 ERR_FROM=tail

# ---- no server at all: refused connection, unknown host (clear error, exit 1, at once)
for ep in http://127.0.0.1:1 http://no-such-host.invalid:9000; do
	AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s FERRY_S3_ATTEMPTS=2 timeout 60 "$ferry" push "$work" s3://nobucket/x \
		--endpoint "$ep" >/dev/null 2>"$work/err"
	rc=$?
	check "push to $ep fails with exit 1 ($rc)" '[ $rc -eq 1 ]'
	check "the error names the endpoint and the reason" 'grep -qE "${ep#http://}.*(connect|resolve)" "$work/err"'
done
rm -f "$work/err"

S3_BUCKETS="ferry-resume"
. "$here/server_up.sh"
uploads() {
	local n
	n=$(aws s3api list-multipart-uploads --bucket ferry-resume --prefix "$1" --output json) || { echo listing-failed; return; }
	n=$(printf '%s' "$n" | jq '(.Uploads // []) | length')
	echo "${n:-0}"
}
head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"

# a large file (8 parts of 8 MiB), files with an object each, small files in a pack
src=$work/src
mkdir -p "$src/small" "$src/mid"
head -c 64000000 /dev/urandom >"$src/big.bin"
for i in $(seq 1 12); do head -c $((1500000 + i * 1000)) /dev/urandom >"$src/mid/m$i"; done
for i in $(seq 1 200); do printf 'small %d\n' "$i" >"$src/small/s$i"; done
total=$(du -sb "$src" | cut -f1)

# Starts a push in the background with a log of every request; returns at once.
push_bg() {
	local store=$1 log=$2
	shift 2
	FERRY_S3_DEBUG=1 "$ferry" push "$src" "$store" --key-file "$work/key" --json "$@" >"$log.json" 2>"$log" &
	bg=$!
}
# Waits (at most 60 s) until the log shows n completed parts, or the push ended.
wait_parts() {
	local log=$1 n=$2 i
	for i in $(seq 1 600); do
		[ "$(grep -c 'partNumber=[0-9]*&uploadId=.* -> 200' "$log")" -ge "$n" ] && return 0
		kill -0 "$bg" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# "KEY N" lines: parts sent with success
# "KEY PART" of every part that completed: by key and number, not upload, so that a part
# sent again in a new upload of the same object counts as sent twice
parts_sent() { sed -n 's|.*PUT \([^?]*\)?partNumber=\([0-9]*\)&uploadId=[^ ]* -> 200.*|\1 \2|p' "$1" | sort; }

# ---- kill -9 mid-push, then a rerun
store=s3://ferry-resume/one
"$ferry" init "$store" --encrypt --key-file "$work/key" >/dev/null 2>"$work/err" || bad "init"
push_bg "$store" "$work/run1" --bwlimit 25M
wait_parts "$work/run1" 3 && ok "first push has sent parts of the large file" || bad "first push has sent parts of the large file"
kill -9 "$bg"
wait "$bg" 2>/dev/null
bg=
check "an unfinished upload is left by the kill" '[ "$(uploads one/)" -ge 1 ]'
FERRY_S3_DEBUG=1 timeout 300 "$ferry" push "$src" "$store" --key-file "$work/key" --json --verbose \
	>"$work/run2.json" 2>"$work/run2"
rc=$?
cp "$work/run2" "$work/err"
check "rerun completes (exit $rc)" '[ $rc -eq 0 ]'
w1=$(grep -c ' -> 200' "$work/run1")
w2=$(json_num bytes_written "$work/run2.json")
resumed=$(json_num bytes_resumed "$work/run2.json")
files_resumed=$(json_num files_resumed "$work/run2.json")
echo "       source $total bytes; rerun wrote ${w2:-?} bytes, ${resumed:-?} bytes of parts reused, ${files_resumed:-?} files carried"
check "rerun sends fewer bytes than the source holds" '[ -n "$w2" ] && [ "$w2" -lt "$total" ]'
check "rerun reuses parts already on the server" '[ "${resumed:-0}" -ge $((3 * 8 * 1048576)) ]'
check "rerun names the resumed upload" 'grep -q "resuming the upload of" "$work/run2"'
parts_sent "$work/run1" >"$work/p1"
parts_sent "$work/run2" >"$work/p2"
twice=$(comm -12 "$work/p1" "$work/p2" | wc -l)
check "no completed part is sent twice ($(wc -l <"$work/p1") parts before the kill, $(wc -l <"$work/p2") after)" '[ "$twice" -eq 0 ] && [ -s "$work/p1" ]'
pr=$(json_num parts_resumed "$work/run2.json")
check "--json: parts_resumed ${pr:-?} covers the $(wc -l <"$work/p1") parts completed before the kill" '[ "${pr:-0}" -ge "$(wc -l <"$work/p1")" ]'
check "no unfinished upload is left after the rerun" '[ "$(uploads one/)" -eq 0 ]'
"$ferry" pull "$store" "$work/out1" --key-file "$work/key" >/dev/null 2>"$work/err"
check "pull after the resumed push is byte-identical" 'diff -r "$src" "$work/out1" >/dev/null'
"$ferry" verify "$store" --read-data --key-file "$work/key" >/dev/null 2>"$work/err"
check "verify --read-data after the resumed push" '[ $? -eq 0 ]'
check "the journal is gone after success" '[ -z "$(ls -A "$FERRY_STATE_DIR/journal" 2>/dev/null)" ]'

# ---- kill -9 mid-copy (one object per file), then a rerun
url=s3://ferry-resume/copy
FERRY_S3_DEBUG=1 "$ferry" copy "$src" "$url" --json --bwlimit 25M >"$work/c1.json" 2>"$work/c1" &
bg=$!
wait_parts "$work/c1" 3 || bad "copy: parts before the kill"
kill -9 "$bg"
wait "$bg" 2>/dev/null
bg=
FERRY_S3_DEBUG=1 timeout 300 "$ferry" copy "$src" "$url" --json >"$work/c2.json" 2>"$work/c2"
rc=$?
cp "$work/c2" "$work/err"
check "copy rerun completes (exit $rc)" '[ $rc -eq 0 ]'
check "copy rerun reuses parts already on the server" '[ "$(json_num bytes_resumed "$work/c2.json")" -ge $((3 * 8 * 1048576)) ]'
parts_sent "$work/c1" >"$work/p1"
parts_sent "$work/c2" >"$work/p2"
check "copy: no completed part is sent twice" '[ "$(comm -12 "$work/p1" "$work/p2" | wc -l)" -eq 0 ] && [ -s "$work/p1" ]'
pr=$(json_num parts_resumed "$work/c2.json")
check "copy --json: parts_resumed ${pr:-?} covers the $(wc -l <"$work/p1") parts completed before the kill" '[ "${pr:-0}" -ge "$(wc -l <"$work/p1")" ]'
check "copy: no unfinished upload is left" '[ "$(uploads copy/)" -eq 0 ]'
"$ferry" copy "$url" "$work/back" >/dev/null 2>"$work/err"
check "copy back is byte-identical" 'diff -r "$src" "$work/back" >/dev/null'

# ---- the large file changes between the kill and the rerun: its upload is aborted
store=s3://ferry-resume/two
"$ferry" init "$store" --encrypt --key-file "$work/key" >/dev/null 2>"$work/err" || bad "init two"
push_bg "$store" "$work/run3" --bwlimit 25M
wait_parts "$work/run3" 2 || bad "second store: parts before the kill"
kill -9 "$bg"
wait "$bg" 2>/dev/null
bg=
touch -d '2001-01-01' "$src/big.bin"
timeout 300 "$ferry" push "$src" "$store" --key-file "$work/key" --json >"$work/run4.json" 2>"$work/err"
check "rerun after a change completes" '[ $? -eq 0 ]'
check "the changed file's upload was aborted" '[ "$(json_num uploads_aborted "$work/run4.json")" -ge 1 ]'
check "no unfinished upload is left" '[ "$(uploads two/)" -eq 0 ]'
"$ferry" pull "$store" "$work/out2" --key-file "$work/key" >/dev/null 2>"$work/err"
check "pull is byte-identical" 'diff -r "$src" "$work/out2" >/dev/null'

# ---- the server is killed mid-transfer and comes back after 10 s: refusals from a
# server that answered before do not use up the attempts (FERRY_S3_RECONNECT_SECONDS,
# 60 s), so the push carries on by itself, no rerun
store=s3://ferry-resume/three
"$ferry" init "$store" --key-file "$work/key" --encrypt >/dev/null 2>"$work/err" || bad "init three"
push_bg "$store" "$work/run5" --bwlimit 25M
wait_parts "$work/run5" 2 || bad "third store: parts before the crash"
"$here/swift-server.sh" proxy-kill "$srv"
sleep 10
"$here/swift-server.sh" proxy-start "$srv" 2>"$work/err" || bad "the server comes back"
for i in $(seq 1 900); do kill -0 "$bg" 2>/dev/null || break; sleep 0.2; done
wait "$bg"
rc=$?
bg=
cp "$work/run5" "$work/err"
check "requests were refused while the server was down and retried" 'grep -q "Couldn.t connect.*retry" "$work/run5"'
check "push across a 10 s server outage completes without a rerun (exit $rc)" '[ $rc -eq 0 ]'
"$ferry" pull "$store" "$work/out3" --key-file "$work/key" >/dev/null 2>"$work/err"
check "pull is byte-identical" 'diff -r "$src" "$work/out3" >/dev/null'
check "no unfinished upload is left" '[ "$(uploads three/)" -eq 0 ]'

# ---- the server goes away for good: the push gives up once it has been refused for
# FERRY_S3_RECONNECT_SECONDS, says so in one line, and a rerun resumes
store=s3://ferry-resume/four
"$ferry" init "$store" --key-file "$work/key" --encrypt >/dev/null 2>"$work/err" || bad "init four"
FERRY_S3_RECONNECT_SECONDS=4 push_bg "$store" "$work/run7" --bwlimit 25M
wait_parts "$work/run7" 2 || bad "fourth store: parts before the crash"
"$here/swift-server.sh" proxy-kill "$srv"
t0=$SECONDS
for i in $(seq 1 600); do kill -0 "$bg" 2>/dev/null || break; sleep 0.2; done
wait "$bg"
rc=$?
bg=
took=$((SECONDS - t0))
cp "$work/run7" "$work/err"
check "a server gone for good: push gives up (exit $rc) within 40 s (took ${took} s)" '[ $rc -ne 0 ] && [ $took -le 40 ]'
check "it names the refusal" 'grep -q "refused since it last answered" "$work/run7"'
"$here/swift-server.sh" proxy-start "$srv" 2>"$work/err" || bad "the server comes back"
timeout 300 "$ferry" push "$src" "$store" --key-file "$work/key" --json >"$work/run8.json" 2>"$work/err"
check "the rerun completes" '[ $? -eq 0 ]'
check "and reuses what landed" '[ "$(json_num bytes_resumed "$work/run8.json")" -gt 0 ]'
"$ferry" pull "$store" "$work/out4" --key-file "$work/key" >/dev/null 2>"$work/err"
check "pull is byte-identical" 'diff -r "$src" "$work/out4" >/dev/null'
check "no unfinished upload is left" '[ "$(uploads four/)" -eq 0 ]'

finish
