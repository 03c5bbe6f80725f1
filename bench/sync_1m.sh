#!/usr/bin/env bash
# The nightly no-op: `ferry sync` over a tree of 1,000,000 small files that has not
# changed since the last snapshot, against the tools people would otherwise cron:
# `rsync -a --dry-run` and `rclone sync --dry-run`, each to a local copy of the tree.
# Wall time and peak RSS, cold page cache (first run) and warm (the next two).
#
#   bash bench/sync_1m.sh
#
# Targets (issue 5): ferry wall time <= 0.5 x rclone and <= 1.0 x rsync; RSS <= 512 MiB.
#
# Environment:
#   FERRY=PATH   the ferry binary (default: build-bench-sync/ferry, built Release if missing)
#   WORK=DIR     scratch directory (default a new /tmp/ferry-bench-sync1m.XXXXXX; removed at the end)
#   DIRS=N FILES=N   tree shape (default 1000 x 1000)
#   WARM=N       warm rounds (default 3); each round runs the three tools back to back, so
#                a neighbour's load or cache drop hits all of them alike
#   KEEP=1       keep WORK (tree, copy, store) for another run with WORK=that directory
# Needs ~2.1M free inodes and ~10 GB, rsync, rclone (apt-get install rclone), GNU time,
# gcc. Root for drop_caches (else every run is warm and it says so).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
FERRY=${FERRY:-$root/build-bench-sync/ferry}
WORK=${WORK:-$(mktemp -d /tmp/ferry-bench-sync1m.XXXXXX)}
DIRS=${DIRS:-1000}
FILES=${FILES:-1000}
WARM=${WARM:-3}
KEEP=${KEEP:-0}

for tool in rsync rclone gcc /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "sync_1m.sh: needs $tool (apt-get install ${tool##*/})" >&2; exit 2; }
done
if [ ! -x "$FERRY" ]; then
	echo "== building ferry (Release) into build-bench-sync"
	bash scripts/build.sh Release build-bench-sync -DFERRY_TESTS=OFF >/dev/null
	FERRY=$root/build-bench-sync/ferry
fi
if [ -n "$(ls -A "$WORK" 2>/dev/null)" ] && [ ! -e "$WORK/.ferry-bench-sync1m" ]; then
	echo "sync_1m.sh: $WORK exists and was not made by this script" >&2
	exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.ferry-bench-sync1m"
WORK=$(cd "$WORK" && pwd)
[ -e "$WORK/.setup-done" ] || rm -rf "${WORK:?}/tree" "$WORK/copy" "$WORK/store" # an interrupted run's
if [ "$KEEP" = 1 ]; then
	trap 'echo "kept $WORK (WORK=$WORK KEEP=1 bash bench/sync_1m.sh runs again without the setup)"' EXIT
else
	trap 'rm -rf "$WORK"' EXIT
fi

total=$((DIRS * FILES))
echo "== no-change sync of $total small files: ferry vs rsync vs rclone"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "ferry:   $("$FERRY" --version 2>&1 | head -1)"
echo "rsync:   $(rsync --version | head -1)"
echo "rclone:  $(rclone version 2>/dev/null | head -1)"
echo "machine: $(nproc) CPUs, $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
echo "fs:      $(findmnt -n -o SOURCE,FSTYPE -T "$WORK" | tr '\n' ' ')"
cold=1
if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
	cold=0
	echo "WARNING: cannot drop caches: the 'cold' runs are warm" >&2
fi

# ---- the tree: deterministic, 1-4000 bytes per file (most under 1 KiB), 1000 per directory
if [ ! -e "$WORK/.setup-done" ]; then
cat >"$WORK/gen.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[4096], buf[4096];
	unsigned long long s = 0x9e3779b97f4a7c15ull;
	long dirs = argc == 4 ? atol(argv[2]) : 0, files = argc == 4 ? atol(argv[3]) : 0;

	if (argc != 4)
		return 2;
	for (long d = 0; d < dirs; d++) {
		snprintf(path, sizeof(path), "%s/dir%04ld", argv[1], d);
		if (mkdir(path, 0755) < 0)
			return perror(path), 1;
		for (long f = 0; f < files; f++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull; /* an LCG is plenty */
			size_t len = 1 + (s >> 33) % ((s >> 20) % 8 ? 1024 : 4000);
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(' ' + (s >> (i % 50)) % 90);
			snprintf(path, sizeof(path), "%s/dir%04ld/file%06ld.dat", argv[1], d, f);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0)
				return perror(path), 1;
		}
	}
	return 0;
}
C
gcc -O2 -o "$WORK/gen" "$WORK/gen.c"
mkdir "$WORK/tree"
t0=$(date +%s)
"$WORK/gen" "$WORK/tree" "$DIRS" "$FILES"
echo "tree:    $total files in $DIRS directories, $(du -s --block-size=1M "$WORK/tree" | cut -f1) MiB on disk ($(($(date +%s) - t0)) s to make)"

