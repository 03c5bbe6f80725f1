#!/usr/bin/env bash
# Peak memory of `ferry push` over a tree of 1,000,000 tiny files (1000 directories x 1000
# files, 1-100 bytes each), into a new store, from a cold page cache.
#
#   bash bench/rss_1m.sh
#
# Target: peak RSS <= 256 MiB (the default --memory budget) + 32 MiB = 288 MiB.
# Also reported, for information: the same push with --memory 64M (does RSS follow the
# budget?), and `ferry pull` of the snapshot into a new directory (1M files written).
#
# Environment:
#   FERRY=PATH   the ferry binary (default: build-bench2/ferry, built Release if missing)
#   WORK=DIR     scratch directory (default /tmp/ferry-bench-rss1m; removed at the end)
#   DIRS=N FILES=N   tree shape (default 1000 x 1000)
#   PULL=0       skip the pull measurement
# Needs ~1.1M free inodes and ~6 GB of free space (ext4 gives each non-empty file a 4 KiB
# block), gcc, GNU time. Root for drop_caches (else the runs are warm and it says so).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
FERRY=${FERRY:-$root/build-bench2/ferry}
WORK=${WORK:-/tmp/ferry-bench-rss1m}
DIRS=${DIRS:-1000}
FILES=${FILES:-1000}
PULL=${PULL:-1}
TARGET_KIB=$(((256 + 32) * 1024))

if [ ! -x "$FERRY" ]; then
	echo "== building ferry (Release) into build-bench2"
	bash scripts/build.sh Release build-bench2 -DFERRY_TESTS=OFF >/dev/null
	FERRY=$root/build-bench2/ferry
fi
if [ -e "$WORK" ] && [ ! -e "$WORK/.ferry-bench-rss1m" ]; then
	echo "rss_1m.sh: $WORK exists and was not made by this script" >&2
	exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.ferry-bench-rss1m"
WORK=$(cd "$WORK" && pwd)
trap 'echo "== cleanup"; t=$(date +%s); rm -rf "$WORK"; echo "removed $WORK in $(($(date +%s) - t)) s"' EXIT

total=$((DIRS * FILES))
need_inodes=$((total * 2 + DIRS * 2 + 10000)) # the tree, and the pulled copy
[ "$PULL" = 1 ] || need_inodes=$((total + DIRS + 10000))
need_kib=$((need_inodes * 4 + 1048576))
avail_inodes=$(df --output=iavail "$WORK" | tail -1 | tr -d ' ')
avail_kib=$(df --output=avail -k "$WORK" | tail -1 | tr -d ' ')
echo "== ferry push of $total tiny files: peak RSS"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "ferry:   $("$FERRY" --version 2>&1 | head -1)  ($FERRY)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
echo "fs:      $WORK on $(findmnt -n -o SOURCE,FSTYPE -T "$WORK" | awk '{ print $1 " (" $2 ")" }'); free: $avail_inodes inodes, $((avail_kib / 1048576)) GiB"
if [ "$avail_inodes" -lt "$need_inodes" ] || [ "$avail_kib" -lt "$need_kib" ]; then
	echo "rss_1m.sh: not enough room: need $need_inodes inodes and $((need_kib / 1048576)) GiB" >&2
	exit 2
fi
cold=1
if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
	cold=0
	echo "WARNING: cannot drop caches (not root?): the runs are WARM" >&2
fi
drop_caches() { sync; [ "$cold" = 0 ] || echo 3 >/proc/sys/vm/drop_caches; }
# wait (up to 60 s) for a second in which the machine is under 15% busy (other people's
# jobs skew the times; the peak RSS does not depend on them); prints that percentage
cpu_busy_s() { awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat; }
wait_quiet() {
	local b0 b1 pct waited=0
	while :; do
		b0=$(cpu_busy_s)
		sleep 1
		b1=$(cpu_busy_s)
		pct=$(awk -v a="$b0" -v b="$b1" -v n="$(nproc)" 'BEGIN { printf "%.0f", 100 * (b - a) / n }')
		if [ "$pct" -lt 15 ] || [ "$waited" -ge 60 ]; then
			echo "$pct"
			return
		fi
		waited=$((waited + 2))
		sleep 1
	done
}
echo

