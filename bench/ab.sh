#!/usr/bin/env bash
# A/B of two ferry binaries on the pipeline corpus (bench/gen_corpus.sh): push (encrypted,
# zstd 1), pull and copy of the mixed tree, push and copy of the small-file tree. Every
# timed run is cold (sync + drop_caches; needs root, else warm and said so), and each
# round runs OLD then NEW back to back (the order swapped every round) so that a
# neighbour's load hits both alike. Prints the median seconds of each and NEW/OLD.
#
#   OLD=path/to/old/ferry NEW=build/release/ferry bash bench/ab.sh
#
# Environment: WORK (default /tmp/ferry-bench-ab; kept corpus is reused), SCALE (corpus
# scale, default 0.5: ~0.5 GB + 50k files), REPS (rounds, default 3), KEEP=1 keeps WORK.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
OLD=${OLD:?set OLD to the ferry binary to compare with}
NEW=${NEW:?set NEW to the ferry binary under test}
WORK=${WORK:-/tmp/ferry-bench-ab}
SCALE=${SCALE:-0.5}
REPS=${REPS:-3}
KEEP=${KEEP:-0}
for b in "$OLD" "$NEW"; do
	[ -x "$b" ] || { echo "ab.sh: $b is not an executable" >&2; exit 2; }
done
command -v /usr/bin/time >/dev/null || { echo "ab.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
if [ -e "$WORK" ] && [ ! -e "$WORK/.ferry-bench-ab" ]; then
	echo "ab.sh: $WORK exists and was not made by this script" >&2
	exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.ferry-bench-ab"
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT

cold=1
{ sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || { cold=0; echo "WARNING: not root: every run is WARM" >&2; }
drop() { sync; [ "$cold" = 0 ] || echo 3 >/proc/sys/vm/drop_caches; }

corpus=$WORK/corpus
[ -d "$corpus/mixed" ] || { rm -rf "$corpus"; bash "$root/bench/gen_corpus.sh" "$corpus" "$SCALE" >/dev/null; }
key=$WORK/key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
echo "== ferry A/B: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), $([ "$cold" = 1 ] && echo cold || echo WARM)"
echo "old: $OLD ($("$OLD" --version | head -1))"
echo "new: $NEW ($("$NEW" --version | head -1))"
echo "corpus: mixed $(find "$corpus/mixed" -type f | wc -l) files $(du -sb "$corpus/mixed" | cut -f1) B;" \
	"small $(find "$corpus/small" -type f | wc -l) files (SCALE=$SCALE); $REPS rounds"

res=$WORK/res
rm -rf "$res"
mkdir -p "$res"
# timed ID BIN CMD...: one cold run of "BIN CMD..." (the untimed preparation is done by the caller)
timed() {
	local id=$1 bin=$2 v
	shift 2
	drop
	if ! /usr/bin/time -f %e -o "$WORK/t" "$bin" "$@" -q >"$WORK/out" 2>&1; then
		echo "FAILED: $id: $bin $*" >&2
		cat "$WORK/out" >&2
		exit 1
	fi
	v=$(tail -1 "$WORK/t")
	echo "$v" >>"$res/$id"
}
one() { # which BIN
	local w=$1 b=$2 st=$WORK/store-$1
	rm -rf "$st" "$WORK/pull-$w" "$WORK/copy-$w" "$WORK/copys-$w"
	"$b" init "$st" --encrypt --compress 1 --key-file "$key" -q
	timed "push-$w" "$b" push "$corpus/mixed" "$st" --key-file "$key"
	timed "pull-$w" "$b" pull "$st" "$WORK/pull-$w" --key-file "$key"
	diff -r "$corpus/mixed" "$WORK/pull-$w" >/dev/null || { echo "ab.sh: $w pull differs from the source" >&2; exit 1; }
	timed "copy-$w" "$b" copy "$corpus/mixed" "$WORK/copy-$w"
	rm -rf "$st" "$WORK/pull-$w" "$WORK/copy-$w"
	"$b" init "$st" --encrypt --compress 1 --key-file "$key" -q
	timed "push_small-$w" "$b" push "$corpus/small" "$st" --key-file "$key"
	timed "copy_small-$w" "$b" copy "$corpus/small" "$WORK/copys-$w"
	rm -rf "$st" "$WORK/copys-$w"
}
for ((i = 0; i < REPS; i++)); do
	if ((i % 2 == 0)); then one old "$OLD"; one new "$NEW"; else one new "$NEW"; one old "$OLD"; fi
done
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '\n%-12s %8s %8s %9s   %s\n' what old_s new_s new/old "runs (old | new)"
for t in push pull copy push_small copy_small; do
	o=$(med "$res/$t-old") n=$(med "$res/$t-new")
	printf '%-12s %8.2f %8.2f %9.3f   %s | %s\n' "$t" "$o" "$n" "$(awk -v a="$o" -v b="$n" 'BEGIN { print b / a }')" \
		"$(paste -sd' ' "$res/$t-old")" "$(paste -sd' ' "$res/$t-new")"
done
echo "(new/old above 1: the new binary is slower)"
