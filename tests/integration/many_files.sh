#!/usr/bin/env bash
# 100,000 tiny files: push (packed), pull, verify and copy round trips, and bounded memory.
# usage: many_files.sh FERRY_BINARY
set -uo pipefail
ferry=${1:?usage: many_files.sh FERRY}
work=$(mktemp -d /tmp/ferry-many.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work XDG_CONFIG_HOME=$work/xdg
unset FERRY_PASSPHRASE
. "$(dirname "$0")/../lib.sh"
ERRFILE=

src=$work/src
for d in $(seq 1 100); do
	mkdir -p "$src/d$d"
	for i in $(seq 1 1000); do echo "file $d/$i" >"$src/d$d/f$i"; done
done
[ "$(find "$src" -type f | wc -l)" -eq 100000 ] && ok "100000 files generated" || bad "100000 files generated"

head -c 32 /dev/urandom >"$work/key"; chmod 600 "$work/key"
"$ferry" init --encrypt --key-file "$work/key" "$work/store" -q || bad "init"
"$ferry" push "$src" "$work/store" --key-file "$work/key" --json >"$work/out" 2>"$work/err" && ok "push 100000 files" || bad "push 100000 files"
grep -q '"files_transferred":100000' "$work/out" && ok "all 100000 stored" || bad "all 100000 stored: $(head -c 300 "$work/out")"
[ "$(find "$work/store/data" -type f | wc -l)" -le 2 ] && ok "packed into at most 2 objects" || bad "packed into at most 2 objects"
"$ferry" pull "$work/store" "$work/back" --key-file "$work/key" --memory 32M 2>"$work/err" && ok "pull 100000 files in 32M" || bad "pull 100000 files in 32M"
diff -r "$src" "$work/back" >/dev/null 2>&1 && ok "pulled tree identical" || bad "pulled tree identical"
"$ferry" verify --read-data "$work/store" --key-file "$work/key" 2>"$work/err" && ok "verify --read-data" || bad "verify --read-data"
"$ferry" copy "$src" "$work/mirror" 2>"$work/err" && ok "copy 100000 files" || bad "copy 100000 files"
diff -r "$src" "$work/mirror" >/dev/null 2>&1 && ok "copied tree identical" || bad "copied tree identical"

finish
