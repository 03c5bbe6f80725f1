#!/usr/bin/env bash
# ferry against a real S3 server: starts Swift with s3api on 127.0.0.1 (tests/s3/swift-server.sh),
# runs the backend test program, then the ferry binary end to end, and stops the server.
# usage: s3.sh FERRY S3_BACKEND_TEST
set -uo pipefail
ferry=${1:?usage: s3.sh FERRY S3_BACKEND_TEST}
backend_test=${2:?usage: s3.sh FERRY S3_BACKEND_TEST}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-s3.XXXXXX)
srv=$work/swift
cleanup() {
	"$here/swift-server.sh" stop "$srv" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home
mkdir -p "$HOME" "$srv"
unset FERRY_PASSPHRASE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
. "$here/../lib.sh"
EXPECT_TIMEOUT=300

S3_BUCKETS="ferry-test"
. "$here/server_up.sh"
secret=$AWS_SECRET_ACCESS_KEY

# ---- the backend's own checks
FERRY_S3_TEST_URL="s3://ferry-test/backend test+odd%" timeout 600 "$backend_test" >"$work/bt.out" 2>&1
rc=$?
sed 's/^/  backend: /' "$work/bt.out" | grep -v '^  backend: ok' | head -40
bt_pass=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$work/bt.out")
bt_fail=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$work/bt.out")
pass=$((pass + ${bt_pass:-0}))
fail=$((fail + ${bt_fail:-0}))
[ "$rc" -eq 0 ] && ok "backend test program exits 0" || bad "backend test program exits 0 (exit $rc)"

# ---- a source tree: small files (packed), a multi-part file, odd names, a symlink
src=$work/src
mkdir -p "$src/dir with space/ü" "$src/pack"
for i in $(seq 1 300); do printf 'file %d %s\n' "$i" "$(seq 1 $((i % 50)))" >"$src/pack/f$i.txt"; done
head -c 12000000 /dev/urandom >"$src/big.bin"
seq 1 400000 >"$src/dir with space/ü/seq+%.txt"
: >"$src/empty"
ln -s "pack/f1.txt" "$src/link"
head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"
store="s3://ferry-test/stores/one"

expect 0 "init an encrypted store on S3" "$ferry" init "$store" --encrypt --key-file "$work/key" --chunk-size 1M
expect 2 "init over an existing store is refused" "$ferry" init "$store" --key-file "$work/key"
expect 0 "push to S3" "$ferry" push "$src" "$store" --key-file "$work/key" --json
written=$(json_num bytes_written)
[ "${written:-0}" -gt 12000000 ] && ok "push reports bytes_written ($written)" || bad "push reports bytes_written ($written)"
expect 0 "snapshots on S3" "$ferry" snapshots "$store" --key-file "$work/key"
[ "$(wc -l <"$work/out")" -eq 1 ] && ok "one snapshot listed" || bad "one snapshot listed"
expect 0 "ls on S3" "$ferry" ls "$store" --key-file "$work/key"
grep -q 'seq+%.txt' "$work/out" && ok "ls shows the odd name" || bad "ls shows the odd name"
expect 0 "pull from S3" "$ferry" pull "$store" "$work/out1" --key-file "$work/key" --json
diff -r --no-dereference "$src" "$work/out1" >/dev/null && ok "pulled tree is byte-identical" || bad "pulled tree is byte-identical"
[ "$(stat -c %Y "$src/big.bin")" = "$(stat -c %Y "$work/out1/big.bin")" ] && ok "mtime kept" || bad "mtime kept"
expect 0 "verify --read-data on S3" "$ferry" verify "$store" --read-data --key-file "$work/key" --json
expect 0 "verify on S3 (HEAD per object: sizes and chunk ranges, no data)" "$ferry" verify "$store" --key-file "$work/key"
expect 0 "sync with nothing changed" "$ferry" sync "$src" "$store" --key-file "$work/key" --json
[ "$(json_num bytes_written)" = 0 ] && ok "unchanged sync writes nothing" || bad "unchanged sync writes nothing"
echo changed >>"$src/pack/f7.txt"
expect 0 "sync after one change" "$ferry" sync "$src" "$store" --key-file "$work/key" --json
[ "$(json_num files_transferred)" = 1 ] && ok "one file transferred" || bad "one file transferred ($(json_num files_transferred))"
expect 0 "sync pull direction" "$ferry" sync "$store" "$work/out1" --key-file "$work/key" --json
cmp -s "$src/pack/f7.txt" "$work/out1/pack/f7.txt" && ok "sync pull brought the change" || bad "sync pull brought the change"

# ---- prune on S3: repack of a mostly-garbage pack, garbage deleted with DeleteObjects
rsrc=$work/rsrc
mkdir -p "$rsrc/small" "$rsrc/big"
for i in $(seq 0 199); do head -c $((i * 97 + 1000)) /dev/urandom >"$rsrc/small/f$i"; done
for i in 1 2 3 4 5; do head -c 1100000 /dev/urandom >"$rsrc/big/b$i"; done
rstore="s3://ferry-test/stores/repack"
expect 0 "init a store for prune" "$ferry" init -q "$rstore" --chunk-size 256K
expect 0 "sync small and big files" "$ferry" sync "$rsrc" "$rstore"
rm -rf "$rsrc/big"
find "$rsrc/small" -name 'f*[1-9]' -delete
expect 0 "sync after deleting the big files and 90 % of the small" "$ferry" sync "$rsrc" "$rstore"
FERRY_TEST_KILL_AT=repack-packs expect 137 "prune killed after writing the new pack" "$ferry" prune "$rstore" --keep-last 1
expect 0 "verify --read-data after the kill" "$ferry" verify --read-data "$rstore"
FERRY_S3_DEBUG=1 expect 0 "prune on S3" "$ferry" prune "$rstore" --keep-last 1 --json
[ "$(json_num packs_repacked)" = 1 ] && [ "$(json_num objects_deleted)" -ge 7 ] &&
	ok "prune repacked the pack and deleted $(json_num objects_deleted) objects" || bad "prune on S3: $(cat "$work/out")"
ndel=$(grep -c 'POST [^ ]*?delete -> 200' "$work/err")
nsingle=$(grep -c 'DELETE [^ ]*/data/' "$work/err")
[ "$ndel" = 1 ] && [ "$nsingle" = 0 ] && ok "$(json_num objects_deleted) objects deleted in $ndel DeleteObjects request" ||
	bad "objects deleted in one DeleteObjects request (DeleteObjects $ndel, DELETE $nsingle)"
echo "  prune on S3: $(grep -c 'ferry: s3: .* -> ' "$work/err") requests in all"
expect 0 "verify --read-data after the repack" "$ferry" verify --read-data "$rstore"
expect 0 "pull after the repack" "$ferry" pull "$rstore" "$work/rpull"
diff -r "$rsrc" "$work/rpull" >/dev/null && ok "pull after the repack is byte-identical" || bad "pull after the repack is byte-identical"

# ---- the endpoint from --endpoint or the config file instead of the environment
(
	unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
	expect 0 "--endpoint and --connections" "$ferry" snapshots "$store" --key-file "$work/key" --endpoint "$S3_ENDPOINT" --connections 2
	printf '[s3]\nendpoint = %s\nmax-parts = 1000\n' "$S3_ENDPOINT" >"$work/s3.conf"
	expect 0 "[s3] endpoint in the config file" "$ferry" snapshots "$store" --key-file "$work/key" --config "$work/s3.conf"
	expect 2 "a bad --endpoint exits 2" "$ferry" snapshots "$store" --key-file "$work/key" --endpoint ftp://x
	# precedence: flag > environment > config file (backend options, no environment of ours)
	printf '[s3]\nendpoint = http://127.0.0.1:1\nconnections = 2\n' >"$work/dead.conf"
	FERRY_S3_ATTEMPTS=1 expect 0 "--endpoint over the config file's endpoint" \
		"$ferry" snapshots "$store" --key-file "$work/key" --config "$work/dead.conf" --endpoint "$S3_ENDPOINT"
	AWS_ENDPOINT_URL_S3=$S3_ENDPOINT FERRY_S3_ATTEMPTS=1 expect 0 "AWS_ENDPOINT_URL_S3 over the config file's endpoint" \
		"$ferry" snapshots "$store" --key-file "$work/key" --config "$work/dead.conf"
	expect 0 "a local store takes no S3 options, and is not refused for them" \
		"$ferry" init "$work/local-opts" --config "$work/dead.conf" --endpoint "$S3_ENDPOINT" --connections 2 --verbose
	echo "$pass $fail" >"$work/counts"
)
read -r pass fail <"$work/counts"

# ---- errors
expect 5 "wrong key exits 5" "$ferry" pull "$store" "$work/out2" --key-file <(head -c 32 /dev/zero)
AWS_SECRET_ACCESS_KEY=wrong-secret-0123456789 expect 5 "wrong S3 secret exits 5" "$ferry" snapshots "$store" --key-file "$work/key"
grep_err "SignatureDoesNotMatch|AccessDenied|403" "wrong secret: the server's reason is named"
[ "$(grep -c . "$work/err")" -le 1 ] && ok "wrong secret: one line" || bad "wrong secret: one line"
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= expect 5 "no credentials exits 5" "$ferry" snapshots "$store" --key-file "$work/key"
grep_err "no credentials" "no credentials: says so"
expect 2 "missing bucket exits 2 (like a missing local store)" "$ferry" snapshots "s3://no-such-bucket-ferry/x" --key-file "$work/key"
grep_err "no-such-bucket-ferry.*(does not exist|NoSuchBucket)" "missing bucket named"
expect 2 "bad bucket name exits 2" "$ferry" init "s3://A_B/x"
AWS_ENDPOINT_URL=http://127.0.0.1:1 AWS_ENDPOINT_URL_S3= FERRY_S3_ATTEMPTS=3 expect 1 "refused connection fails" \
	"$ferry" snapshots "s3://ferry-test/x" --key-file "$work/key"
grep_err "127.0.0.1:1.*(onnect|refused)" "refused connection: the endpoint is named"

# ---- corruption behind our back: flip one byte of the big file's object
obj=$(aws s3 ls --recursive s3://ferry-test/stores/one/data/ | sort -k3 -n | tail -1 | awk '{print $4}')
aws s3 cp "s3://ferry-test/$obj" "$work/obj" >/dev/null 2>&1
printf '\xff' | dd of="$work/obj" bs=1 seek=5000 conv=notrunc status=none
aws s3 cp "$work/obj" "s3://ferry-test/$obj" >/dev/null 2>&1
expect 3 "verify --read-data finds the flipped byte (exit 3)" "$ferry" verify "$store" --read-data --key-file "$work/key"
grep_err "big.bin" "the damaged file is named"
expect 3 "pull of the damaged file fails with exit 3" "$ferry" pull "$store" "$work/out3" --key-file "$work/key" --include big.bin
[ ! -e "$work/out3/big.bin" ] && ok "no damaged file under its final name" || bad "no damaged file under its final name"

# ---- plain copies: one object per file, readable by the AWS CLI, and back
plain="s3://ferry-test/plain copy+%"
rm -f "$src/link"
expect 0 "copy up to S3" "$ferry" copy "$src" "$plain" --json
[ "$(json_num files_transferred)" = "$(find "$src" -type f | wc -l)" ] && ok "copy up: every file" || bad "copy up: every file"
aws s3 cp --recursive "$plain/" "$work/awsdown" >/dev/null 2>"$work/err"
diff -r "$src" "$work/awsdown" >/dev/null && ok "the AWS CLI reads ferry's objects byte-identical" || bad "the AWS CLI reads ferry's objects byte-identical"
aws s3api head-object --bucket ferry-test --key "plain copy+%/big.bin" >"$work/head" 2>&1
grep -q '"ferry-xxh128"' "$work/head" && ok "objects carry their xxh128" || bad "objects carry their xxh128"
expect 0 "copy down from S3" "$ferry" copy "$plain" "$work/down" --json
diff -r "$src" "$work/down" >/dev/null && ok "copy down: byte-identical" || bad "copy down: byte-identical"
[ "$(stat -c %Y "$src/big.bin")" = "$(stat -c %Y "$work/down/big.bin")" ] && ok "copy down: mtime kept" || bad "copy down: mtime kept"
aws s3 cp --recursive "$src/" "s3://ferry-test/by-aws/" >/dev/null 2>"$work/err"
expect 0 "copy down a tree the AWS CLI uploaded" "$ferry" copy "s3://ferry-test/by-aws" "$work/down2" --json
diff -r "$src" "$work/down2" >/dev/null && ok "AWS CLI upload copied down byte-identical" || bad "AWS CLI upload copied down byte-identical"
echo "not the original" >"$work/fake"
aws s3 cp "$work/fake" "$plain/pack/f9.txt" --metadata ferry-xxh128=00112233445566778899aabbccddeeff >/dev/null 2>&1
expect 3 "copy down detects an object whose bytes do not match its xxh128" "$ferry" copy "$plain" "$work/down3"
grep_err "f9.txt.*xxh128" "the mismatching file is named"
[ ! -e "$work/down3/pack/f9.txt" ] && ok "the mismatching file is not written" || bad "the mismatching file is not written"
cmp -s "$src/pack/f8.txt" "$work/down3/pack/f8.txt" && ok "the other files are" || bad "the other files are"

# ---- a file rewritten while it is copied up is reported, not stored torn (the server
# checks each part against the checksum of ferry's first read of it)
mkdir -p "$work/moving"
head -c 48000000 /dev/urandom >"$work/moving/big"
(for _ in $(seq 1 100000); do
	dd if=/dev/urandom of="$work/moving/big" bs=1M count=1 seek=$((RANDOM % 45)) conv=notrunc status=none
done) &
writer=$!
timeout 300 "$ferry" copy "$work/moving" "s3://ferry-test/moving" >"$work/out" 2>"$work/err"
rc=$?
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
[ "$rc" -ne 0 ] && ok "copy up of a file rewritten meanwhile fails (exit $rc)" || bad "copy up of a file rewritten meanwhile fails"
grep_err "big.*changed while being read" "the rewritten file is named"
[ -z "$(aws s3 ls "s3://ferry-test/moving/" 2>/dev/null)" ] && ok "no object stored for it" || bad "no object stored for it"
aws s3api list-multipart-uploads --bucket ferry-test --prefix moving/ >"$work/mpu" 2>&1
grep -q '"UploadId"' "$work/mpu" && bad "no unfinished upload left for it" || ok "no unfinished upload left for it"

# ---- secrets never printed
if grep -rqF -- "$secret" "$work/out" "$work/err" "$work/bt.out"; then bad "the S3 secret appears in output"; else ok "the S3 secret never appears in output"; fi

finish
