#!/usr/bin/env bash
# Pipeline benchmark: ferry push / copy / pull against the tools people use instead, on
# this machine, in one run, every timed run from a cold page cache.
#
#   bash bench/pipeline.sh
#
# Environment:
#   FERRY=PATH     the ferry binary (default: build-bench2/ferry, built Release if missing)
#   WORK=DIR       scratch directory; corpus, stores and outputs all live here, on one
#                  filesystem (default /tmp/ferry-bench-pipeline; must not exist or be
#                  one this script made)
#   SCALE=S        corpus scale for bench/gen_corpus.sh (default 1: ~1.05 GB + 100k files)
#   REPS=N         timed runs per measurement, the median is reported (default 3)
#   KEEP=1         keep WORK (corpus included) at the end
#   TIMEOUT=S      a run still going after S seconds is killed and reported HUNG (default 120)
#   QUIET_PCT=P QUIET_WAIT=S  before each run, wait up to S s (default 120) for a second with
#                  the machine under P% busy (default 15)
#   TRIES=N        a run during which other processes used over 20% of the machine's CPU
#                  is redone, up to N tries in all (default 3)
#   PRIO="..."     prefix of every timed command (default: nice -n -10 ionice -c 2 -n 0)
#
# Needs root for `echo 3 > /proc/sys/vm/drop_caches`; without it the runs are warm and
# the report says so. Needs tar, zstd, rsync, cp, GNU time (/usr/bin/time), perl, openssl.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
FERRY=${FERRY:-$root/build-bench2/ferry}
WORK=${WORK:-/tmp/ferry-bench-pipeline}
SCALE=${SCALE:-1}
REPS=${REPS:-3}
KEEP=${KEEP:-0}
TIMEOUT=${TIMEOUT:-120}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-120}
TRIES=${TRIES:-3}
PRIO=${PRIO:-nice -n -10 ionice -c 2 -n 0}

for tool in tar zstd rsync cp perl openssl timeout /usr/bin/time; do
	command -v "$tool" >/dev/null ||
		{ echo "pipeline.sh: $tool is missing (apt-get install rsync time zstd)" >&2; exit 2; }
done

if [ ! -x "$FERRY" ]; then
	echo "== building ferry (Release) into build-bench2"
	bash scripts/build.sh Release build-bench2 -DFERRY_TESTS=OFF >/dev/null
	FERRY=$root/build-bench2/ferry
fi

if [ -e "$WORK" ] && [ ! -e "$WORK/.ferry-bench-pipeline" ]; then
	echo "pipeline.sh: $WORK exists and was not made by this script" >&2
	exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.ferry-bench-pipeline"
WORK=$(cd "$WORK" && pwd)
cleanup() {
	if [ "$KEEP" = 1 ]; then
		echo "(kept $WORK)"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

cold=1
drop_caches() {
	sync
	if [ "$cold" = 1 ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}
if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
	cold=0
	echo "WARNING: cannot write /proc/sys/vm/drop_caches (not root?): every run is WARM" >&2
fi

echo "== ferry pipeline benchmark"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "ferry:   $("$FERRY" --version 2>&1 | head -1)  ($FERRY, built $(date -u -r "$FERRY" '+%Y-%m-%d %H:%M UTC'))"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
echo "fs:      $WORK is on $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$WORK" | awk '{ print $1 " (" $2 ", " $3 ")" }')"
echo "tools:   $(tar --version | head -1); $(zstd --version | sed 's/^\*\** *//;s/ *\**$//'); $(rsync --version | head -1 | sed 's/  */ /g'); $(cp --version | head -1)"
echo "caches:  $([ "$cold" = 1 ] && echo 'sync + drop_caches (echo 3) before every timed run: all runs cold' || echo 'WARM (no root)')"
echo "prio:    every timed command runs as: $PRIO ... (ferry and the alternatives alike)"
echo "reps:    $REPS per measurement, median reported (a failed or hung run counts as infinitely slow); timeout ${TIMEOUT}s a run"
echo "load:    load average before: $(cut -d' ' -f1-3 /proc/loadavg); other processes over 5% CPU now: $(top -b -n2 -d1 -w 200 | awk '/^top -/ { n++ } n == 2 && f && $9 + 0 > 5 { printf "%s%s (%s%%)", sep, $12, $9; sep = ", " } n == 2 && $1 == "PID" { f = 1 } END { if (!sep) printf "none" }')"
echo

corpus=$WORK/corpus
if [ ! -d "$corpus/mixed" ]; then
	echo "== corpus"
	rm -rf "$corpus"
	bash "$root/bench/gen_corpus.sh" "$corpus" "$SCALE"
	echo
fi
mixed=$corpus/mixed
small=$corpus/small
nfiles() { find "$1" -type f | wc -l; }
nbytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }'; }
mixed_files=$(nfiles "$mixed")
mixed_bytes=$(nbytes "$mixed")
small_files=$(nfiles "$small")
small_bytes=$(nbytes "$small")
echo "corpus:  mixed = $mixed_files files, $mixed_bytes bytes (text, images, floats, fashion-mnist; NOT the small tree)"
echo "         small = $small_files files, $small_bytes bytes in $(find "$small" -mindepth 1 -type d | wc -l) directories"
echo

