#!/usr/bin/env bash
# Disk full (issue 7): pull, copy and push onto a small tmpfs that fills up. Each must
# exit non-zero with a message naming the file and "No space left on device", leave no
# file under its final name that differs from the source, and a rerun after space is
# freed must complete byte-identical. Needs root for mount; exits 77 (skip) otherwise.
# usage: diskfull.sh FERRY
set -uo pipefail
ferry=${1:?usage: diskfull.sh FERRY}
work=$(mktemp -d /tmp/ferry-diskfull.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
	umount "$mnt" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=12m tmpfs "$mnt" 2>/dev/null; then
	echo "skip: cannot mount a tmpfs here (needs root)"
	exit 77
fi
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset FERRY_PASSPHRASE
. "$(dirname "$0")/../lib.sh"
run() { # NAME CMD...: must fail without a crash; stderr in $work/err
	local name=$1; shift
	timeout 300 "$@" >"$work/out" 2>"$work/err"
	local rc=$?
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/err"; then bad "$name: sanitizer report"
	elif [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ]; then echo "       exit $rc"; bad "$name"
	else ok "$name (exit $rc)"; fi
}
expect0() { local name=$1; shift; if timeout 300 "$@" >"$work/out" 2>"$work/err"; then ok "$name"; else bad "$name"; fi; }
# finals_ok SRC DST: every file under a final name in DST equals its source; no temporary left
finals_ok() {
	local what=$1 src=$2 dst=$3 wrong=0 f
	while IFS= read -r -d '' f; do
		rel=${f#"$dst"/}
		case $(basename "$rel") in .ferry-*) continue ;; esac
		cmp -s "$f" "$src/$rel" || { wrong=$((wrong + 1)); echo "       differs: $rel"; }
	done < <(find "$dst" -type f -print0 2>/dev/null)
	[ "$wrong" -eq 0 ] && ok "$what: no wrong bytes under a final name" || bad "$what: $wrong file(s) with wrong bytes under a final name"
	local tmps
	tmps=$(find "$dst" -name '.ferry-*' 2>/dev/null | wc -l)
	[ "$tmps" -eq 0 ] && ok "$what: no temporary file left behind" || bad "$what: $tmps temporary file(s) left behind"
}

# ~9 MB of data: it fits in 12 MB, but not next to a 6 MB filler
src=$work/src
mkdir -p "$src/small"
head -c 3000000 /dev/urandom >"$src/big1.bin"
head -c 2500000 /dev/urandom >"$src/big2.bin"
seq 1 300000 >"$src/text.txt"
for i in $(seq 1 200); do head -c $((i * 37)) /dev/urandom >"$src/small/f$i"; done
expect0 "store made" "$ferry" init "$work/store" --chunk-size 256K -q
expect0 "push" "$ferry" push "$src" "$work/store" -q

fill() { head -c "$1" /dev/zero >"$mnt/filler" 2>/dev/null; }

# ---- pull
fill 6M
run "pull onto a full disk fails" "$ferry" pull "$work/store" "$mnt/dst"
grep_err "No space left on device" "pull: says the disk is full"
grep_err "^ferry: pull: [^:]+: " "pull: names the file"
[ "$(grep -c '^ferry:' "$work/err")" -le 12 ] && ok "pull: a bounded number of messages ($(grep -c '^ferry:' "$work/err"))" || bad "pull: a bounded number of messages"
finals_ok "pull" "$src" "$mnt/dst"
rm -f "$mnt/filler"
expect0 "pull again after space is freed" "$ferry" pull "$work/store" "$mnt/dst"
diff -r "$src" "$mnt/dst" >"$work/err" 2>&1 && ok "pull: the rerun is byte-identical" || bad "pull: the rerun is byte-identical"
rm -rf "$mnt/dst"

# ---- FERRY_CAMPAIGN=long: the disk fills at other points of the pull too
if [ "${FERRY_CAMPAIGN:-}" = long ]; then
	for mb in 4 5 7 8 9 10 11; do # the data (~8.3 MB) fits beside 3 MB
		fill ${mb}M
		run "pull with ${mb} MB taken fails" "$ferry" pull "$work/store" "$mnt/dst"
		[ "$(grep -c '^ferry:' "$work/err")" -le 12 ] && ok "${mb} MB: a bounded number of messages" || bad "${mb} MB: a bounded number of messages"
		finals_ok "pull, ${mb} MB taken" "$src" "$mnt/dst"
		rm -f "$mnt/filler"
		expect0 "pull again after space is freed (${mb} MB)" "$ferry" pull "$work/store" "$mnt/dst"
		diff -r "$src" "$mnt/dst" >"$work/err" 2>&1 && ok "${mb} MB: the rerun is byte-identical" || bad "${mb} MB: the rerun is byte-identical"
		rm -rf "$mnt/dst"
	done
fi

# ---- pull-side sync (resumes into what is there)
fill 6M
run "pull-side sync onto a full disk fails" "$ferry" sync "$work/store" "$mnt/dst"
grep_err "No space left on device" "sync: says the disk is full"
finals_ok "sync" "$src" "$mnt/dst"
rm -f "$mnt/filler"
expect0 "sync again after space is freed" "$ferry" sync "$work/store" "$mnt/dst"
diff -r "$src" "$mnt/dst" >"$work/err" 2>&1 && ok "sync: the rerun is byte-identical" || bad "sync: the rerun is byte-identical"
rm -rf "$mnt/dst"

# ---- copy (plain mirror)
fill 6M
run "copy onto a full disk fails" "$ferry" copy "$src" "$mnt/mirror"
grep_err "No space left on device" "copy: says the disk is full"
finals_ok "copy" "$src" "$mnt/mirror"
rm -f "$mnt/filler"
expect0 "copy again after space is freed" "$ferry" copy "$src" "$mnt/mirror"
diff -r "$src" "$mnt/mirror" >"$work/err" 2>&1 && ok "copy: the rerun is byte-identical" || bad "copy: the rerun is byte-identical"
rm -rf "$mnt/mirror"

# ---- push into a store on a full disk: no snapshot, the store stays usable
expect0 "store on the tmpfs" "$ferry" init "$mnt/store" --chunk-size 256K -q
fill 6M
run "push into a full store fails" "$ferry" push "$src" "$mnt/store"
grep_err "No space left on device" "push: says the disk is full"
[ -z "$("$ferry" snapshots "$mnt/store" 2>/dev/null)" ] && ok "push: no snapshot written" || bad "push: no snapshot written"
rm -f "$mnt/filler"
expect0 "push again after space is freed" "$ferry" push "$src" "$mnt/store"
expect0 "store verifies" "$ferry" verify --read-data "$mnt/store"
rm -rf "$work/back"
expect0 "pull from it" "$ferry" pull "$mnt/store" "$work/back"
diff -r "$src" "$work/back" >"$work/err" 2>&1 && ok "push: the rerun's snapshot is byte-identical" || bad "push: the rerun's snapshot is byte-identical"

finish