# --- the tree: a small C generator, compiled here ----------------------------------------
cat >"$WORK/gen1m.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* gen1m ROOT DIRS FILES: ROOT/dNNNN/fNNNNNNN.txt, 1-100 bytes each, deterministic */
int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	const char *root = argv[1];
	long dirs = atol(argv[2]), files = atol(argv[3]);
	char path[4096], buf[128];
	unsigned long x = 88172645463325252UL; /* xorshift64 */

	for (long d = 0; d < dirs; d++) {
		snprintf(path, sizeof(path), "%s/d%04ld", root, d);
		if (mkdir(path, 0755) < 0) {
			perror(path);
			return 1;
		}
		for (long f = 0; f < files; f++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			long id = d * files + f;
			int n = snprintf(buf, sizeof(buf), "id=%ld label=%lu\n", id, x % 1000);
			size_t len = 1 + x % 100;
			while ((size_t)n < len)
				buf[n++] = (char)('a' + (x >> (n % 60)) % 26);
			snprintf(path, sizeof(path), "%s/d%04ld/f%07ld.txt", root, d, id);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0) {
				perror(path);
				return 1;
			}
		}
	}
	return 0;
}
C
gcc -O2 -o "$WORK/gen1m" "$WORK/gen1m.c"
mkdir "$WORK/tree"
t0=$(date +%s.%N)
"$WORK/gen1m" "$WORK/tree" "$DIRS" "$FILES"
sync
t1=$(date +%s.%N)
tree_bytes=$(find "$WORK/tree" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
echo "tree:    $WORK/tree: $total files in $DIRS directories, $tree_bytes bytes," \
	"$(du -s --block-size=1M "$WORK/tree" | cut -f1) MiB on disk; generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"
echo

key=$WORK/bench.key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"

# run LABEL CMD...: cold, timed by GNU time -v; RSS also sampled every 0.5 s (VmRSS) to
# show how it grows. Prints elapsed, user, sys, peak RSS.
declare -A PEAK ELAPSED
run() {
	local label=$1
	shift
	drop_caches
	local busy
	busy=$(wait_quiet)
	echo "\$ ${*//$WORK/\$WORK}    (machine ${busy}% busy the second before)"
	/usr/bin/time -v -o "$WORK/$label.time" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" &
	local tpid=$! samples=() pid="" rss
	# the sampler: the child of GNU time is ferry
	while kill -0 "$tpid" 2>/dev/null; do
		[ -n "$pid" ] || pid=$(pgrep -P "$tpid" 2>/dev/null | head -1 || true)
		if [ -n "$pid" ] && rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [ -n "$rss" ]; then
			samples+=("$((rss / 1024))")
		fi
		sleep 0.5
	done
	local rc=0
	wait "$tpid" || rc=$?
	sed 's/^/    /' "$WORK/$label.out"
	if [ "$rc" != 0 ]; then
		echo "  FAILED (exit $rc):"
		sed 's/^/    /' "$WORK/$label.err"
	elif [ -s "$WORK/$label.err" ]; then
		sed 's/^/    stderr: /' "$WORK/$label.err"
	fi
	PEAK[$label]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/$label.time")
	ELAPSED[$label]=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$WORK/$label.time")
	echo "  exit $rc; elapsed ${ELAPSED[$label]}; user $(awk -F': ' '/User time/ { print $2 }' "$WORK/$label.time") s;" \
		"sys $(awk -F': ' '/System time/ { print $2 }' "$WORK/$label.time") s;" \
		"peak RSS ${PEAK[$label]} KiB = $((PEAK[$label] / 1024)) MiB;" \
		"major faults $(awk -F': ' '/Major \(requiring I\/O\)/ { print $2 }' "$WORK/$label.time")"
	if [ "${#samples[@]}" -gt 0 ]; then
		local n=${#samples[@]} i out=""
		for i in 0 $((n / 4)) $((n / 2)) $((3 * n / 4)) $((n - 1)); do out+="${samples[$i]} "; done
		echo "  RSS samples (MiB, every 0.5 s; at 0, 1/4, 1/2, 3/4 of the run and the last): $out($n samples)"
	fi
	echo
	return "$rc"
}

status=0
"$FERRY" init "$WORK/store" --encrypt --key-file "$key" -q
echo "store: ferry init \$WORK/store --encrypt --key-file KEY   (zstd level 3, the default)"
run push "$FERRY" push "$WORK/tree" "$WORK/store" --key-file "$key" --verbose || status=1
echo "  store: $(du -sb "$WORK/store" | cut -f1) bytes, $(find "$WORK/store" -type f | wc -l) files"
"$FERRY" verify "$WORK/store" --key-file "$key" --verbose >"$WORK/verify.out" 2>&1 && echo "  ferry verify: ok: $(tail -1 "$WORK/verify.out")" ||
	{ echo "  ferry verify FAILED:"; sed 's/^/    /' "$WORK/verify.out"; status=1; }
echo

"$FERRY" init "$WORK/store64" --encrypt --key-file "$key" -q
run push-64M "$FERRY" push "$WORK/tree" "$WORK/store64" --key-file "$key" --memory 64M --verbose || status=1
rm -rf "$WORK/store64"

if [ "$PULL" = 1 ]; then
	run pull "$FERRY" pull "$WORK/store" "$WORK/pulled" --key-file "$key" --verbose || status=1
	echo "  pulled: $(find "$WORK/pulled" -type f | wc -l) files; contents $(diff -rq "$WORK/tree" "$WORK/pulled" >/dev/null && echo 'match the tree' || echo 'DIFFER from the tree')"
	echo
fi

echo "== results"
echo "| measurement | elapsed (m:ss) | peak RSS (MiB) | target | verdict |"
echo "|---|---|---|---|---|"
verdict=$([ "${PEAK[push]:-999999999}" -le "$TARGET_KIB" ] && echo met || echo MISSED)
echo "| ferry push, $total files, default --memory 256M | ${ELAPSED[push]:-?} | $((${PEAK[push]:-0} / 1024)) | ≤ 288 | $verdict |"
echo "| ferry push, $total files, --memory 64M | ${ELAPSED[push-64M]:-?} | $((${PEAK[push-64M]:-0} / 1024)) | (≤ 96, by the same rule) | - |"
[ "$PULL" = 1 ] &&
	echo "| ferry pull, $total files, default --memory 256M | ${ELAPSED[pull]:-?} | $((${PEAK[pull]:-0} / 1024)) | - | - |"
exit "$status"