key=$WORK/bench.key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
logs=$WORK/logs
mkdir -p "$logs"

# ---------------------------------------------------------------------------------------
# measure ID PREP CMD: REPS cold runs of CMD (run by bash -c, timed by GNU time); PREP
# (untimed) runs before each to remove the previous output. Then `sync` is timed on its
# own, so that "+sync" (the time until the data is on disk) can be reported too. A run
# that fails or outlives $TIMEOUT s (killed) counts as infinitely slow in the median.
# Before each run it waits (up to QUIET_WAIT s) for the machine to be idle (other
# people's jobs skew the numbers) and records how busy it was, and how much CPU the rest
# of the machine used during the run.
# Results: $WORK/res/ID.runs, one line per run:
#   elapsed user sys maxrss_kb sync_s status busy%_before other_cpu_s try
# Every timed command runs under $PRIO (nice -n -10, ionice best-effort 0), the same for
# ferry and the alternatives, so that other people's jobs on the machine disturb less.
rm -rf "$WORK/res" "$WORK/failures" "$WORK/discarded"
mkdir -p "$WORK/res"
# CPU time (s) the whole machine spent busy so far, from /proc/stat (user+nice+system+irq+softirq+steal)
cpu_busy_s() { awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat; }
# wait (up to QUIET_WAIT s) for a second in which the machine is under QUIET_PCT% busy;
# prints the busy percentage of the last second sampled
wait_quiet() {
	local t0 b0 b1 t1 pct waited=0
	while :; do
		t0=$(date +%s.%N) b0=$(cpu_busy_s)
		sleep 1
		t1=$(date +%s.%N) b1=$(cpu_busy_s)
		pct=$(awk -v a="$b0" -v b="$b1" -v s="$t0" -v e="$t1" -v n="$(nproc)" 'BEGIN { printf "%.0f", 100 * (b - a) / ((e - s) * n) }')
		if [ "$pct" -lt "$QUIET_PCT" ] || [ "$waited" -ge "$QUIET_WAIT" ]; then
			echo "$pct"
			return
		fi
		waited=$((waited + 2))
		sleep 1
	done
}
measure() {
	local id=$1 prep=$2 cmd=$3 i try rc t0 t1 busy c0 c1 own other st line
	: >"$WORK/res/$id.runs"
	echo "\$ $cmd" >"$WORK/res/$id.cmd"
	for i in $(seq 1 "$REPS"); do
		for try in $(seq 1 "$TRIES"); do
			bash -c "$prep"
			drop_caches
			busy=$(wait_quiet)
			rc=0
			c0=$(cpu_busy_s)
			/usr/bin/time -f '%e %U %S %M' -o "$WORK/res/$id.time" $PRIO timeout -k 10 "$TIMEOUT" bash -c "$cmd" \
				>"$logs/$id.$i.out" 2>"$logs/$id.$i.err" || rc=$?
			c1=$(cpu_busy_s)
			t0=$(date +%s.%N)
			sync
			t1=$(date +%s.%N)
			st=ok
			if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
				st=HUNG
			elif [ "$rc" != 0 ]; then
				st=FAILED
			fi
			own=$(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$WORK/res/$id.time" | tail -1 || echo 'nan nan nan nan')
			# CPU seconds the rest of the machine used during the run (kernel writeback for
			# this run's own I/O included): a measure of interference
			other=$(echo "$own" | awk -v a="$c0" -v b="$c1" '{ v = (b - a) - $2 - $3; printf "%.1f", v < 0 ? 0 : v }')
			line="$own $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $st $busy $other $try"
			# a run during which other processes took more than 20% of the machine is
			# redone (up to TRIES times; the last try is kept whatever happened)
			if [ "$st" = ok ] && [ "$try" -lt "$TRIES" ] &&
				awk -v o="$other" -v e="${own%% *}" -v n="$(nproc)" 'BEGIN { exit !(o > 1 && o > 0.2 * e * n) }'; then
				echo "$id run $i try $try: discarded, other processes used ${other} CPU s during ${own%% *} s" >>"$WORK/discarded"
				continue
			fi
			break
		done
		if [ "$st" != ok ]; then
			echo "$id run $i: $st (exit $rc$([ "$st" = HUNG ] && echo ", killed after ${TIMEOUT}s")): $cmd" >>"$WORK/failures"
			echo "  $id run $i: $st (exit $rc)"
			sed 's/^/    | /' "$logs/$id.$i.out" "$logs/$id.$i.err" | tail -20
		fi
		echo "$line" >>"$WORK/res/$id.runs"
	done
	printf '  %-22s runs (s): %s\n' "$id" "$(awk '{ printf "%s%s%s", sep, $1, ($6 == "ok" ? "" : " (" $6 ")"); sep = ", " }' "$WORK/res/$id.runs")"
}
# median of column COL (1 = elapsed, 5 = sync; "sum" = elapsed + sync); failed runs are
# +infinity: the median of a failed majority prints "FAIL"
median() {
	local id=$1 col=$2
	awk -v c="$col" '{ print ($6 != "ok" ? 1e12 : c == "sum" ? $1 + $5 : $c) }' "$WORK/res/$id.runs" | sort -g |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      if (m >= 1e12) print "FAIL"; else print m }'
}
nbad() { awk '$6 != "ok" { n++ } END { print n + 0 }' "$WORK/res/$1.runs"; }
# one table row: ferry's ID, the alternative's ID, the target (or -), label
rows=$WORK/rows
: >"$rows"
row() {
	local f=$1 a=$2 target=$3 label=$4 fm am fs as r rs v vs
	fm=$(median "$f" 1) am=$(median "$a" 1) fs=$(median "$f" sum) as=$(median "$a" sum)
	ratio() { if [ "$1" = FAIL ]; then echo 0; elif [ "$2" = FAIL ]; then echo inf; else
		awk -v a="$2" -v f="$1" 'BEGIN { printf "%.2f", a / f }'; fi; }
	r=$(ratio "$fm" "$am") rs=$(ratio "$fs" "$as")
	v=- vs=-
	if [ "$target" != - ]; then
		v=$(awk -v r="$r" -v t="$target" 'BEGIN { print (r == "inf" || r + 0 >= t ? "met" : "MISSED") }')
		vs=$(awk -v r="$rs" -v t="$target" 'BEGIN { print (r == "inf" || r + 0 >= t ? "met" : "MISSED") }')
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$f" "$fm" "$a" "$am" "$r" \
		"$([ "$target" = - ] && echo - || echo "≥ $target")" "$v" "$rs" "$vs" "$(nbad "$f")/$(nbad "$a")" >>"$rows"
}
mbs() { awk -v b="$1" -v t="$(median "$2" 1)" 'BEGIN { if (t == "FAIL") print "?"; else printf "%.0f", b / t / 1e6 }'; }

