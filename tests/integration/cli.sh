#!/usr/bin/env bash
# End-to-end tests of the ferry binary on generated trees.
# usage: cli.sh FERRY_BINARY MKEVIL_BINARY
set -uo pipefail
ferry=${1:?usage: cli.sh FERRY MKEVIL}
mkevil=${2:?usage: cli.sh FERRY MKEVIL}
work=$(mktemp -d /tmp/ferry-cli.XXXXXX)
trap 'rm -rf "$work" /tmp/ferry-evil-*' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset FERRY_PASSPHRASE
. "$(dirname "$0")/../lib.sh"
PASSPHRASE='correct horse battery staple 42'


# ---- usage
expect 0 "--version" "$ferry" --version
grep -q '^ferry 0\.' "$work/out" && ok "--version prints the version" || bad "--version prints the version"
expect 0 "--help" "$ferry" --help
expect 0 "help push" "$ferry" help push
grep -q 'usage: ferry push' "$work/out" && ok "help push shows usage" || bad "help push shows usage"
expect 2 "unknown command exits 2" "$ferry" frobnicate
one_line_err "unknown command: one-line error"
grep_err "unknown command 'frobnicate'" "unknown command named"
expect 2 "unknown flag exits 2" "$ferry" push --frob a b
grep_err "unknown option '--frob'" "unknown flag named"
expect 2 "an option another command takes exits 2" "$ferry" ls "$work/x" --log-file "$work/x.log"
grep_err "unknown option '--log-file'" "the option is named, not its value"
expect 2 "unknown global flag exits 2" "$ferry" --frob
expect 2 "help for unknown command exits 2" "$ferry" help nope
expect 0 "help s3" "$ferry" help s3
grep -q '^  endpoint ' "$work/out" && grep -q '^  attempts ' "$work/out" && ok "help s3 lists the backend's options" ||
	bad "help s3 lists the backend's options"
expect 2 "missing arguments exit 2" "$ferry" push onlyone
expect 2 "bad --compress value" "$ferry" init "$work/x" --compress 42
expect 2 "bad --chunk-size value" "$ferry" init "$work/x" --chunk-size 1K
[ ! -e "$work/x" ] && ok "rejected init wrote nothing" || bad "rejected init wrote nothing"

# ---- config file
printf '[store]\ncompress = 5\n\n[transfer]\nbogus = 1\n' >"$work/bad.conf"
expect 2 "unknown config key exits 2" "$ferry" --config "$work/bad.conf" init "$work/x"
grep_err "bad.conf:5: unknown key 'bogus' in \[transfer\]" "config error names file and line"
printf '[store]\nthis line is garbage\n' >"$work/bad2.conf"
expect 2 "malformed config exits 2" "$ferry" init "$work/x" --config "$work/bad2.conf"
grep_err "bad2.conf:2:" "malformed config names the line"
expect 2 "missing --config file exits 2" "$ferry" --config "$work/nope.conf" init "$work/x"
mkdir -p "$XDG_CONFIG_HOME/ferry"
printf '# defaults\n[store]\ncompress = none\nchunk-size = 64K\n' >"$XDG_CONFIG_HOME/ferry/ferry.conf"
expect 0 "default config file is read" "$ferry" init "$work/cfgstore"
size=$(od -An -tu4 -j24 -N4 "$work/cfgstore/config" | tr -d ' ')
level=$(od -An -tu1 -j28 -N1 "$work/cfgstore/config" | tr -d ' ')
[ "$size" = 65536 ] && [ "$level" = 0 ] && ok "config file sets chunk size and level" || bad "config file sets chunk size and level ($size/$level)"
rm -f "$XDG_CONFIG_HOME/ferry/ferry.conf"

# ---- init
mkdir -p "$work/notempty" && echo hi >"$work/notempty/f"
expect 2 "init refuses a non-empty directory" "$ferry" init "$work/notempty"
grep_err "not empty" "non-empty refusal says why"
expect 2 "init --encrypt without a secret" "$ferry" init --encrypt "$work/enc"
[ ! -e "$work/enc/config" ] && ok "no half-made store" || bad "no half-made store"
export FERRY_PASSPHRASE=$PASSPHRASE
expect 0 "init --encrypt with FERRY_PASSPHRASE" "$ferry" init --encrypt --scrypt-cost 12 "$work/enc"
expect 2 "init refuses an existing store" "$ferry" init "$work/enc"

