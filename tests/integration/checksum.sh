#!/usr/bin/env bash
# sync --checksum, both ways: a change that kept a file's size and mtime is found by its
# xxh128 (a plain sync misses it, by design); only files whose size matches are read; a
# file that only got a new mtime moves no data.
# usage: checksum.sh FERRY
set -uo pipefail
ferry=${1:?usage: checksum.sh FERRY}
. "$(dirname "$0")/../lib.sh"
work=$(mktemp -d /tmp/ferry-checksum.XXXXXX)
trap 'rm -rf "$work"' EXIT
unset FERRY_PASSPHRASE
export FERRY_STATE_DIR=$work/state

src=$work/src store=$work/store dst=$work/dst
mkdir -p "$src/d"
for i in 1 2 3 4 5 6; do head -c $((i * 100000)) /dev/urandom >"$src/d/f$i"; done
head -c 3000000 /dev/urandom >"$src/big"
: >"$src/empty"
"$ferry" init "$store" --chunk-size 256K >/dev/null 2>"$work/err" || { bad "init"; finish; exit; }
expect 0 "first sync" "$ferry" sync "$src" "$store" --json
size_all=$(find "$src" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')

# rewrite FILE SIZE: new random bytes, same size and mtime (what --checksum is for)
rewrite() { touch -r "$1" "$work/stamp"; head -c "$2" /dev/urandom >"$1"; touch -r "$work/stamp" "$1"; }

# ---- push side
# f2: other bytes, same size, same mtime; f3: same bytes, new mtime
rewrite "$src/d/f2" 200000
touch -d '2020-02-02 02:02:02' "$src/d/f3"
expect 0 "plain sync after the changes" "$ferry" sync "$src" "$store" --json
check "plain sync sends f3 (new mtime) only: f2 looks unchanged by size and mtime" '[ "$(json_num files_transferred)" = 1 ]'
check "plain sync reads nothing to compare" '[ "$(json_num bytes_hashed)" = 0 ]'
# now f3 only gets another mtime, and f4 another size
touch -d '2021-03-03 03:03:03' "$src/d/f3"
head -c 123 /dev/urandom >>"$src/d/f4"
expect 0 "sync --checksum" "$ferry" sync "$src" "$store" --checksum --json
cp "$work/out" "$work/sum.json"
check "sync --checksum sends f2 (bytes changed under the same size and mtime) and f4 (new size)" \
	'[ "$(json_num files_transferred "$work/sum.json")" = 2 ]'
check "it writes a new snapshot" 'grep -q "\"changed\":true" "$work/sum.json"'
# every file whose size matches the snapshot is read once; f4 (new size) is not
want=$((size_all - 400000))
check "it reads exactly the files whose size matches ($(json_num bytes_hashed "$work/sum.json") bytes, want $want)" \
	'[ "$(json_num bytes_hashed "$work/sum.json")" = "$want" ]'
check "f3 (new mtime, same bytes) moved no data ($(json_num bytes_written "$work/sum.json") bytes written for 600,123 of f2 and f4)" \
	'[ "$(json_num bytes_written "$work/sum.json")" -lt 850000 ]'
expect 0 "pull of the --checksum snapshot" "$ferry" pull "$store" "$dst"
check "pull is byte-identical" 'diff -r "$src" "$dst" >/dev/null'
check "f3 keeps its new mtime in the snapshot" '[ "$(stat -c %Y "$dst/d/f3")" = "$(stat -c %Y "$src/d/f3")" ]'
expect 0 "sync --checksum with nothing changed" "$ferry" sync "$src" "$store" --checksum --json
check "... writes nothing" '[ "$(json_num bytes_written)" = 0 ] && grep -q "\"changed\":false" "$work/out"'

# ---- pull side
rewrite "$dst/d/f5" 500000
touch -d '2019-01-01' "$dst/d/f6"
expect 0 "plain pull-side sync" "$ferry" sync "$store" "$dst" --json
check "plain sync leaves the same-size, same-mtime f5 alone" '! cmp -s "$src/d/f5" "$dst/d/f5"'
expect 0 "pull-side sync --checksum" "$ferry" sync "$store" "$dst" --checksum --json
cp "$work/out" "$work/pull.json"
check "it restores f5" 'diff -r "$src" "$dst" >/dev/null'
check "it fetched one file" '[ "$(json_num files_transferred "$work/pull.json")" = 1 ]'
check "f6 got the snapshot's mtime back without a fetch" '[ "$(stat -c %Y "$dst/d/f6")" = "$(stat -c %Y "$src/d/f6")" ]'
check "it read the local files to compare ($(json_num bytes_hashed "$work/pull.json") bytes)" '[ "$(json_num bytes_hashed "$work/pull.json")" -gt 0 ]'

# ---- bad input
expect 2 "--checksum on push is refused" "$ferry" push "$src" "$store" --checksum
one_line_err "... in one line"
finish