# the tools' outputs, all on the same filesystem as the corpus
store=$WORK/store
out=$WORK/out
tarzst=$WORK/mixed.tar.zst
F="$FERRY"

# --- 1. push ---------------------------------------------------------------------------
echo "== 1. push: the mixed tree ($mixed_files files, $mixed_bytes bytes; the 100k-file tree is measured apart)"
echo "   store: ferry init STORE --encrypt --compress 1 --key-file KEY (untimed, before each run)"
measure ferry-push \
	"rm -rf '$store' && '$F' init '$store' --encrypt --compress 1 --key-file '$key' -q" \
	"'$F' push '$mixed' '$store' --key-file '$key' --verbose"
measure tar-zstd-null \
	"true" \
	"tar -cf - -C '$corpus' mixed | zstd -1 -T0 -q -c >/dev/null"
measure tar-zstd-file \
	"rm -f '$tarzst.tmp'" \
	"tar -cf - -C '$corpus' mixed | zstd -1 -T0 -q -c >'$tarzst.tmp'"
rm -f "$tarzst.tmp"
grep -h 'push:' "$logs"/ferry-push.*.out | tail -1 | sed 's/^/  ferry: /'
echo "  store size: $(du -sb "$store" | cut -f1) bytes; $(find "$store" -type f | wc -l) objects"
echo
row ferry-push tar-zstd-null 0.85 "push mixed (encrypted, zstd 1) vs tar \\| zstd -1 -T0 > /dev/null"
row ferry-push tar-zstd-file - "push mixed vs tar \\| zstd -1 -T0 > file (same fs)"