# ---- a tree with the awkward cases
src=$work/src
mkdir -p "$src/deep" "$src/names"
d=$src/deep; for i in $(seq 1 40); do d=$d/level$i; done; mkdir -p "$d"; echo bottom >"$d/file.txt"
echo space >"$src/names/with space.txt"
echo nl >"$src/names/new
line.txt"
echo utf8 >"$src/names/ünïcødé-文件.txt"
: >"$src/empty"
truncate -s 20M "$src/sparse.img"
printf 'tail' >>"$src/sparse.img"
head -c 3000000 /dev/urandom >"$src/random.bin"
seq 1 300000 >"$src/numbers.txt"
mkdir -p "$src/small"; for i in $(seq 1 500); do echo "small $i" >"$src/small/s$i"; done
ln -s numbers.txt "$src/link-rel"
ln -s /nonexistent/target "$src/link-dangling"
chmod 600 "$src/random.bin"; chmod 755 "$src/numbers.txt"; chmod 700 "$src/small"
touch -d '2001-02-03 04:05:06.123456789' "$src/numbers.txt"

expect 0 "push" "$ferry" push "$src" "$work/enc" --json
grep -q '"files_total":508' "$work/out" && ok "--json counts files" || bad "--json counts files ($(cat "$work/out"))"
[ "$(grep -c '^{' "$work/out")" -eq 1 ] && ok "--json prints one object" || bad "--json prints one object"
snap1=$("$ferry" snapshots "$work/enc")
[ "$(echo "$snap1" | wc -l)" -eq 1 ] && ok "one snapshot listed" || bad "one snapshot listed"
expect 0 "pull" "$ferry" pull "$work/enc" "$work/dst"
diff -r --no-dereference "$src" "$work/dst" >"$work/err" 2>&1 && ok "pull is byte-identical" || bad "pull is byte-identical"
meta() { (cd "$1" && find . -printf '%p %y %m %T@ %l\n' | grep -v '^\. ' | sort); }
meta "$src" >"$work/m1"; meta "$work/dst" >"$work/m2"
diff "$work/m1" "$work/m2" >"$work/err" && ok "modes, mtimes and symlinks restored" || bad "modes, mtimes and symlinks restored"
expect 0 "verify --read-data on a good store" "$ferry" verify --read-data "$work/enc"
expect 0 "ls" "$ferry" ls "$work/enc@$snap1" names
[ "$(wc -l <"$work/out")" -eq 4 ] && ok "ls PATH lists the subtree" || bad "ls PATH lists the subtree"
expect 0 "pull --include" "$ferry" pull "$work/enc" "$work/dst-inc" --include 'small/s1*'
[ "$(find "$work/dst-inc" -type f | wc -l)" -eq 111 ] && ok "--include selects files" || bad "--include selects files ($(find "$work/dst-inc" -type f | wc -l))"
expect 0 "push --dry-run" "$ferry" push --dry-run "$src" "$work/enc"
[ "$("$ferry" snapshots "$work/enc" | wc -l)" -eq 1 ] && ok "--dry-run writes no snapshot" || bad "--dry-run writes no snapshot"
expect 2 "pull of a missing snapshot" "$ferry" pull "$work/enc@20000101T000000Z-00000000" "$work/dst-x"

