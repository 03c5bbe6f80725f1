#!/usr/bin/env bash
# Unattended operation end to end: locks, prune, --bwlimit, --max-duration, shards,
# --metrics-file, --log-file. Bounded time (about a minute).
# usage: unattended.sh FERRY_BINARY
set -uo pipefail
ferry=${1:?usage: unattended.sh FERRY}
work=$(mktemp -d /tmp/ferry-unattended.XXXXXX)
bgpids=()
cleanup() {
	for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset FERRY_PASSPHRASE FERRY_SHARD FERRY_SHARD_GROUP JOB_COMPLETION_INDEX SLURM_ARRAY_TASK_ID
. "$(dirname "$0")/../lib.sh"
PASSPHRASE='unattended test passphrase 7'

now() { date +%s.%N; }
# wait_for FILE-GLOB SECONDS: until something matches
wait_lock() {
	local dir=$1 i
	for i in $(seq 1 100); do
		ls "$dir"/locks/* >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# ---- bad input: one line naming the thing, exit 2
"$ferry" init "$work/u" >/dev/null
mkdir -p "$work/empty"
expect 2 "bad --bwlimit" "$ferry" push "$work/empty" "$work/u" --bwlimit 10Q
one_line_err "bad --bwlimit: one line"
grep_err "bwlimit.*10Q" "bad --bwlimit is named"
expect 2 "bad timetable" "$ferry" push "$work/empty" "$work/u" --bwlimit "25:00,1M 18:00,off"
grep_err "25:00,1M" "bad timetable entry is named"
expect 2 "bad --max-duration" "$ferry" sync "$work/empty" "$work/u" --max-duration 5x
grep_err "max-duration.*5x" "bad --max-duration is named"
expect 2 "bad --shard" "$ferry" push "$work/empty" "$work/u" --shard 4/4 --shard-group g
grep_err "shard.*4/4" "bad --shard is named"
expect 2 "--shard without a group" "$ferry" push "$work/empty" "$work/u" --shard 0/2
grep_err "shard-group" "missing group is named"
expect 2 "--shard auto without a scheduler" "$ferry" push "$work/empty" "$work/u" --shard auto
expect 2 "bad shard group name" "$ferry" push "$work/empty" "$work/u" --shard 0/2 --shard-group '../x'
expect 2 "prune without a policy" "$ferry" prune "$work/u"
one_line_err "prune without a policy: one line"
expect 2 "prune bad count" "$ferry" prune "$work/u" --keep-last -1
expect 2 "--max-duration on the pull side" "$ferry" sync "$work/u" "$work/pulled" --max-duration 1m
expect 2 "snapshot without merge" "$ferry" snapshot frob "$work/u" g
printf '[unattended]\nlock-timeout = 1s\n' >"$work/bad.conf"
expect 2 "config: lock-timeout too short" "$ferry" --config "$work/bad.conf" snapshots "$work/u"
grep_err "bad.conf:2: lock-timeout" "config error names file, line and key"
printf '[unattended]\nbwlimit = 08:00,10M 18:00,off\nlock-timeout = 15m\n' >"$work/good.conf"
expect 0 "config: [unattended] keys parse" "$ferry" --config "$work/good.conf" snapshots "$work/u"

# ---- a source tree and an encrypted store
export FERRY_PASSPHRASE=$PASSPHRASE
src=$work/src
mkdir -p "$src/small" "$src/big" "$src/deep/er"
for i in $(seq 1 300); do echo "small file $i" >"$src/small/f$i"; done
for i in 1 2 3; do head -c 1500000 /dev/urandom >"$src/big/b$i"; done
echo deep >"$src/deep/er/x"
ln -s ../small/f1 "$src/deep/link"
store=$work/store
expect 0 "init" "$ferry" init --encrypt --scrypt-cost 10 --chunk-size 64K "$store"
expect 0 "first sync" "$ferry" sync "$src" "$store" --json
[ "$(json_num bytes_written)" -gt 4000000 ] && ok "first sync writes the data" || bad "first sync writes the data"
[ -z "$(ls -A "$store/locks")" ] && ok "lock released after the run" || bad "lock released after the run"

# ---- a second sync with nothing changed writes nothing and touches no data object
if command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
	# LeakSanitizer cannot run under ptrace: an ASan build's leak check is off for this one run
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=openat,unlinkat,renameat2,mkdirat,newfstatat,statx -e signal=none -o "$work/trace" \
		"$ferry" sync "$src" "$store" --json >"$work/out" 2>"$work/err"
	rc=$?
	ops=$(grep -cE '"(data|snapshots|locks|partial|partial-snapshots)/' "$work/trace")
	dataops=$(grep -cE '"data/' "$work/trace")
	[ "$rc" -eq 0 ] && [ "$ops" -le 60 ] && [ "$dataops" -eq 0 ] &&
		ok "unchanged sync: $ops store operations, none on data/" ||
		bad "unchanged sync: bounded store operations (rc $rc, $ops ops, $dataops on data/)"
else
	expect 0 "unchanged sync" "$ferry" sync "$src" "$store" --json
	echo "skip - strace unavailable: store operations not counted"
fi
[ "$(json_num bytes_written)" = 0 ] && ok "unchanged sync: bytes_written 0" || bad "unchanged sync: bytes_written 0 ($(cat "$work/out"))"
grep -q '"changed":false' "$work/out" && ok "unchanged sync: no snapshot" || bad "unchanged sync: no snapshot"

# ---- one file changed: one file moves
echo "changed" >>"$src/small/f7"
expect 0 "sync after one change" "$ferry" sync "$src" "$store" --json
[ "$(json_num files_transferred)" = 1 ] && ok "one file changed: one file transferred" || bad "one file changed: one file transferred ($(cat "$work/out"))"

# ---- two overlapping syncs: the second exits 4 at once, naming the holder
head -c 1000000 /dev/urandom >"$src/big/slow"
"$ferry" sync "$src" "$store" --bwlimit 400K >"$work/bg.out" 2>"$work/bg.err" &
bg=$!; bgpids+=("$bg")
wait_lock "$store" || bad "background sync took its lock"
t0=$(now)
expect 4 "overlapping sync exits 4" "$ferry" sync "$src" "$store"
t1=$(now)
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 2) }' && ok "overlapping sync exits at once" || bad "overlapping sync exits at once"
grep_err "locked by sync .* on host $(hostname), pid $bg, started [0-9]+s ago" "lock message names host, pid and age"
one_line_err "lock refusal: one line"
# ---- prune during a push: refused; the push survives and verifies
expect 4 "prune while a sync runs exits 4" "$ferry" prune "$store" --keep-last 1
wait "$bg"; rc=$?
[ "$rc" -eq 0 ] && ok "the locked-out runs did not disturb the running sync" || { bad "running sync survives (exit $rc)"; cat "$work/bg.err"; }
expect 0 "store verifies after the concurrent attempts" "$ferry" verify --read-data "$store"

# ---- kill -9 mid-sync: the next run breaks the dead lock, completes, and the store verifies
head -c 1000000 /dev/urandom >"$src/big/killed"
"$ferry" sync "$src" "$store" --bwlimit 300K >/dev/null 2>&1 &
bg=$!; bgpids+=("$bg")
wait_lock "$store" || bad "killed sync took its lock"
sleep 1
kill -9 "$bg"; wait "$bg" 2>/dev/null
[ -n "$(ls -A "$store/locks")" ] && ok "a killed run leaves its lock" || bad "a killed run leaves its lock"
expect 0 "next sync after kill -9" "$ferry" sync "$src" "$store" --json
grep_err "breaking stale lock .* its process is gone" "dead lock broken with a message"
expect 0 "store verifies after kill -9 and resync" "$ferry" verify --read-data "$store"
expect 0 "pull after kill -9" "$ferry" pull "$store" "$work/pull1"
diff -r --no-dereference "$src" "$work/pull1" >"$work/err" 2>&1 && ok "pull after kill -9 is byte-identical" || bad "pull after kill -9 is byte-identical"

# ---- stale by heartbeat (another host) is broken; a fresh one from another host is not
t=$(date +%s)
printf 'ferry-lock 1\nid=feedfacefeedface\nkind=exclusive\ngroup=\ncommand=sync\nhost=elsewhere\npid=1\npidstart=0\nstarted=%s\nheartbeat=%s\nstale_after=60\n' \
	$((t - 4000)) $((t - 3900)) >"$store/locks/feedfacefeedface"
expect 0 "lock without a heartbeat for an hour is broken" "$ferry" sync "$src" "$store" --lock-timeout 10m
grep_err "breaking stale lock locks/feedfacefeedface .*no heartbeat for" "stale heartbeat named"
printf 'ferry-lock 1\nid=feedfacefeedface\nkind=exclusive\ngroup=\ncommand=prune\nhost=elsewhere\npid=1\npidstart=0\nstarted=%s\nheartbeat=%s\nstale_after=900\n' \
	$((t - 30)) "$t" >"$store/locks/feedfacefeedface"
expect 4 "a live lock from another host holds" "$ferry" sync "$src" "$store"
grep_err "locked by prune .* on host elsewhere, pid 1" "other host's lock named"
rm -f "$store/locks/feedfacefeedface"

# ---- prune
rm -f "$src/big/b3" # its object becomes garbage once no kept snapshot has it
expect 0 "sync after a deletion" "$ferry" sync "$src" "$store"
nsnap=$("$ferry" snapshots "$store" | wc -l)
expect 0 "prune --dry-run" "$ferry" prune "$store" --keep-last 1 --dry-run --json
del=$(json_num objects_deleted)
[ "$("$ferry" snapshots "$store" | wc -l)" -eq "$nsnap" ] && ok "--dry-run deletes nothing" || bad "--dry-run deletes nothing"
[ "${del:-0}" -ge 1 ] && ok "dry run finds garbage (the killed run's objects, replaced files)" || bad "dry run finds garbage ($(cat "$work/out"))"
objs_before=$(find "$store/data" -type f ! -name '*.tmp' | wc -l)
expect 0 "prune --keep-last 1" "$ferry" prune "$store" --keep-last 1 --json
[ "$("$ferry" snapshots "$store" | wc -l)" -eq 1 ] && ok "prune keeps one snapshot" || bad "prune keeps one snapshot"
objs_after=$(find "$store/data" -type f ! -name '*.tmp' | wc -l)
[ $((objs_before - objs_after)) -eq "$(json_num objects_deleted)" ] && [ "$(json_num objects_deleted)" -eq "$del" ] &&
	ok "prune deletes what the dry run said ($del objects)" || bad "prune deletes what the dry run said ($objs_before -> $objs_after, $(cat "$work/out"))"
grep -q '"bytes_deleted":[1-9]' "$work/out" && ok "prune reports bytes" || bad "prune reports bytes"
expect 0 "store verifies after prune" "$ferry" verify --read-data "$store"
expect 0 "pull after prune" "$ferry" pull "$store" "$work/pull2"
diff -r --no-dereference "$src" "$work/pull2" >"$work/err" 2>&1 && ok "pull after prune is byte-identical" || bad "pull after prune is byte-identical"
expect 0 "second prune finds nothing" "$ferry" prune "$store" --keep-last 1 --json
[ "$(json_num objects_deleted)" = 0 ] && ok "nothing left to prune" || bad "nothing left to prune"

# ---- --bwlimit: the rate is measured as the difference between a 4 MiB and a 44 MiB run
# under the same limit, so each command's fixed cost (start, scan, manifest, the overlap
# of work with the waits) cancels out: 40 MiB more at 2 MiB/s must take 20 s more, +-10%.
for n in 4 44; do
	mkdir -p "$work/bw$n"
	head -c $((n << 20)) /dev/urandom >"$work/bw$n/r"
	"$ferry" init --chunk-size 64K --compress none "$work/bwstore$n" >/dev/null
done
bw=$work/bw4
rate_ok() { # NAME LIMIT_MIB T_SMALL T_LARGE
	awk -v n="$1" -v lim="$2" -v s="$3" -v l="$4" 'BEGIN {
		r = 40 / (l - s); printf "       %s: %.2f MiB/s against %d MiB/s (4 MiB in %.2fs, 44 MiB in %.2fs)\n", n, r, lim, s, l
		exit !(r > lim * 0.9 && r < lim * 1.1) }'
}
# measure NAME LIMIT CMD-FOR-4MIB -- CMD-FOR-44MIB: one retry, for a neighbour's burst of load
measure() {
	local name=$1 lim=$2 try t0 t1 t2
	shift 2
	local i=1 small=() large=()
	for a in "$@"; do
		[ "$a" = -- ] && { i=2; continue; }
		if [ $i = 1 ]; then small+=("$a"); else large+=("$a"); fi
	done
	for try in 1 2; do
		rm -rf "$work/bwpull4" "$work/bwpull44"
		t0=$(now); "${small[@]}" >/dev/null 2>"$work/err" || return 1
		t1=$(now); "${large[@]}" >/dev/null 2>"$work/err" || return 1
		t2=$(now)
		rate_ok "$name" "$lim" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
			"$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" && return 0
	done
	return 1
}
measure push 2 "$ferry" push "$work/bw4" "$work/bwstore4" --bwlimit 2M -- "$ferry" push "$work/bw44" "$work/bwstore44" --bwlimit 2M &&
	ok "push --bwlimit 2M holds the rate within 10% over 20 s" || bad "push --bwlimit 2M holds the rate within 10% over 20 s"
measure pull 2 "$ferry" pull "$work/bwstore4" "$work/bwpull4" --bwlimit 2M -- "$ferry" pull "$work/bwstore44" "$work/bwpull44" --bwlimit 2M &&
	ok "pull --bwlimit 2M holds the rate within 10% over 20 s" || bad "pull --bwlimit 2M holds the rate within 10% over 20 s"
cmp "$work/bw44/r" "$work/bwpull44/r" && ok "rate-limited round trip is byte-identical" || bad "rate-limited round trip is byte-identical"
hh=$(date +%H:%M)
table="00:00,1K $hh,off"
[ "$hh" != 00:00 ] || table="00:00,off"
t0=$(now)
expect 0 "timetable with the current period off" "$ferry" copy "$bw" "$work/bwcopy" --bwlimit "$table"
awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 3) }' && ok "the period in force (off) is the one used" || bad "the period in force (off) is the one used"
cmp "$bw/r" "$work/bwcopy/r" && ok "copy under a timetable" || bad "copy under a timetable"

# ---- --max-duration: a partial snapshot, never mistaken for a complete one; the next run finishes
md=$work/mdsrc
mkdir -p "$md"
for i in $(seq 1 12); do head -c 300000 /dev/urandom >"$md/f$(printf %02d "$i")"; done
"$ferry" init --chunk-size 64K "$work/mdstore" >/dev/null
expect 0 "a complete first snapshot" "$ferry" sync "$work/empty" "$work/mdstore" --always-snapshot
first=$("$ferry" snapshots "$work/mdstore")
t0=$(now)
expect 6 "--max-duration stops with exit 6" "$ferry" sync "$md" "$work/mdstore" --bwlimit 400K --max-duration 3s --json
t1=$(now)
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }' && ok "stopped within 2 s of the deadline" || bad "stopped within 2 s of the deadline"
grep -q '"partial":true' "$work/out" && ok "--json says partial" || bad "--json says partial"
last=$("$ferry" snapshots "$work/mdstore" | tail -1)
case "$last" in *" partial") ok "snapshots marks it partial" ;; *) bad "snapshots marks it partial ($last)" ;; esac
expect 0 "ls of the latest skips the partial snapshot" "$ferry" ls "$work/mdstore"
[ ! -s "$work/out" ] && ok "latest complete snapshot is the empty one" || bad "latest complete snapshot is the empty one"
expect 0 "the next sync continues" "$ferry" sync "$md" "$work/mdstore" --json
grep -q '"partial":false' "$work/out" && ok "second run completes" || bad "second run completes"
expect 0 "pull after the resumed sync" "$ferry" pull "$work/mdstore" "$work/mdpull"
diff -r "$md" "$work/mdpull" >"$work/err" 2>&1 && ok "resumed sync is byte-identical" || bad "resumed sync is byte-identical"
expect 0 "prune keeps the complete snapshots" "$ferry" prune "$work/mdstore" --keep-last 1 --json
[ -z "$(ls -A "$work/mdstore/partial-snapshots")" ] && ok "prune drops the old partial snapshot and its marker" || bad "prune drops the old partial snapshot and its marker"
expect 0 "verify after prune of a partial" "$ferry" verify --read-data "$work/mdstore"

# ---- shards: 4 processes merged == one process
"$ferry" init --encrypt --scrypt-cost 10 "$work/one" >/dev/null
"$ferry" init --encrypt --scrypt-cost 10 "$work/four" >/dev/null
expect 0 "single-process push" "$ferry" push "$src" "$work/one"
pids=()
for i in 0 1 2 3; do
	"$ferry" push "$src" "$work/four" --shard "$i/4" --shard-group nightly-1 >"$work/shard$i.out" 2>&1 &
	pids+=($!)
done
rcs=0
for p in "${pids[@]}"; do wait "$p" || rcs=$((rcs + 1)); done
[ "$rcs" -eq 0 ] && ok "4 shards pushed side by side" || { bad "4 shards pushed side by side"; cat "$work"/shard*.out; }
[ "$("$ferry" snapshots "$work/four" | wc -l)" -eq 1 ] && ok "the last shard merged one snapshot" || bad "the last shard merged one snapshot"
[ -z "$(ls -A "$work/four/partial/nightly-1" 2>/dev/null)" ] && ok "partial manifests removed after the merge" || bad "partial manifests removed after the merge"
"$ferry" ls "$work/one" >"$work/ls1"; "$ferry" ls "$work/four" >"$work/ls4"
cmp -s "$work/ls1" "$work/ls4" && [ -s "$work/ls1" ] && ok "merged ls equals single-process ls" || bad "merged ls equals single-process ls"
expect 0 "pull the merged snapshot" "$ferry" pull "$work/four" "$work/pull4"
diff -r --no-dereference "$src" "$work/pull4" >"$work/err" 2>&1 && ok "merged snapshot pulls byte-identical" || bad "merged snapshot pulls byte-identical"
expect 0 "merged store verifies" "$ferry" verify --read-data "$work/four"
# a group with a shard missing: no snapshot until it comes; merge by hand names what is missing
for i in 0 1 3; do "$ferry" push "$src" "$work/four" --shard "$i/4" --shard-group late >/dev/null 2>&1; done
[ "$("$ferry" snapshots "$work/four" | wc -l)" -eq 1 ] && ok "3 of 4 shards make no snapshot" || bad "3 of 4 shards make no snapshot"
expect 1 "snapshot merge with a shard missing" "$ferry" snapshot merge "$work/four" late
grep_err "3 of 4 shards done; missing 2" "missing shard named"
expect 0 "prune keeps what pending shards wrote" "$ferry" prune "$work/four" --keep-last 1
JOB_COMPLETION_INDEX=2 FERRY_SHARD_COUNT=4 FERRY_SHARD_GROUP=late \
	expect 0 "the last shard via --shard auto (Kubernetes variables)" "$ferry" push "$src" "$work/four" --shard auto --json
grep -q '"shard":"2\\/4","shard_group":"late","merged_snapshot":"[0-9T.]*Z-[0-9a-f]*"' "$work/out" &&
	ok "--json names the shard and the merged snapshot" || bad "--json names the shard and the merged snapshot ($(cat "$work/out"))"
[ "$("$ferry" snapshots "$work/four" | wc -l)" -eq 2 ] && ok "late group merged" || bad "late group merged"
"$ferry" ls "$work/four" >"$work/ls4b"
cmp -s "$work/ls1" "$work/ls4b" && ok "late merge equals single-process ls" || bad "late merge equals single-process ls"
expect 0 "store verifies after prune with pending shards" "$ferry" verify --read-data "$work/four"

# ---- --metrics-file and --log-file
m=$work/metrics.prom
printf '%s\n' "$PASSPHRASE" >"$work/passfile"; chmod 600 "$work/passfile"
echo "one more" >"$src/small/new"
(unset FERRY_PASSPHRASE
 expect 0 "sync with metrics and log" "$ferry" sync "$src" "$store" --quiet --metrics-file "$m" --log-file "$work/ferry.log" \
	--passphrase-file "$work/passfile")
[ ! -s "$work/out" ] && ok "--quiet prints nothing on stdout" || bad "--quiet prints nothing on stdout"
well_formed() {
	awk '
		/^# (HELP|TYPE) ferry_[a-z_]+ / { next }
		/^ferry_[a-z_]+\{command="[^"]*",store="([^"\\]|\\.)*"\} -?[0-9.e+]+$/ { seen[$1]; n++; next }
		{ bad = 1; print "bad line: " $0 }
		END { exit bad || n < 5 }' "$1"
}
well_formed "$m" && ok "metrics file is well formed Prometheus text" || { bad "metrics file is well formed"; cat "$m"; }
missing=
for name in ferry_last_success_timestamp_seconds ferry_duration_seconds ferry_bytes_written ferry_files ferry_errors; do
	grep -q "^$name{command=\"sync\"" "$m" || missing="$missing $name"
done
[ -z "$missing" ] && ok "metrics has the five required series" || bad "metrics has the five required series (missing$missing)"
grep -q '^ferry_bytes_written{.*} [1-9]' "$m" && ok "metrics counts the bytes written" || bad "metrics counts the bytes written"
succ=$(sed -n 's/^ferry_last_success_timestamp_seconds{.*} //p' "$m")
[ -n "$succ" ] && [ "${succ%.*}" -gt 1000000000 ] && ok "last success is a time" || bad "last success is a time ($succ)"
[ -z "$(ls "$work" | grep 'metrics.prom.tmp')" ] && ok "no temporary metrics file left" || bad "no temporary metrics file left"
# a failing run keeps the last success and records the failure
printf 'ferry-lock 1\nid=0123456789abcdef\nkind=exclusive\ngroup=\ncommand=sync\nhost=elsewhere\npid=1\npidstart=0\nstarted=%s\nheartbeat=%s\nstale_after=900\n' \
	"$(date +%s)" "$(date +%s)" >"$store/locks/0123456789abcdef"
sleep 1
expect 4 "locked run with metrics" "$ferry" sync "$src" "$store" --metrics-file "$m" --log-file "$work/ferry.log"
rm -f "$store/locks/0123456789abcdef"
[ "$(sed -n 's/^ferry_last_success_timestamp_seconds{.*} //p' "$m")" = "$succ" ] && ok "failed run keeps the last success" || bad "failed run keeps the last success"
grep -q '^ferry_exit_code{.*} 4$' "$m" && ok "failed run records exit code 4" || bad "failed run records exit code 4"
well_formed "$m" && ok "metrics still well formed after a failure" || bad "metrics still well formed after a failure"
FERRY_PASSPHRASE=wrong expect 5 "wrong passphrase with metrics" "$ferry" sync "$src" "$store" --metrics-file "$m" --log-file "$work/ferry.log"
grep -q '^ferry_exit_code{.*} 5$' "$m" && [ "$(sed -n 's/^ferry_last_success_timestamp_seconds{.*} //p' "$m")" = "$succ" ] &&
	ok "a run that cannot open the store still writes its metrics" || bad "a run that cannot open the store still writes its metrics"
grep -q 'error: .*wrong passphrase or key' "$work/ferry.log" && ok "log has the key error" || bad "log has the key error"
grep -qE '^[0-9-]+T[0-9:]+[+-][0-9]{4} ferry\[[0-9]+\] sync: start ' "$work/ferry.log" && ok "log has a timestamped start line" || bad "log has a timestamped start line"
grep -q ' sync: end exit=0 ' "$work/ferry.log" && grep -q ' sync: end exit=4 ' "$work/ferry.log" && ok "log has end lines with exit codes" || bad "log has end lines with exit codes"
grep -q 'error: .*locked by sync' "$work/ferry.log" && ok "log has the error" || bad "log has the error"
grep -qF -- "$PASSPHRASE" "$work/ferry.log" "$m" && bad "no secret in log or metrics" || ok "no secret in log or metrics"

finish
