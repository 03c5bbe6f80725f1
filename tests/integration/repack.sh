#!/usr/bin/env bash
# prune's repack end to end on a local store: packs mostly garbage are rewritten, the
# store shrinks by what the deleted files took, the kept snapshots pull byte-identical and
# verify, and a kill -9 at each step of the repack leaves a store that verifies and that
# the next prune finishes. Bounded time (about 15 s).
# usage: repack.sh FERRY_BINARY
set -uo pipefail
ferry=${1:?usage: repack.sh FERRY}
work=$(mktemp -d /tmp/ferry-repack.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset FERRY_PASSPHRASE FERRY_TEST_KILL_AT
. "$(dirname "$0")/../lib.sh"
data_bytes() { find "$1/data" -type f ! -name '*.tmp' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
key=$work/key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
K=(--key-file "$key")

# 600 small files of random bytes (incompressible: stored size ~ plaintext), one pack
src=$work/src
for d in 0 1 2; do
	mkdir -p "$src/d$d"
	for i in $(seq 0 199); do head -c $(((i * 7919 + d * 104729) % 20000 + 1)) /dev/urandom >"$src/d$d/f$i.bin"; done
done
st=$work/st
expect 0 "init an encrypted store" "$ferry" init -q "$st" --encrypt "${K[@]}" --chunk-size 256K
expect 0 "sync 600 small files" "$ferry" sync "$src" "$st" "${K[@]}"
# keep one file in ten, then change one of those: two snapshots keep the old pack alive
find "$src" -name 'f*[1-9].bin' -delete
cp -a "$src" "$work/treeB"
expect 0 "sync after deleting 90 %" "$ferry" sync "$src" "$st" "${K[@]}"
echo more >>"$src/d1/f10.bin"
expect 0 "sync after one change" "$ferry" sync "$src" "$st" "${K[@]}"
mapfile -t snaps < <("$ferry" snapshots "$st" "${K[@]}" | awk '{ print $1 }')
snapB=${snaps[1]} snapC=${snaps[2]}
live=$(( $(du -sb --apparent-size "$work/treeB" | cut -f1) + $(stat -c %s "$src/d1/f10.bin") ))

expect 2 "--repack out of range" "$ferry" prune "$st" --keep-last 2 --repack 100
[ "$(grep -c '^ferry:' "$work/err")" -eq 1 ] && grep -q -- '--repack.*100' "$work/err" && ok "bad --repack: one line naming it" ||
	bad "bad --repack: one line naming it"
expect 0 "prune --dry-run reports the pack" "$ferry" prune "$st" --keep-last 2 --dry-run --json "${K[@]}"
[ "$(json_num packs_repacked)" = 1 ] && [ "$(json_num packs_written)" = 0 ] && ok "dry run: one pack would be repacked, none written" ||
	bad "dry run: one pack would be repacked ($(cat "$work/out"))"

# ---- kill -9 at each step, then verify, pull, and let the next prune finish
for step in repack-packs repack-manifest repack-delete; do
	cp -a "$st" "$work/k-$step"
	FERRY_TEST_KILL_AT=$step expect 137 "prune killed at $step" "$ferry" prune "$work/k-$step" --keep-last 2 "${K[@]}"
	expect 0 "killed at $step: verify --read-data" "$ferry" verify --read-data "$work/k-$step" "${K[@]}"
	expect 0 "killed at $step: pull the older kept snapshot" "$ferry" pull "$work/k-$step@$snapB" "$work/p-$step" "${K[@]}"
	diff -r "$work/treeB" "$work/p-$step" >"$work/err" 2>&1 && ok "killed at $step: byte-identical" || bad "killed at $step: byte-identical"
	expect 0 "killed at $step: the next prune completes" "$ferry" prune "$work/k-$step" --keep-last 2 "${K[@]}"
	expect 0 "killed at $step: verify after it" "$ferry" verify --read-data "$work/k-$step" "${K[@]}"
	after=$(data_bytes "$work/k-$step")
	# killed between two manifests, the files of the rewritten ones are in the new pack
	# and those of the others are copied again: twice the live bytes until those age out
	limit=$((live + live / 20 + 65536))
	[ "$step" = repack-manifest ] && limit=$((2 * limit))
	[ "$after" -le "$limit" ] && ok "killed at $step: the store shrank ($after bytes, live $live)" ||
		bad "killed at $step: the store shrank ($after bytes, live $live)"
done
expect 0 "killed between manifests: once the older snapshot goes, so does the copy" "$ferry" prune "$work/k-repack-manifest" --keep-last 1 "${K[@]}"
after=$(data_bytes "$work/k-repack-manifest")
[ "$after" -le $((live + live / 20 + 65536)) ] && ok "killed between manifests: back to the live files ($after bytes)" ||
	bad "killed between manifests: back to the live files ($after bytes, live $live)"
expect 0 "killed between manifests: verify" "$ferry" verify --read-data "$work/k-repack-manifest" "${K[@]}"

# ---- the uninterrupted prune
before=$(data_bytes "$st")
expect 0 "prune --keep-last 2 repacks" "$ferry" prune "$st" --keep-last 2 --json "${K[@]}"
after=$(data_bytes "$st")
[ "$(json_num packs_repacked)" = 1 ] && [ "$(json_num packs_written)" = 1 ] && [ "$(json_num manifests_rewritten)" = 2 ] &&
	ok "one pack repacked into one, two manifests rewritten" || bad "one pack repacked, two manifests rewritten ($(cat "$work/out"))"
[ "$after" -le $((live + live / 20 + 65536)) ] && [ $((before - after)) -ge $((before - live - live / 20 - 65536)) ] &&
	ok "reclaimed $((before - after)) of $before bytes (live files $live)" || bad "reclaimed $((before - after)) of $before bytes (live $live)"
[ $((before - after)) -eq $(($(json_num bytes_deleted) - $(json_num packs_written_bytes))) ] &&
	ok "bytes reclaimed = bytes_deleted - packs_written_bytes" || bad "bytes reclaimed match the report"
expect 0 "verify --read-data after repack" "$ferry" verify --read-data "$st" "${K[@]}"
expect 0 "verify without --read-data after repack (rewritten entries fit their packs)" "$ferry" verify "$st" "${K[@]}"
expect 0 "pull the older kept snapshot" "$ferry" pull "$st@$snapB" "$work/pB" "${K[@]}"
diff -r "$work/treeB" "$work/pB" >"$work/err" 2>&1 && ok "older kept snapshot byte-identical" || bad "older kept snapshot byte-identical"
expect 0 "pull the newest" "$ferry" pull "$st" "$work/pC" "${K[@]}"
diff -r "$src" "$work/pC" >"$work/err" 2>&1 && ok "newest byte-identical" || bad "newest byte-identical"
expect 0 "sync finds nothing changed after the repack" "$ferry" sync "$src" "$st" "${K[@]}" --json
grep -q '"changed":false' "$work/out" && ok "repacked manifests still match the source" || bad "repacked manifests still match the source"
expect 0 "a second prune repacks nothing" "$ferry" prune "$st" --keep-last 2 --json "${K[@]}"
[ "$(json_num packs_repacked)" = 0 ] && [ "$(json_num objects_deleted)" = 0 ] && ok "nothing left to repack" || bad "nothing left to repack"

# ---- --repack off keeps the pack whole; the default then repacks it
cp -a "$work/treeB" "$work/treeOff"
expect 0 "a plain store" "$ferry" init -q "$work/off"
expect 0 "sync" "$ferry" sync "$work/treeOff" "$work/off"
rm -rf "$work/treeOff/d1" "$work/treeOff/d2"
expect 0 "sync after deleting two thirds" "$ferry" sync "$work/treeOff" "$work/off"
expect 0 "prune --repack off" "$ferry" prune "$work/off" --keep-last 1 --repack off --json
[ "$(json_num packs_repacked)" = 0 ] && ok "--repack off leaves packs whole" || bad "--repack off leaves packs whole"
expect 0 "prune --repack 60%" "$ferry" prune "$work/off" --keep-last 1 --repack 60% --json
[ "$(json_num packs_repacked)" = 1 ] && ok "--repack 60%: the pack is two thirds garbage" || bad "--repack 60% ($(cat "$work/out"))"

finish
