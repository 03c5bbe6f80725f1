#!/usr/bin/env bash
# `ferry pull|sync STORE DST --replica URL...`: each data object comes from the cheapest
# reachable replica that serves it intact (docs/PLANNER.md, "Replicas"). Local-path
# replicas (copies of the store directory) always; an S3 replica and an S3 primary on the
# Swift test server when it starts (tests/s3/swift-server.sh). Byte counts come from
# --json replicas[]; every pull that succeeds is compared byte for byte with the source.
# usage: replica.sh FERRY
set -uo pipefail
ferry=${1:?usage: replica.sh FERRY}
tests=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ferry-replica.XXXXXX)
srv=$work/swift
cleanup() {
	[ -d "$srv" ] && "$tests/s3/swift-server.sh" stop "$srv" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home
mkdir -p "$HOME"
unset FERRY_PASSPHRASE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
# shellcheck source=../lib.sh
. "$tests/lib.sh"
ERR_LINES=6 EXPECT_TIMEOUT=300
cd "$work" || exit 1

# run CODE NAME ARGS...: ferry ARGS, stdout to out, stderr to err; checks the exit code
run() {
	local code=$1 name=$2
	shift 2
	expect "$code" "$name" "$ferry" "$@"
}
# rep NAME FIELD: a replica's field from the last --json output ("-" when absent)
rep() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
r=[x for x in d.get("replicas",[]) if x["name"]==sys.argv[2]]
v=r[0][sys.argv[3]] if r else "-"
print(str(v).lower() if isinstance(v,bool) else v)' "$work/out" "$1" "$2" 2>/dev/null || echo "-"
}
top() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/out" "$1" 2>/dev/null || echo "-"; }
same() { diff -r "$work/src" "$1" >/dev/null 2>&1; }
nobj() { find "$1/data" -type f | wc -l; }
# big OBJECT-FILE...: flips one byte in the middle of each (a data frame, not the header or index)
flip_middle() { python3 - "$@" <<'EOF'
import sys
for p in sys.argv[1:]:
    b = bytearray(open(p, 'rb').read())
    b[len(b) // 2] ^= 0x5a
    open(p, 'wb').write(b)
EOF
}

# the source: 6 files of 1.2 MB (an object each, several 256 KiB chunks) and 40 small ones (packed)
src=$work/src
mkdir -p "$src/big" "$src/small/deep"
for i in 1 2 3 4 5 6; do head -c 1200000 /dev/urandom >"$src/big/f$i.bin"; done
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom >"$src/small/deep/s$i"; done
ln -s ../big/f1.bin "$src/small/link"
"$ferry" init st --chunk-size 256K >/dev/null && "$ferry" push "$src" st >/dev/null || { echo "FAIL - set up the store"; exit 1; }
objects=$(nobj st)
check "the store holds $objects data objects" '[ "$objects" -ge 7 ]'
cp -a st cheap && cp -a st mid
cat >"$work/ferry.conf" <<EOC
[replica "home"]
url = $work/st
price_per_gb = 0.09

[replica "cheap"]
url = $work/cheap
price_per_gb = 0.01

[replica "mid"]
url = $work/mid/
price_per_gb = 0.02

[replica "gone"]
url = $work/no/such/dir
price_per_gb = 0.001
EOC
cfg=(--config "$work/ferry.conf")

# 1. everything from the cheapest
run 0 "pull with two priced replicas" pull st d1 "${cfg[@]}" --replica cheap --replica mid --json
check "pull from replicas: byte-identical" 'same d1'
read_total=$(top bytes_read)
check "the cheapest replica carried all $read_total bytes" '[ "$(rep cheap bytes)" = "$read_total" ] && [ "$read_total" -gt 7000000 ]'
check "all $objects objects from it, none from the others" \
	'[ "$(rep cheap objects)" = "$objects" ] && [ "$(rep mid bytes)" = 0 ] && [ "$(rep home bytes)" = 0 ]'
check "the store is priced by the [replica] whose url names it" \
	'[ "$(rep home primary)" = true ] && [ "$(rep home price_per_gb)" = 0.09 ] && [ "$(rep cheap reachable)" = true ]'
usd=$(rep cheap usd)
check "usd = bytes / 1e9 x price ($usd)" 'python3 -c "import sys; sys.exit(abs($usd - $read_total / 1e9 * 0.01) > 1e-12)"'
run 0 "replicas by URL without a config: a local path costs 0, the store first" pull st d1b --replica "$work/cheap" --json
check "ties go to the store: it carried every byte" \
	'same d1b && [ "$(rep primary bytes)" = "$(top bytes_read)" ] && [ "$(rep replica1 bytes)" = 0 ]'
check "an unnamed replica is replica1, with its URL" '[ "$(rep replica1 url)" = "$work/cheap" ]'

# 2. the cheapest misses some objects and has one cut short: those come from the next, and say so
rm -rf cheap2 && cp -a st cheap2
missing=$(find cheap2/data -type f | sort | head -3)
rm -f $missing
short=$(find cheap2/data -type f | sort | tail -1)
truncate -s $(($(stat -c %s "$short") / 2)) "$short"
sed -i "s|^url = $work/cheap\$|url = $work/cheap2|" "$work/ferry.conf"
run 0 "pull with 3 objects missing from the cheapest, 1 truncated" pull st d2 "${cfg[@]}" --replica cheap --replica mid --json
check "byte-identical with missing objects" 'same d2'
check "the 4 objects came from the next cheapest ($(rep mid objects)), the rest from the cheapest" \
	'[ "$(rep cheap objects)" = $((objects - 4)) ] && [ "$(rep mid objects)" = 4 ] && [ "$(rep cheap fallbacks)" = 4 ]'
check "the bytes add up; the dear store gave none" \
	'[ $(( $(rep cheap bytes) + $(rep mid bytes) )) = "$(top bytes_read)" ] && [ "$(rep home bytes)" = 0 ]'
check "one line per missing or damaged object, naming the replica" \
	'[ "$(grep -c "replica cheap: object data/.*missing.*trying the next replica" err)" = 3 ] && [ "$(wc -l <err)" = 4 ]'
check "a fallback is not an error" '[ "$(top errors)" = 0 ]'

# 3. a corrupted chunk on the cheapest: detected, the chunk and the rest of its object come from the next
rm -rf cheap3 && cp -a st cheap3
bigobj=$(find cheap3/data -type f -size +1000k | sort | head -2)
flip_middle $bigobj
sed -i "s|^url = $work/cheap2\$|url = $work/cheap3|" "$work/ferry.conf"
run 0 "pull with 2 corrupted objects on the cheapest" pull st d3 "${cfg[@]}" --replica cheap --replica mid --json
check "byte-identical: the corrupted chunks were read from the next replica" 'same d3'
check "both objects failed over ($(rep mid objects) from mid)" '[ "$(rep cheap fallbacks)" = 2 ] && [ "$(rep mid objects)" = 2 ]'
check "the corruption is named: replica, object, chunk" \
	'grep -q "replica cheap: object data/.*: chunk [0-9]*: checksum mismatch.*trying the next replica" err'
check "no error when a replica served the chunk" '[ "$(top errors)" = 0 ]'
# the same damage everywhere: the pull fails clearly, never writes wrong bytes
rm -rf st4 mid4 cheap4 && cp -a st st4 && cp -a st mid4 && cp -a st cheap4
one=$(echo "$bigobj" | head -1)
for d in st4 mid4 cheap4; do flip_middle "$d/${one#cheap3/}"; done
run 3 "the same chunk corrupted in every copy: integrity failure (exit 3)" pull st4 d4 --replica cheap4 --replica mid4
check "each copy was tried once, then the file failed" \
	'[ "$(grep -c "checksum mismatch (data corrupted); trying the next replica" err)" = 2 ] && grep -q "no other replica left" err'
bad_files=$(for f in "$src"/big/*; do [ -f "d4/big/${f##*/}" ] && cmp -s "$f" "d4/big/${f##*/}" || echo "${f##*/}"; done)
check "the damaged file is not written ($bad_files); the others are intact" '[ "$(echo "$bad_files" | wc -w)" = 1 ] && [ ! -e "d4/big/$bad_files" ]'

# 4. an unreachable replica (cheapest, but its path does not exist) falls back
run 0 "pull with an unreachable cheapest replica" pull st d5 "${cfg[@]}" --replica gone --replica mid --json
check "it is left out; the next cheapest carried every byte" \
	'same d5 && [ "$(rep gone reachable)" = false ] && [ "$(rep mid bytes)" = "$(top bytes_read)" ]'
check "one line says so" 'grep -q "replica gone .*unreachable.*not used" err && [ "$(wc -l <err)" = 1 ]'

# 5. refused: another store, bad URLs, the store itself, sync's push side
"$ferry" init other >/dev/null
run 2 "a replica of another store is refused" pull st d6 --replica other
check "one line naming it; nothing pulled" \
	'grep -q "replica1 (other): another store" err && [ "$(wc -l <err)" = 1 ] && [ ! -e d6 ]'
for u in ftp://host/x s3://A "" st/; do
	run 2 "--replica '$u' is a usage error" pull st d7 --replica "$u"
	check "... one line, nothing pulled" '[ "$(wc -l <err)" = 1 ] && [ ! -e d7 ]'
done
run 2 "--replica on sync's push side is refused" sync "$src" st --replica mid
printf '[replica "x"]\nprice_per_gb = 0.1\n' >"$work/bad.conf"
run 2 "[replica] without url: config error" pull st d8 --config "$work/bad.conf" --replica x
check "... naming the section" 'grep -q "replica \"x\"\]: needs url" err'
printf '[replica "x"]\nurl = /tmp\nprice_per_gb = cheap\n' >"$work/bad.conf"
run 2 "[replica] with a bad price: config error" pull st d8 --config "$work/bad.conf" --replica x
check "... naming file and line" 'grep -q "bad.conf:3: price_per_gb" err'
# a local replica whose section names an S3 endpoint: the endpoint means nothing to a directory
printf '[replica "x"]\nurl = %s\nprice_per_gb = 0.01\nendpoint = http://127.0.0.1:9\n' "$work/cheap" >"$work/ep.conf"
run 0 "a local replica with an endpoint in its section" pull st d8b --config "$work/ep.conf" --replica x --json
check "... is opened and reachable" 'same d8b && [ "$(rep x reachable)" = true ]'

# 6. sync (pull side) shares the code
run 0 "sync STORE DST with replicas" sync st d9 "${cfg[@]}" --replica cheap --replica mid --json
check "sync reads from the replicas too" 'same d9 && [ "$(rep cheap bytes)" -gt 0 ] && [ "$(rep mid objects)" = 2 ]'

# 7. an encrypted store: a tampered chunk fails authentication on the cheapest and is read from the next
export FERRY_PASSPHRASE=replica-test-pass
"$ferry" init est --encrypt --scrypt-cost 10 --chunk-size 256K >/dev/null && "$ferry" push "$src" est >/dev/null
cp -a est ecopy && cp -a est ecopy2
flip_middle $(find ecopy/data -type f -size +1000k | sort | head -1)
printf '[replica "e0"]\nurl = %s\nprice_per_gb = 0.05\n[replica "e1"]\nurl = %s\nprice_per_gb = 0.01\n[replica "e2"]\nurl = %s\nprice_per_gb = 0.02\n' \
	"$work/est" "$work/ecopy" "$work/ecopy2" >"$work/e.conf"
run 0 "encrypted: pull with a tampered chunk on the cheapest" pull est d10 --config "$work/e.conf" --replica e1 --replica e2 --json
check "authentication failure detected; the object came from the next replica" \
	'same d10 && grep -q "replica e1: .*authentication failed.*trying the next" err && [ "$(rep e2 objects)" = 1 ]'
run 2 "encrypted store: a plain store's copy is refused" pull est d11 --replica st
unset FERRY_PASSPHRASE

# 8. S3: an S3 primary with a local mirror, a local primary with an S3 replica, a dead endpoint
S3_UP_ON_FAIL=return S3_BUCKETS=replica
# shellcheck source=../s3/server_up.sh
if ! . "$tests/s3/server_up.sh"; then
	echo "skip - S3 part: the Swift test server did not start (tests/s3/swift-server.sh install)"
	rm -rf "$srv"
else
	secret=$AWS_SECRET_ACCESS_KEY
	aws s3 cp --recursive --quiet st s3://replica/st || bad "copy the store to S3"
	export FERRY_S3_ATTEMPTS=2
	: >"$work/all"
	run 0 "S3 store, local mirror: pull" pull s3://replica/st d20 --replica "$work/mid" --json
	cat out err >>"$work/all"
	check "the local mirror (price 0) carried every byte; the S3 store (price unknown) none" \
		'same d20 && [ "$(rep replica1 bytes)" = "$(top bytes_read)" ] && [ "$(rep primary bytes)" = 0 ]'
	check "an unknown price is null in --json" '[ "$(rep primary price_per_gb)" = None ] && [ "$(rep primary usd)" = None ]'
	cat >"$work/s3.conf" <<EOC
[replica "home"]
url = $work/st
price_per_gb = 0.09

[replica "bucket"]
url = s3://replica/st
endpoint = $S3_ENDPOINT
price_per_gb = 0.02

[replica "dead"]
url = s3://replica/st
endpoint = http://127.0.0.1:9
price_per_gb = 0.001
EOC
	run 0 "local store, S3 replica priced cheaper: pull" pull st d21 --config "$work/s3.conf" --replica bucket --json
	cat out err >>"$work/all"
	check "the S3 replica carried every byte" \
		'same d21 && [ "$(rep bucket bytes)" = "$(top bytes_read)" ] && [ "$(rep bucket objects)" = "$objects" ]'
	gone=$(aws s3 ls --recursive s3://replica/st/data/ | awk '{print $4}' | sort | head -2)
	for k in $gone; do aws s3 rm --quiet "s3://replica/$k"; done
	run 0 "S3 replica missing 2 objects: pull" pull st d22 --config "$work/s3.conf" --replica bucket --json
	cat out err >>"$work/all"
	check "the 2 missing objects came from the store (404 on the replica)" \
		'same d22 && [ "$(rep home objects)" = 2 ] && [ "$(rep bucket fallbacks)" = 2 ] && [ "$(rep bucket objects)" = $((objects - 2)) ]'
	t0=$(date +%s)
	run 0 "a dead endpoint (cheapest) falls back" pull st d23 --config "$work/s3.conf" --replica dead --replica mid --json
	cat out err >>"$work/all"
	check "left out after one line; the next cheapest carried every byte ($(($(date +%s) - t0)) s)" \
		'same d23 && [ "$(rep dead reachable)" = false ] && [ "$(rep replica2 bytes)" = "$(top bytes_read)" ]'
	check "... the line names it" 'grep -q "replica dead (s3://replica/st): unreachable" err'
	run 0 "sync s3 store to a dir with a local mirror" sync s3://replica/st d24 --replica "$work/cheap" --json
	cat out err >>"$work/all"
	check "sync: the mirror carried every byte" 'same d24 && [ "$(rep replica1 bytes)" = "$(top bytes_read)" ]'
	check "no secret key in any output" '! grep -qF -- "$secret" "$work/all"'
fi

finish
