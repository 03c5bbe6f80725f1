#!/usr/bin/env bash
# Malicious stores (issue 7): hostile manifests (duplicate and misordered paths, absurd
# sizes, counts and offsets, very deep paths), a destination whose directories are
# swapped for symlinks between runs, and garbage store configs and config files. Each is
# refused with a clear error, in bounded memory, without a crash and without a write
# outside DST. (Absolute and '..' paths: cli.sh.)
# usage: hostile.sh FERRY MKEVIL
set -uo pipefail
ferry=${1:?usage: hostile.sh FERRY MKEVIL}
mkevil=${2:?usage: hostile.sh FERRY MKEVIL}
work=$(mktemp -d /tmp/ferry-hostile.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset FERRY_PASSPHRASE
. "$(dirname "$0")/../lib.sh"
# peak resident memory allowed for one command on a tiny hostile store (ASan builds included)
MAX_RSS_KB=${FERRY_HOSTILE_MAX_RSS_KB:-400000}
# random garbage configs tried: 10 of each kind, 200 with FERRY_CAMPAIGN=long
N=10
[ "${FERRY_CAMPAIGN:-}" = long ] && N=200

# expect CODE NAME CMD...: exit code, no crash or sanitizer report, peak RSS under the bound
expect() {
	local code=$1 name=$2; shift 2
	/usr/bin/time -f '%M' -o "$work/rss" timeout 120 "$@" >"$work/out" 2>"$work/err"
	local rc=$? rss
	rss=$(tail -1 "$work/rss" | tr -dc 0-9)
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/err"; then
		bad "$name: sanitizer report"
	elif [ "$rc" -ne "$code" ]; then
		echo "       exit $rc, wanted $code"; bad "$name"
	elif [ "${rss:-0}" -gt "$MAX_RSS_KB" ]; then
		bad "$name: peak RSS ${rss} KB > $MAX_RSS_KB KB"
	else
		ok "$name (peak RSS ${rss} KB)"
	fi
}
outside_clean() { # nothing may appear in $work/outside
	if [ -z "$(ls -A "$work/outside")" ]; then ok "$1: nothing written outside DST"; else bad "$1: wrote outside DST: $(ls -A "$work/outside")"; fi
}
mkdir -p "$work/outside"

# ---- hostile manifests, each in a store of its own; DST is $work/d/KIND, ../outside its neighbour
hostile() { # KIND CODE PATTERN: pull must exit CODE naming PATTERN; verify --read-data must fail too
	local kind=$1 code=$2 pat=$3
	rm -rf "$work/s-$kind"
	"$ferry" init "$work/s-$kind" -q && "$mkevil" "$work/s-$kind" "$kind" || { bad "$kind: store made"; return; }
	mkdir -p "$work/d"
	ln -sfn "$work/outside" "$work/d/outside"
	expect "$code" "$kind: pull refused" "$ferry" pull "$work/s-$kind" "$work/d/$kind"
	grep_err "$pat" "$kind: the error says why"
	outside_clean "$kind"
	expect 3 "$kind: verify --read-data fails" "$ferry" verify --read-data "$work/s-$kind"
}
hostile dup 3 "manifest entry 1: 'd' comes twice"
hostile dupfile 3 "manifest entry 2: 'f' comes twice"
[ -L "$work/d/dupfile/f" ] && [ ! -e "$work/outside/ferry-evil-dupfile" ] && ok "dupfile: the symlink was not written through" || bad "dupfile: the symlink was not written through"
hostile order 3 "manifest entry 1: 'a.txt' is out of walk order"
hostile size0 3 "far-chunk: manifest names chunks beyond the object's end"
hostile size1 3 "manifest entry 0: not in ferry format"
hostile size2 3 "huge-count: manifest names chunks beyond the object's end"
hostile size3 3 "manifest entry 0: not in ferry format"
hostile size4 3 "manifest entry 0: not in ferry format"
[ -z "$(find "$work/d" -size +1M)" ] && ok "absurd sizes: no large file made" || bad "absurd sizes: no large file made"
# the longest path the format allows, 2,000 directories deep: restored, no stack blow-up
rm -rf "$work/s-deep"; "$ferry" init "$work/s-deep" -q && "$mkevil" "$work/s-deep" deep
expect 0 "deep: a 4,095-byte path 2,000 levels deep is restored" "$ferry" pull "$work/s-deep" "$work/d/deep"
[ -f "$work/d/deep/fine.txt" ] && [ "$(find "$work/d/deep" -type d | wc -l)" -gt 1000 ] && ok "deep: tree made" || bad "deep: tree made"
rm -rf "$work/d/deep"

# ---- a destination directory replaced by a symlink between two runs
mkdir -p "$work/src/dir/sub"
echo a >"$work/src/dir/a"; echo deep >"$work/src/dir/sub/x"; echo b >"$work/src/b"
"$ferry" init "$work/st" -q && "$ferry" push "$work/src" "$work/st" -q || bad "plain store made"
expect 0 "first pull" "$ferry" pull "$work/st" "$work/dst"
rm -rf "$work/dst/dir"; ln -s "$work/outside" "$work/dst/dir"
rm -f "$work/dst/b"; ln -s "$work/outside/victim" "$work/dst/b"
expect 1 "pull over a directory swapped for a symlink" "$ferry" pull "$work/st" "$work/dst"
grep_err "dir: exists and is not a directory" "the swapped directory is named"
outside_clean "pull over symlinks"
[ -f "$work/dst/b" ] && [ ! -L "$work/dst/b" ] && ok "a file swapped for a symlink is replaced, not written through" || bad "a file swapped for a symlink is replaced, not written through"
expect 1 "pull-side sync over the symlink" "$ferry" sync "$work/st" "$work/dst"
outside_clean "sync over symlinks"
expect 1 "pull-side sync --delete over the symlink" "$ferry" sync --delete "$work/st" "$work/dst"
outside_clean "sync --delete over symlinks"
[ -L "$work/dst/dir" ] && ok "sync --delete removed nothing through the symlink" || bad "sync --delete removed nothing through the symlink"

# ---- garbage store configs: refused with a clear error, nothing else read
cp "$work/st/config" "$work/config.good"
for i in $(seq 1 "$N"); do
	head -c 160 /dev/urandom >"$work/st/config"
	expect 3 "random 160-byte config #$i refused" "$ferry" ls "$work/st"
done
grep_err "config: not in ferry format" "random config: the error names the file"
head -c 50 "$work/config.good" >"$work/st/config"
expect 3 "truncated config refused" "$ferry" ls "$work/st"
{ cat "$work/config.good"; head -c 20000000 /dev/zero; } >"$work/st/config"
expect 3 "20 MB config refused as damage, exit 3 (not read whole)" "$ferry" ls "$work/st"
grep_err "st/config: 200001[0-9]{2} bytes, more than a store config can be" "oversized config: names the file and says why"
cp "$work/config.good" "$work/st/config"
printf '\x09' | dd of="$work/st/config" bs=1 seek=100 conv=notrunc 2>/dev/null
expect 3 "config with one byte changed refused" "$ferry" ls "$work/st"
rm -f "$work/st/config"
mkdir "$work/st/config"
expect 3 "a config that is a directory refused as damage, exit 3" "$ferry" ls "$work/st"
grep_err "st/config: not a regular file \(a directory\)" "a config that is a directory: names the file and says why"
rmdir "$work/st/config"
cp "$work/config.good" "$work/st/config"
"$mkevil" --newer "$work/st" || bad "mkevil --newer"
expect 1 "a config with a feature flag this build lacks refused, exit 1" "$ferry" ls "$work/st"
grep_err "st/config: unsupported feature \(a store made by a newer ferry\?" "a newer store's config: says this build cannot read it"
cp "$work/config.good" "$work/st/config"

# ---- garbage config files (ferry.conf): exit 2 with one line naming the file
for i in $(seq 1 "$N"); do
	head -c $((i * 397 % 20000 + 1)) /dev/urandom >"$work/garbage.conf"
	expect 2 "random config file #$i refused" "$ferry" --config "$work/garbage.conf" ls "$work/st"
	if [ "$(grep -c '^ferry:' "$work/err")" -eq 1 ] && grep -q 'garbage.conf' "$work/err"; then ok "random config file #$i: one line naming the file"; else bad "random config file #$i: one line naming the file"; fi
done
{ printf '[store]\ncompress = '; head -c 3000000 /dev/zero | tr '\0' 9; printf '\n'; } >"$work/long.conf"
expect 2 "a 3 MB line refused" "$ferry" --config "$work/long.conf" ls "$work/st"
{ for i in $(seq 1 20000); do printf '[s%d]\nk = v\n' "$i"; done; } >"$work/sections.conf"
expect 2 "20,000 unknown sections refused" "$ferry" --config "$work/sections.conf" ls "$work/st"
printf '[store]\ncompress = 3\0hidden\n' >"$work/nul.conf"
expect 2 "a NUL byte in a config file refused" "$ferry" --config "$work/nul.conf" ls "$work/st"
grep_err "nul.conf: contains a NUL byte" "the NUL byte is named"
outside_clean "whole run"

# ---- verify without --read-data: a file's chunk range against its object (stat only)
# hostile size0 and size2 (above) name chunk 2^32-2 and 2^32-1 chunks of a one-chunk object;
# size5 names chunk 1 of it (just past its end), size6 starts past the end of its first chunk.
hostile size5 3 "beyond-end: manifest names chunks beyond the object's end"
hostile size6 3 "beyond-chunk: manifest and object disagree on the file's length"
for k in size0:far-chunk size2:huge-count size5:beyond-end size6:beyond-chunk; do
	expect 3 "${k#*:}: verify without --read-data fails" "$ferry" verify --json "$work/s-${k%%:*}"
	grep_err "${k#*:}@[^:]*: object data/[0-9a-f/]*: manifest names (chunks|bytes) .*beyond" \
		"${k#*:}: verify without --read-data names the file, the object and the reason"
	if [ "$(grep -c '^ferry:' "$work/err")" -eq 1 ] && grep -q '"chunks_checked":0' "$work/out"; then
		ok "${k#*:}: one line, no chunk read"
	else
		bad "${k#*:}: one line, no chunk read"
	fi
done
expect 0 "a sound store passes verify without --read-data" "$ferry" verify "$work/st"

# ---- a store config one byte too long: damage, exit 3; an oversized one on a --replica: refused
# like a replica config that does not decode (exit 2), not passed over as unreachable
{ cat "$work/config.good"; printf x; } >"$work/st/config"
expect 3 "a 161-byte config refused" "$ferry" ls "$work/st"
grep_err "st/config: not in ferry format" "161-byte config: names the file"
cp "$work/config.good" "$work/st/config"
cp -a "$work/st" "$work/st-replica"
head -c 20000 /dev/zero >>"$work/st-replica/config"
expect 2 "a replica with an oversized config refused" "$ferry" pull "$work/st" "$work/d/rep" --replica "$work/st-replica"
grep_err "st-replica\): config: larger than a store config can be \(160 bytes\)" "oversized replica config: says why"

finish