# ---- keys and secrets
FERRY_PASSPHRASE='wrong passphrase' expect 5 "wrong passphrase exits 5" "$ferry" pull "$work/enc" "$work/dst-wrong"
grep_err "wrong passphrase or key" "wrong passphrase says so"
[ ! -e "$work/dst-wrong" ] && ok "wrong passphrase writes nothing" || bad "wrong passphrase writes nothing"
(unset FERRY_PASSPHRASE; expect 5 "encrypted store without a secret exits 5" "$ferry" ls "$work/enc")
head -c 32 /dev/urandom >"$work/key"; chmod 600 "$work/key"
(unset FERRY_PASSPHRASE; expect 5 "key file on a passphrase store exits 5" "$ferry" ls "$work/enc" --key-file "$work/key")
(unset FERRY_PASSPHRASE
 expect 0 "init with a key file" "$ferry" init --encrypt --key-file "$work/key" "$work/kstore"
 expect 0 "push with a key file" "$ferry" push "$src/names" "$work/kstore" --key-file "$work/key"
 chmod 644 "$work/key"
 expect 0 "pull with a group-readable key file" "$ferry" pull "$work/kstore" "$work/kdst" --key-file "$work/key"
 grep_err "warning: .*readable by group or others" "loose key file permissions warned")
echo short >"$work/shortkey"
(unset FERRY_PASSPHRASE; expect 5 "a short key file is refused" "$ferry" ls "$work/kstore" --key-file "$work/shortkey")
printf '%s\n' "$PASSPHRASE" >"$work/passfile"; chmod 600 "$work/passfile"
(unset FERRY_PASSPHRASE; expect 0 "--passphrase-file" "$ferry" snapshots "$work/enc" --passphrase-file "$work/passfile")
cat "$work"/out "$work"/err >/dev/null
if grep -rqF -- "$PASSPHRASE" "$work/out" "$work/err" "$work/m1" 2>/dev/null; then bad "passphrase never printed"; else ok "passphrase never printed"; fi