echo "== 1b. push of the small tree ($small_files files) — no target, for information"
measure ferry-push-small \
	"rm -rf '$store.small' && '$F' init '$store.small' --encrypt --compress 1 --key-file '$key' -q" \
	"'$F' push '$small' '$store.small' --key-file '$key' --verbose"
measure tar-zstd-small \
	"true" \
	"tar -cf - -C '$corpus' small | zstd -1 -T0 -q -c >/dev/null"
grep -h 'push:' "$logs"/ferry-push-small.*.out | tail -1 | sed 's/^/  ferry: /'
rm -rf "$store.small"
echo
row ferry-push-small tar-zstd-small - "push small tree (100k files) vs tar \\| zstd -1 -T0 > /dev/null"

# --- 2. copy ---------------------------------------------------------------------------
echo "== 2. copy: the small tree ($small_files files, $small_bytes bytes) to a new directory"
measure ferry-copy \
	"rm -rf '$out'" \
	"'$F' copy '$small' '$out' --verbose"
# check an output (untimed) against its source: names, types, sizes (not directories'),
# modes, contents, and mtimes (to the nanosecond, else to the second: GNU tar keeps whole
# seconds). The top directory's own mtime is not compared.
listing() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf "d %P - %m $2\n" \) -o -printf "%y %P %s %m $2\n" |
		LC_ALL=C sort | md5sum)
}
check_tree() {
	local src=$1 label=$2
	if ! diff -rq "$src" "$out" >/dev/null; then
		echo "  WARNING: $label's output differs from the source in names or contents"
		echo "$label: output differs in names or contents" >>"$WORK/failures"
	elif [ "$(listing "$src" '%T@')" = "$(listing "$out" '%T@')" ]; then
		echo "  checked: $label's output matches the source (names, contents, sizes, modes, mtimes to the ns)"
	elif [ "$(listing "$src" '%Ts')" = "$(listing "$out" '%Ts')" ]; then
		echo "  checked: $label's output matches the source (names, contents, sizes, modes, mtimes to the second)"
	else
		echo "  WARNING: $label's output differs from the source in sizes, modes or mtimes"
		echo "$label: output differs in sizes, modes or mtimes" >>"$WORK/failures"
	fi
}
grep -h 'copy:' "$logs"/ferry-copy.*.out | tail -1 | sed 's/^/  ferry: /'
check_tree "$small" "ferry copy"
measure cp-a \
	"rm -rf '$out'" \
	"cp -a '$small' '$out'"
check_tree "$small" "cp -a"
measure rsync-a \
	"rm -rf '$out'" \
	"rsync -a '$small/' '$out/'"
check_tree "$small" "rsync -a"
rm -rf "$out"
echo
row ferry-copy cp-a 1.2 "copy small tree vs cp -a"
row ferry-copy rsync-a - "copy small tree vs rsync -a"

