#!/usr/bin/env bash
# A/B of the scanner on a tree and store that bench/sync_1m.sh kept (KEEP=1): no-change
# `ferry sync` runs, cold (after drop_caches; needs root) then warm, each round running every
# variant back to back so a neighbour's load hits all alike.
#   WORK=/tmp/ferry-bench-sync1m.XXXXXX OLD=path/to/old/ferry NEW=build/rel/ferry bash bench/scan_ab.sh
# Variants: OLD, and NEW with FERRY_SCAN_DEPTH 0 (fstatat), 8, 32, 64.
set -uo pipefail
W=${WORK:?set WORK to a directory bench/sync_1m.sh kept}
OLD=${OLD:?set OLD to a ferry binary to compare with}
NEW=${NEW:?set NEW to a ferry binary}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # label cold env-and-binary...
	local label=$1 cold=$2
	shift 2
	sync
	[ "$cold" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
	/usr/bin/time -f "%e %U %S" -o "$out/t" env "$@" sync "$W/tree" "$W/store" --json >"$out/o" 2>"$out/e" || cat "$out/e"
	grep -q '"changed":false' "$out/o" || echo "$label: saw a change"
	printf '%-10s %s  wall/user/sys %s  load %s\n' "$label" "$([ "$cold" = 1 ] && echo cold || echo warm)" \
		"$(cat "$out/t")" "$(cut -d' ' -f1 /proc/loadavg)"
}
for cold in 1 1 0 0; do
	run old "$cold" "$OLD"
	for d in 32 0 8 64; do run "new-d$d" "$cold" FERRY_SCAN_DEPTH=$d "$NEW"; done
done