# ---- corruption
obj=$(ls -S "$work"/enc/data/*/* | head -1)
osize=$(stat -c %s "$obj")
printf '\xff' | dd of="$obj" bs=1 seek=$((osize / 2)) conv=notrunc 2>/dev/null
expect 3 "verify --read-data detects a flipped byte" "$ferry" verify --read-data "$work/enc" --json
grep -q '"chunk":"chunk [0-9]*"' "$work/out" && ok "problem names the chunk" || bad "problem names the chunk"
badfile=$(sed -n 's/.*"path":"\([^"@]*\)@.*/\1/p' "$work/out")
[ -n "$badfile" ] && [ -f "$src/$badfile" ] && ok "problem names the file" || bad "problem names the file ($(head -c 300 "$work/out"))"
expect 0 "verify without --read-data does not read chunks" "$ferry" verify "$work/enc"
expect 3 "pull of a corrupted file exits 3" "$ferry" pull "$work/enc" "$work/dst-corrupt"
grep_err "$badfile: chunk [0-9]+: authentication failed" "pull names file, chunk and reason"
[ ! -e "$work/dst-corrupt/$badfile" ] && ok "no corrupted file under its final name" || bad "no corrupted file under its final name"
[ -z "$(find "$work/dst-corrupt" -name '.ferry-*')" ] && ok "no temporary file left behind" || bad "no temporary file left behind"
[ -f "$work/dst-corrupt/numbers.txt" ] && ok "pull goes on past a bad file" || bad "pull goes on past a bad file"
obj2=$(ls -S "$work"/enc/data/*/* | sed -n 2p)
truncate -s -1 "$obj2"
expect 3 "verify detects a truncated object" "$ferry" verify "$work/enc"
grep_err "truncated|size" "truncation reported"

# ---- hostile manifest
unset FERRY_PASSPHRASE
expect 0 "init plain store" "$ferry" init "$work/plain"
"$mkevil" "$work/plain" 2>"$work/err" && ok "hostile snapshot written" || bad "hostile snapshot written"
mkdir -p "$work/evil-dst"
expect 3 "hostile paths refused" "$ferry" pull "$work/plain" "$work/evil-dst/in"
grep_err "/tmp/ferry-evil-absolute: unsafe path" "absolute path named"
grep_err "\.\./ferry-evil-dotdot: unsafe path" "dot-dot path named"
grep_err "escape/ferry-evil-through-link: cannot open parent" "path through a symlink refused"
[ -z "$(ls /tmp/ferry-evil-* "$work"/evil-dst/ferry-evil-* "$work"/ferry-evil-* 2>/dev/null)" ] && ok "nothing written outside DST" || bad "nothing written outside DST"
[ -f "$work/evil-dst/in/fine.txt" ] && ok "safe entries still restored" || bad "safe entries still restored"

# ---- interrupted push
expect 0 "init slow store" "$ferry" init --compress 19 "$work/slow"
mkdir -p "$work/slowsrc"; echo first >"$work/slowsrc/a"
expect 0 "first snapshot" "$ferry" push "$work/slowsrc" "$work/slow"
seq 1 4000000 >"$work/slowsrc/big.txt"
"$ferry" push "$work/slowsrc" "$work/slow" >/dev/null 2>&1 &
pid=$!
sleep 1
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
[ "$("$ferry" snapshots "$work/slow" | wc -l)" -eq 1 ] && ok "killed push made no snapshot" || bad "killed push made no snapshot"
expect 0 "store verifies after kill -9" "$ferry" verify --read-data "$work/slow"
expect 0 "previous snapshot pullable after kill -9" "$ferry" pull "$work/slow" "$work/slowdst"
[ "$(cat "$work/slowdst/a")" = first ] && ok "previous snapshot content intact" || bad "previous snapshot content intact"

# ---- packs: many small files share a few objects
unset FERRY_PASSPHRASE
mkdir -p "$work/many"
for d in 1 2 3 4; do mkdir -p "$work/many/d$d"; for i in $(seq 1 2500); do echo "file $d/$i" >"$work/many/d$d/f$i"; done; done
expect 0 "init pack store" "$ferry" init "$work/packs"
expect 0 "push 10000 small files" "$ferry" push "$work/many" "$work/packs" --json
nobj=$(find "$work/packs/data" -type f | wc -l)
[ "$nobj" -le 3 ] && ok "10000 small files packed into $nobj object(s)" || bad "small files packed ($nobj objects)"
expect 0 "pull 10000 small files" "$ferry" pull "$work/packs" "$work/many-back" --memory 16M
diff -r "$work/many" "$work/many-back" >"$work/err" 2>&1 && ok "packed files restored byte for byte" || bad "packed files restored byte for byte"
expect 0 "pull one packed file by --include" "$ferry" pull "$work/packs" "$work/one" --include 'd3/f1234'
[ "$(cat "$work/one/d3/f1234")" = "file 3/1234" ] && [ "$(find "$work/one" -type f | wc -l)" -eq 1 ] && ok "one packed file restored alone" || bad "one packed file restored alone"

# ---- a large sparse file and a small memory budget
mkdir -p "$work/sparse"
truncate -s 200M "$work/sparse/huge.img"; printf 'end' >>"$work/sparse/huge.img"
expect 0 "push a 200 MiB sparse file in 16 MiB" "$ferry" push "$work/sparse" "$work/packs" --memory 16M --jobs 1
expect 0 "pull it back" "$ferry" pull "$work/packs" "$work/sparse-back"
cmp "$work/sparse/huge.img" "$work/sparse-back/huge.img" && ok "sparse file identical" || bad "sparse file identical"

# ---- O_DIRECT reads of files whose size is not a multiple of the block size
mkdir -p "$work/direct"; head -c 5000123 /dev/urandom >"$work/direct/odd"; head -c 2000001 /dev/urandom >"$work/direct/odd2"
expect 0 "push --direct" "$ferry" push --direct "$work/direct" "$work/packs"
expect 0 "pull after push --direct" "$ferry" pull "$work/packs" "$work/direct-back"
cmp "$work/direct/odd" "$work/direct-back/odd" && cmp "$work/direct/odd2" "$work/direct-back/odd2" && ok "--direct push round trip" || bad "--direct push round trip"
expect 0 "copy --direct" "$ferry" copy --direct "$work/direct" "$work/direct-copy"
cmp "$work/direct/odd" "$work/direct-copy/odd" && ok "--direct copy" || bad "--direct copy"

# ---- files that change while being read are reported, not stored torn
mkdir -p "$work/moving"; head -c 50000000 /dev/urandom >"$work/moving/big"; echo still >"$work/moving/still"
( while :; do echo more >>"$work/moving/big"; done ) &
writer=$!
expect 1 "push of a growing file exits 1" "$ferry" push "$work/moving" "$work/packs" --jobs 1
kill "$writer"; wait "$writer" 2>/dev/null
grep_err "big: file changed while being read" "growing file named"
"$ferry" ls "$work/packs" >"$work/out"
grep -q ' still$' "$work/out" && ! grep -q ' big$' "$work/out" && ok "the rest is stored, the torn file is not" || bad "the rest is stored, the torn file is not"

# ---- unreadable files (as an unprivileged user: root reads everything)
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$work/unread/src"; echo ok >"$work/unread/src/readable"; echo secret >"$work/unread/src/locked"
	chmod 000 "$work/unread/src/locked"; chmod 755 "$work" "$work/unread" "$work/unread/src"
	"$ferry" init "$work/unread/store" -q && chown -R nobody "$work/unread/store"
	expect 1 "unreadable file: exit 1" setpriv --reuid=nobody --regid=nogroup --clear-groups "$ferry" push "$work/unread/src" "$work/unread/store"
	grep_err "locked: cannot read: Permission denied" "unreadable file named with the reason"
	"$ferry" ls "$work/unread/store" >"$work/out"
	grep -q ' readable$' "$work/out" && ok "readable files still stored" || bad "readable files still stored"
fi

# ---- copy: a plain mirror
expect 0 "copy" "$ferry" copy "$src" "$work/mirror" --json
grep -q '"files_transferred":508' "$work/out" && ok "copy counts files" || bad "copy counts files ($(cat "$work/out"))"
diff -r --no-dereference "$src" "$work/mirror" >"$work/err" 2>&1 && ok "copy is byte-identical" || bad "copy is byte-identical"
meta "$work/mirror" >"$work/m3"
diff "$work/m1" "$work/m3" >"$work/err" && ok "copy keeps modes, mtimes and symlinks" || bad "copy keeps modes, mtimes and symlinks"
[ -z "$(find "$work/mirror" -name '.ferry-*')" ] && ok "copy leaves no temporary files" || bad "copy leaves no temporary files"
expect 0 "copy --dry-run" "$ferry" copy --dry-run "$src" "$work/mirror-dry"
[ ! -e "$work/mirror-dry" ] && ok "copy --dry-run writes nothing" || bad "copy --dry-run writes nothing"
expect 1 "copy from a missing source" "$ferry" copy "$work/nope" "$work/mirror2"
grep_err "nope: cannot open source directory" "copy names the missing source"

# ---- sync: only what changed is sent; nothing changed, nothing written
mkdir -p "$work/syncsrc/d"; for i in $(seq 1 40); do echo "v1 $i" >"$work/syncsrc/d/f$i"; done
head -c 3000000 /dev/urandom >"$work/syncsrc/big"
expect 0 "init sync store" "$ferry" init "$work/syncstore"
expect 0 "first sync" "$ferry" sync "$work/syncsrc" "$work/syncstore" --json
objs1=$(find "$work/syncstore/data" -type f | wc -l)
expect 0 "sync with nothing changed" "$ferry" sync "$work/syncsrc" "$work/syncstore" --json
grep -q '"changed":false' "$work/out" && grep -q '"files_unchanged":41' "$work/out" && ok "unchanged run says so" || bad "unchanged run says so ($(cat "$work/out"))"
[ "$("$ferry" snapshots "$work/syncstore" | wc -l)" -eq 1 ] && ok "no new snapshot when nothing changed" || bad "no new snapshot when nothing changed"
[ "$(find "$work/syncstore/data" -type f | wc -l)" -eq "$objs1" ] && ok "no data objects written when nothing changed" || bad "no data objects written when nothing changed"
expect 0 "sync --always-snapshot" "$ferry" sync --always-snapshot "$work/syncsrc" "$work/syncstore"
[ "$("$ferry" snapshots "$work/syncstore" | wc -l)" -eq 2 ] && ok "--always-snapshot writes one" || bad "--always-snapshot writes one"
echo "v2" >"$work/syncsrc/d/f5"; touch -d '2001-01-01' "$work/syncsrc/d/f5"; rm "$work/syncsrc/d/f6"
expect 0 "sync after a change and a deletion" "$ferry" sync "$work/syncsrc" "$work/syncstore" --json
grep -q '"files_transferred":1,' "$work/out" && grep -q '"bytes_read":3,' "$work/out" && ok "only the changed file was read" || bad "only the changed file was read ($(cat "$work/out"))"
expect 0 "pull the synced snapshot" "$ferry" pull "$work/syncstore" "$work/syncback"
diff -r "$work/syncsrc" "$work/syncback" >"$work/err" 2>&1 && ok "synced snapshot matches the source (deletion included)" || bad "synced snapshot matches the source"
expect 0 "store verifies after syncs" "$ferry" verify --read-data "$work/syncstore"

# ---- sync, pull side: only what differs is fetched; --delete removes the rest
expect 0 "sync pull side, first run" "$ferry" sync "$work/syncstore" "$work/synclocal" --json
grep -q '"files_unchanged":0' "$work/out" && ok "first pull-side sync fetches everything" || bad "first pull-side sync fetches everything"
expect 0 "sync pull side, nothing to do" "$ferry" sync "$work/syncstore" "$work/synclocal" --json
grep -q '"files_transferred":0,' "$work/out" && grep -q '"files_unchanged":40' "$work/out" && ok "up-to-date files left alone" || bad "up-to-date files left alone ($(cat "$work/out"))"
echo tampered >"$work/synclocal/d/f2"; echo extra >"$work/synclocal/extra.txt"; mkdir -p "$work/synclocal/olddir"; echo o >"$work/synclocal/olddir/o"
expect 0 "sync pull side without --delete" "$ferry" sync "$work/syncstore" "$work/synclocal"
[ -f "$work/synclocal/extra.txt" ] && ok "extra files kept without --delete" || bad "extra files kept without --delete"
[ "$(cat "$work/synclocal/d/f2")" = "v1 2" ] && ok "a changed local file is restored" || bad "a changed local file is restored"
expect 0 "sync pull side --delete" "$ferry" sync --delete "$work/syncstore" "$work/synclocal" --json
grep -q '"files_deleted":3' "$work/out" && ok "--delete counts what it removed" || bad "--delete counts what it removed ($(cat "$work/out"))"
diff -r "$work/syncsrc" "$work/synclocal" >"$work/err" 2>&1 && ok "local copy equals the snapshot after --delete" || bad "local copy equals the snapshot after --delete"
expect 2 "--delete with --include is refused" "$ferry" sync --delete --include 'd/*' "$work/syncstore" "$work/synclocal"
expect 2 "--delete on the push side is refused" "$ferry" sync --delete "$work/syncsrc" "$work/syncstore"

# ---- a push where the source is missing
expect 1 "missing source" "$ferry" push "$work/nope" "$work/plain"
grep_err "nope: cannot open source directory" "missing source named"
expect 2 "missing store" "$ferry" push "$src" "$work/nostore"
grep_err "nostore: cannot open store" "missing store named"

# a URL scheme this build has no backend for: a usage error naming it, nothing created
ferry_abs=$(realpath "$ferry")
cd "$work" || exit 1
for args in "ls azure://c/p" "push $src azure://c/p" "copy $src azure://c/p" "copy azure://c/p $work/az" "copy azure://c/p s3://b/p"; do
	expect 2 "${args/$work/WORK}: an unknown URL scheme exits 2" "$ferry_abs" $args
	grep_err "azure://c/p: no backend for this URL scheme in this build" "${args/$work/WORK}: names the URL and why"
done
cd - >/dev/null || exit 1
check "an unknown URL scheme creates nothing" '[ ! -e "$work/azure:" ] && [ ! -e "$work/az" ]'
expect 0 "copy to a file:// URL is a local copy" "$ferry" copy "$src" "file://$work/viafile"
check "the file:// copy landed at the path" 'diff -r --no-dereference "$src" "$work/viafile" >/dev/null'

finish
