#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each and replays the regression inputs; non-zero on any crash.
set -uo pipefail

usage() {
	echo "usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]   (SECONDS per target, default 60)" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
build=$1
secs=${2:-60}
case $secs in '' | *[!0-9]*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd)
bindir=$build/tests/fuzz
[ -d "$bindir" ] || { echo "run.sh: no $bindir: configure with CC=clang -DFERRY_FUZZ=ON and build first" >&2; exit 2; }

# every fuzz_* executable the build produced, so a new target needs no change here
targets=()
for f in "$bindir"/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] && targets+=("$(basename "$f")")
done
[ ${#targets[@]} -gt 0 ] || { echo "run.sh: no fuzz_* targets in $bindir" >&2; exit 2; }

# crash artifacts and logs go here, outside the source tree; new corpus units go to a temp dir
out=${FUZZ_OUT:-$build/fuzz-out}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count() { find "$1" -maxdepth 1 -type f | wc -l; }

failed=0
summary=()
for t in "${targets[@]}"; do
	seeds=$here/corpus/$t
	corpus=$work/$t
	mkdir -p "$corpus" "$out/$t"
	[ -d "$seeds" ] && cp -r "$seeds/." "$corpus/"
	log=$out/$t/fuzz.log
	echo "== $t: ${secs}s, corpus $(count "$corpus") seeds from ${seeds#"$here"/}, log $log"
	# the committed corpus is only read: libFuzzer adds new units to the first directory, a temp copy
	"$bindir/$t" "$corpus" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576 -timeout=25 \
		-artifact_prefix="$out/$t/" -print_final_stats=1 >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
	if [ $rc -ne 0 ]; then
		failed=1
		summary+=("$t: CRASH (exit $rc) after ${execs:-?} execs; artifacts in $out/$t/")
		grep -E 'ERROR:|runtime error:|SUMMARY:|Test unit written|artifact_prefix' "$log" | head -20
	else
		summary+=("$t: ok, ${execs:-?} execs, ${rate:-?} exec/s, ${cov:-cov ?}, corpus $(count "$corpus") units")
	fi

	# inputs that crashed once must not crash again: run each one once
	for r in "$here/regressions/$t"/*; do
		[ -f "$r" ] || continue
		rlog=$out/$t/regression-$(basename "$r").log
		if "$bindir/$t" -runs=1 "$r" >"$rlog" 2>&1; then
			summary+=("$t: regression ${r#"$here"/}: ok")
		else
			failed=1
			summary+=("$t: regression ${r#"$here"/}: CRASH, log $rlog")
			grep -E 'ERROR:|runtime error:|SUMMARY:' "$rlog" | head -5
		fi
	done
done

echo
echo "== fuzz summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
exit $failed