# --- 3. pull ---------------------------------------------------------------------------
echo "== 3. pull: the store of step 1 (mixed tree) into a new directory"
echo "   .tar.zst made (untimed) with: tar -cf - -C MIXED . | zstd -1 -T0 > mixed.tar.zst"
tar -cf - -C "$mixed" . | zstd -1 -T0 -q -c >"$tarzst"
echo "   .tar.zst size: $(stat -c %s "$tarzst") bytes"
measure ferry-pull \
	"rm -rf '$out'" \
	"'$F' pull '$store' '$out' --key-file '$key' --verbose"
grep -h 'pull:' "$logs"/ferry-pull.*.out | tail -1 | sed 's/^/  ferry: /'
check_tree "$mixed" "ferry pull"
measure zstd-d-null \
	"true" \
	"zstd -d -T0 -q -c '$tarzst' >/dev/null"
measure zstd-d-tar-x \
	"rm -rf '$out' && mkdir '$out'" \
	"zstd -d -T0 -q -c '$tarzst' | tar -xf - -C '$out'"
check_tree "$mixed" "zstd -d | tar -x"
rm -rf "$out"
echo
row ferry-pull zstd-d-tar-x 0.85 "pull mixed vs zstd -d -T0 \\| tar -x (writes the files)"
row ferry-pull zstd-d-null 0.85 "pull mixed vs zstd -d -T0 > /dev/null (writes nothing)"

# --- summary ---------------------------------------------------------------------------
echo "== commands (each run: PREP untimed, then sync + drop_caches, then the command timed by GNU time)"
for id in ferry-push tar-zstd-null tar-zstd-file ferry-push-small tar-zstd-small ferry-copy cp-a rsync-a \
	ferry-pull zstd-d-null zstd-d-tar-x; do
	printf '  %-17s %s\n' "$id" "$(sed "s|$WORK|\$WORK|g" "$WORK/res/$id.cmd")"
done
echo "  (\$WORK = $WORK; KEY = \$WORK/bench.key, 32 random bytes)"
echo

echo "== results (median of $REPS cold runs, seconds; ratio = alternative / ferry, > 1 means ferry is faster)"
echo "   '+sync' adds the time of a \`sync\` run right after the command: the time until the data is on disk"
echo "   (ferry push ends with syncfs itself; copy, pull, cp, rsync, tar leave dirty pages behind)"
echo
echo "| comparison | ferry | ferry s | alternative | alt s | ratio | target | verdict | ratio +sync | verdict +sync | failed/hung runs (ferry/alt) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$rows"
echo
echo "throughput (medians): push $(mbs "$mixed_bytes" ferry-push) MB/s vs tar|zstd $(mbs "$mixed_bytes" tar-zstd-null) MB/s;" \
	"copy $(awk -v n="$small_files" -v t="$(median ferry-copy 1)" 'BEGIN { printf "%.0f", n / t }') files/s" \
	"vs cp -a $(awk -v n="$small_files" -v t="$(median cp-a 1)" 'BEGIN { printf "%.0f", n / t }') files/s;" \
	"pull $(mbs "$mixed_bytes" ferry-pull) MB/s vs zstd -d|tar -x $(mbs "$mixed_bytes" zstd-d-tar-x) MB/s"
echo
echo "== per-run detail: elapsed user sys maxrss_KiB sync_s status busy%_before other_cpu_s try"
echo "   (busy%_before: the machine's CPU use in the second before the run; other_cpu_s: CPU seconds"
echo "   used during the run by everything but the command, kernel writeback included)"
for id in ferry-push tar-zstd-null tar-zstd-file ferry-push-small tar-zstd-small ferry-copy cp-a rsync-a \
	ferry-pull zstd-d-null zstd-d-tar-x; do
	printf '  %-17s %s\n' "$id" "$(paste -sd'|' "$WORK/res/$id.runs" | sed 's/|/ | /g')"
done
echo
if [ -s "$WORK/discarded" ]; then
	echo "== runs redone because other processes used the machine during them"
	cat "$WORK/discarded"
	echo
fi
if [ -s "$WORK/failures" ]; then
	echo "== FAILURES"
	cat "$WORK/failures"
	echo "(logs in $logs; run with KEEP=1 to keep them)"
fi
echo "== done; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