# ---- the baselines each tool compares against
t0=$(date +%s)
"$FERRY" init -q "$WORK/store"
"$FERRY" sync "$WORK/tree" "$WORK/store"
echo "setup:   ferry sync into a new store: $(($(date +%s) - t0)) s; store $(du -s --block-size=1M "$WORK/store" | cut -f1) MiB"
t0=$(date +%s)
rsync -a "$WORK/tree/" "$WORK/copy/"
echo "setup:   rsync -a to the local copy: $(($(date +%s) - t0)) s"
touch "$WORK/.setup-done"
else
	echo "tree, copy and store: kept from an earlier run in $WORK"
fi
echo

# run LABEL COLD CMD...: GNU time -v; checks the tool found nothing to do
declare -A WALL RSS CPU
# how busy the whole machine was during a run (all cores, everyone's work)
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
cpu_busy_pct() { echo "$BUSY0 $(cpu_busy)" | awk '{ printf "%.0f", 100 * ($3 - $1) / ($4 - $2) }'; }
run() {
	local label=$1 is_cold=$2
	shift 2
	sync
	[ "$is_cold" = 1 ] && [ "$cold" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
	BUSY0=$(cpu_busy)
	/usr/bin/time -v -o "$WORK/t" "$@" >"$WORK/o" 2>"$WORK/e" || { echo "$label FAILED:"; cat "$WORK/o" "$WORK/e"; exit 1; }
	local wall rss cpu
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/t")
	rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/t")
	cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$WORK/t")
	printf '  %-7s %-5s %7.2f s  %6.2f s  %5d MiB  %4s%%  %s\n' "$label" "$([ "$is_cold" = 1 ] && echo cold || echo warm)" \
		"$wall" "$cpu" "$rss" "$(cpu_busy_pct)" "$(head -c 100 "$WORK/o" | tr '\n' ' ')"
	WALL[$label,$is_cold]="${WALL[$label,$is_cold]:-} $wall"
	CPU[$label,$is_cold]="${CPU[$label,$is_cold]:-} $cpu"
	RSS[$label]=$(( ${RSS[$label]:-0} > rss ? ${RSS[$label]:-0} : rss ))
}

ferry_cmd=("$FERRY" sync "$WORK/tree" "$WORK/store" --json)
rsync_cmd=(rsync -a --dry-run --itemize-changes "$WORK/tree/" "$WORK/copy/")
rclone_cmd=(env -u AWS_CA_BUNDLE rclone sync --dry-run -q "$WORK/tree" "$WORK/copy")
echo "commands:"
echo "  ferry:  ferry sync \$WORK/tree \$WORK/store --json"
echo "  rsync:  rsync -a --dry-run --itemize-changes \$WORK/tree/ \$WORK/copy/"
echo "  rclone: rclone sync --dry-run -q \$WORK/tree \$WORK/copy"
echo
echo "  tool    cache    wall      CPU u+s    RSS       busy   output"
check() {
	[ "$1" != ferry ] || grep -q '"changed":false' "$WORK/o" || { echo "ferry sync saw a change"; exit 1; }
	[ "$1" != rsync ] || [ ! -s "$WORK/o" ] || { echo "rsync saw a change"; exit 1; }
}
# the cold runs each after a cache drop; then rounds of the three, back to back
for tool in ferry rsync rclone; do
	declare -n cmd="${tool}_cmd"
	run "$tool" 1 "${cmd[@]}"
	check "$tool"
done
for _ in $(seq 1 "$WARM"); do
	for tool in ferry rsync rclone; do
		declare -n cmd="${tool}_cmd"
		run "$tool" 0 "${cmd[@]}"
		check "$tool"
	done
done

best() { tr ' ' '\n' | awk 'NF { if (m == "" || $1 < m) m = $1 } END { print m }'; }
echo
echo "== results (best of the runs in each column)"
echo "| tool | cold wall (s) | warm wall (s) | warm CPU user+sys (s) | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for tool in ferry rsync rclone; do
	echo "| $tool | $(echo "${WALL[$tool,1]}" | best) | $(echo "${WALL[$tool,0]}" | best) | $(echo "${CPU[$tool,0]}" | best) | ${RSS[$tool]} |"
done
fc=$(echo "${WALL[ferry,1]}" | best) fw=$(echo "${WALL[ferry,0]}" | best)
rc=$(echo "${WALL[rclone,1]}" | best) rw=$(echo "${WALL[rclone,0]}" | best)
sc=$(echo "${WALL[rsync,1]}" | best) sw=$(echo "${WALL[rsync,0]}" | best)
awk -v fc="$fc" -v fw="$fw" -v rc="$rc" -v rw="$rw" -v sc="$sc" -v sw="$sw" -v rss="${RSS[ferry]}" 'BEGIN {
	printf "ferry / rclone: cold %.2fx, warm %.2fx (target <= 0.5x): %s\n", fc / rc, fw / rw, (fc <= 0.5 * rc && fw <= 0.5 * rw) ? "met" : "MISSED"
	printf "ferry / rsync:  cold %.2fx, warm %.2fx (target <= 1.0x): %s\n", fc / sc, fw / sw, (fc <= sc && fw <= sw) ? "met" : "MISSED"
	printf "ferry peak RSS: %d MiB (target <= 512): %s\n", rss, rss <= 512 ? "met" : "MISSED" }'
