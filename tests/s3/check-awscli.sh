#!/bin/bash
# check-awscli.sh [--all] DIR - check a server started by
# `swift-server.sh start DIR` with Debian's AWS CLI (/usr/bin/aws).
#
# Always: SigV4 in use, create bucket, 20 MiB upload (multipart), list,
# download + compare, ranged GET, delete, wrong secret -> 403
# SignatureDoesNotMatch.
# --all: also probe the s3api behaviour listed in tests/s3/README.md
# (ListObjectsV2 paging, DeleteObjects, CopyObject, UploadPartCopy,
# ListParts, multipart limits, Content-MD5, checksums, payload hashes,
# virtual-hosted style, presigned URLs ...).
#
# Prints one line per check and "N passed, N failed"; exits 1 if any failed.

# shellcheck disable=SC2015  # 'test && ok || bad': ok never fails
set -u -o pipefail

ALL=0
if [ "${1:-}" = --all ]; then ALL=1; shift; fi
[ $# = 1 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
D=$(realpath -m -- "$1")
[ -f "$D/env" ] || { echo "no running server in $D (no $D/env)" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
set -a
# shellcheck disable=SC1091
. "$D/env"
set +a
# The CLI must see nothing but this server: no user config, no instance
# metadata lookups (never leave loopback), no pager.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_PAGER='' AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE

AWS=/usr/bin/aws                 # Debian's CLI 2.9; not whatever is on PATH
aws_() { timeout 120 "$AWS" --endpoint-url "$S3_ENDPOINT" "$@"; }
s3req() { timeout 60 /usr/bin/python3 "$HERE/swift/swiftd.py" s3-req "$@"; }

W=$(mktemp -d /tmp/ferry-s3-check.XXXXXX)
trap 'rm -rf "$W"' EXIT
BUCKET=ferry-check-$$-$RANDOM
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
ERRFILE= # a failure's line says what went wrong
# expect_err CODE DESCRIPTION CMD...: CMD must fail with S3 error CODE
expect_err() {
    local code=$1 what=$2 out
    shift 2
    if out=$("$@" 2>&1); then
        bad "$what: succeeded, expected $code"
    elif grep -q "($code)" <<<"$out"; then
        ok "$what -> $code"
    else
        bad "$what: expected $code, got: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
    fi
}
# expect_status STATUS CODE DESCRIPTION s3req-ARGS...: status line + XML code
expect_status() {
    local status=$1 code=$2 what=$3 out
    shift 3
    out=$(s3req "$@" 2>&1)
    if [ "$(head -n 1 <<<"$out")" = "$status" ] &&
        { [ -z "$code" ] || grep -q "<Code>$code</Code>" <<<"$out"; }; then
        ok "$what -> $status${code:+ $code}"
    else
        bad "$what: expected $status $code, got: $(head -c 300 <<<"$out" | tr '\n' ' ')"
    fi
}
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ------------------------------------------------------------ the basics

out=$(aws_ s3api list-buckets --debug 2>&1 >/dev/null)
if grep -q "Authorization.*AWS4-HMAC-SHA256 Credential=$AWS_ACCESS_KEY_ID/[0-9]*/$AWS_REGION/s3/aws4_request" <<<"$out" &&
    grep -q '"GET / HTTP/1.1" 200' <<<"$out"; then
    ok "ListBuckets signed with SigV4 (AWS4-HMAC-SHA256, region $AWS_REGION)"
else
    bad "ListBuckets with SigV4: $(grep -m1 -i 'error' <<<"$out")"
fi

if aws_ s3api create-bucket --bucket "$BUCKET" >/dev/null; then
    ok "CreateBucket $BUCKET"
else
    bad "CreateBucket $BUCKET"
fi

head -c $((20 * 1024 * 1024)) /dev/urandom >"$W/big"
# The CLI splits at 8 MiB by default: 8 + 8 + 4 MiB -> 3 parts.
want_etag=$(/usr/bin/python3 - "$W/big" <<'EOF'
import hashlib, sys
data = open(sys.argv[1], 'rb').read()
step = 8 * 1024 * 1024
parts = [hashlib.md5(data[i:i + step]).digest() for i in range(0, len(data), step)]
print('"%s-%d"' % (hashlib.md5(b''.join(parts)).hexdigest(), len(parts)))
EOF
)
if aws_ s3 cp --only-show-errors "$W/big" "s3://$BUCKET/dir/big.bin"; then
    etag=$(aws_ s3api head-object --bucket "$BUCKET" --key dir/big.bin | json "d['ETag']")
    if [ "$etag" = "$want_etag" ]; then
        ok "20 MiB upload went multipart (ETag $etag)"
    else
        bad "20 MiB upload: ETag $etag, expected multipart ETag $want_etag"
    fi
else
    bad "20 MiB upload (aws s3 cp)"
fi

if aws_ s3 ls "s3://$BUCKET/dir/" | grep -q ' 20971520 big.bin$'; then
    ok "list shows dir/big.bin, 20971520 bytes"
else
    bad "list: $(aws_ s3 ls "s3://$BUCKET/dir/" 2>&1)"
fi

if aws_ s3 cp --only-show-errors "s3://$BUCKET/dir/big.bin" "$W/big.back" &&
    cmp -s "$W/big" "$W/big.back"; then
    ok "download is identical"
else
    bad "download differs or failed"
fi

if out=$(aws_ s3api get-object --bucket "$BUCKET" --key dir/big.bin \
    --range bytes=0-99 "$W/range") &&
    [ "$(stat -c %s "$W/range")" = 100 ] &&
    cmp -s "$W/range" <(head -c 100 "$W/big") &&
    [ "$(json "d['ContentRange']" <<<"$out")" = "bytes 0-99/20971520" ]; then
    ok "ranged GET bytes=0-99 (Content-Range bytes 0-99/20971520)"
else
    bad "ranged GET bytes=0-99: $out"
fi

if aws_ s3 rm --only-show-errors "s3://$BUCKET/dir/big.bin"; then
    expect_err 404 "object gone after delete" \
        aws_ s3api head-object --bucket "$BUCKET" --key dir/big.bin
else
    bad "delete object"
fi

expect_err SignatureDoesNotMatch "ListBuckets with a wrong secret" \
    env AWS_SECRET_ACCESS_KEY=not-the-secret "$AWS" --endpoint-url "$S3_ENDPOINT" s3api list-buckets
expect_status 403 SignatureDoesNotMatch "signed GET with a wrong secret" \
    GET / --secret not-the-secret

# ------------------------------------------------------------ s3api probes

if [ $ALL = 1 ]; then
    for i in 1 2 3 4 5; do
        echo "$i" >"$W/k$i"
        aws_ s3api put-object --bucket "$BUCKET" --key "p/k$i" --body "$W/k$i" >/dev/null
    done
    # ListObjectsV2 paging by continuation token
    keys=() token=
    for i in 1 2 3 4; do
        out=$(aws_ s3api list-objects-v2 --bucket "$BUCKET" --prefix p/ \
            --max-keys 2 --no-paginate ${token:+--continuation-token "$token"})
        mapfile -t -O "${#keys[@]}" keys < <(json "'\n'.join(o['Key'] for o in d.get('Contents', []))" <<<"$out")
        token=$(json "d.get('NextContinuationToken', '')" <<<"$out")
        [ -n "$token" ] || break
    done
    if [ "${keys[*]}" = "p/k1 p/k2 p/k3 p/k4 p/k5" ] && [ "$i" = 3 ]; then
        ok "ListObjectsV2 pages of 2 by continuation-token (3 pages)"
    else
        bad "ListObjectsV2 paging: got ${keys[*]} in $i pages"
    fi
    out=$(aws_ s3api list-objects-v2 --bucket "$BUCKET" --prefix p/ --start-after p/k3 --query 'Contents[].Key' --output text)
    [ "$out" = "$(printf 'p/k4\tp/k5')" ] && ok "ListObjectsV2 start-after" || bad "ListObjectsV2 start-after: $out"
    out=$(aws_ s3api list-objects --bucket "$BUCKET" --prefix p/ --marker p/k2 --max-keys 2 --no-paginate --query '[IsTruncated, Contents[].Key]' --output text)
    [ "$out" = "$(printf 'True\np/k3\tp/k4')" ] && ok "ListObjects (v1) marker + max-keys" || bad "ListObjects v1 marker: $out"
    out=$(aws_ s3api list-objects-v2 --bucket "$BUCKET" --delimiter / --query 'CommonPrefixes[].Prefix' --output text)
    [ "$out" = "p/" ] && ok "ListObjectsV2 delimiter -> CommonPrefixes" || bad "delimiter: $out"

    # DeleteObjects (missing keys count as deleted, like S3)
    out=$(aws_ s3api delete-objects --bucket "$BUCKET" --delete '{"Objects":[{"Key":"p/k1"},{"Key":"p/k2"},{"Key":"p/none"}]}')
    n=$(json "len(d.get('Deleted', [])), len(d.get('Errors', []))" <<<"$out")
    [ "$n" = "3 0" ] && ok "DeleteObjects (3 keys, one missing: all Deleted)" || bad "DeleteObjects: $out"
    printf '<Delete><Object><Key>p/k3</Key></Object></Delete>' >"$W/del.xml"
    expect_status 400 InvalidRequest "DeleteObjects without Content-MD5" POST "/$BUCKET?delete" --body "$W/del.xml"

    # CopyObject
    aws_ s3api copy-object --bucket "$BUCKET" --key p/copy --copy-source "$BUCKET/p/k3" \
        --metadata-directive REPLACE --metadata a=b --content-type text/x-ferry >/dev/null &&
        out=$(aws_ s3api head-object --bucket "$BUCKET" --key p/copy --query '[ContentType, Metadata.a, ContentLength]' --output text) &&
        [ "$out" = "$(printf 'text/x-ferry\tb\t2')" ] && ok "CopyObject with REPLACE metadata" || bad "CopyObject: ${out:-}"

    # Multipart: UploadPart, UploadPartCopy, ListParts, limits, Complete
    head -c $((6 * 1024 * 1024)) /dev/urandom >"$W/six"
    head -c $((1024 * 1024)) /dev/urandom >"$W/one"
    uid=$(aws_ s3api create-multipart-upload --bucket "$BUCKET" --key mp --query UploadId --output text)
    e1=$(aws_ s3api upload-part --bucket "$BUCKET" --key mp --upload-id "$uid" --part-number 1 --body "$W/six" --query ETag --output text)
    e2=$(aws_ s3api upload-part-copy --bucket "$BUCKET" --key mp --upload-id "$uid" --part-number 2 \
        --copy-source "$BUCKET/p/k3" --copy-source-range bytes=0-0 --query CopyPartResult.ETag --output text)
    [ -n "$e2" ] && ok "UploadPartCopy with copy-source-range" || bad "UploadPartCopy"
    e1000=$(aws_ s3api upload-part --bucket "$BUCKET" --key mp --upload-id "$uid" --part-number 1000 --body "$W/one" --query ETag --output text)
    [ -n "$e1000" ] && ok "UploadPart number 1000 accepted" || bad "UploadPart number 1000"
    expect_err InvalidArgument "UploadPart number 1001 (max_upload_part_num 1000)" \
        aws_ s3api upload-part --bucket "$BUCKET" --key mp --upload-id "$uid" --part-number 1001 --body "$W/one"
    out=$(aws_ s3api list-parts --bucket "$BUCKET" --key mp --upload-id "$uid" --max-parts 2 --no-paginate \
        --query '[IsTruncated, NextPartNumberMarker, Parts[].PartNumber]' --output text)
    [ "$out" = "$(printf 'True\t2\n1\t2')" ] && ok "ListParts max-parts 2 (truncated, marker 2)" || bad "ListParts: $out"
    out=$(aws_ s3api list-multipart-uploads --bucket "$BUCKET" --query 'Uploads[].UploadId' --output text)
    [ "$out" = "$uid" ] && ok "ListMultipartUploads" || bad "ListMultipartUploads: $out"
    mpu() { /usr/bin/python3 -c 'import json,sys; print(json.dumps({"Parts":[{"PartNumber":int(a.split("=",1)[0]),"ETag":a.split("=",1)[1]} for a in sys.argv[1:]]}))' "$@"; }
    expect_err EntityTooSmall "Complete with a 1-byte part before the last (min_segment_size 5 MiB)" \
        aws_ s3api complete-multipart-upload --bucket "$BUCKET" --key mp --upload-id "$uid" \
        --multipart-upload "$(mpu 2="$e2" 1000="$e1000")"
    expect_err InvalidPartOrder "Complete with parts out of order" \
        aws_ s3api complete-multipart-upload --bucket "$BUCKET" --key mp --upload-id "$uid" \
        --multipart-upload "$(mpu 2="$e2" 1="$e1")"
    expect_err InvalidPart "Complete with a wrong part ETag" \
        aws_ s3api complete-multipart-upload --bucket "$BUCKET" --key mp --upload-id "$uid" \
        --multipart-upload "$(mpu 1="$e1" 2='"00000000000000000000000000000000"')"
    if out=$(aws_ s3api complete-multipart-upload --bucket "$BUCKET" --key mp --upload-id "$uid" \
        --multipart-upload "$(mpu 1="$e1" 2="$e2")"); then
        aws_ s3api get-object --bucket "$BUCKET" --key mp "$W/mp" >/dev/null
        if cmp -s "$W/mp" <(cat "$W/six"; head -c 1 "$W/k3"); then
            ok "Complete (6 MiB part + 1-byte copied last part), content right, ETag $(json "d['ETag']" <<<"$out")"
        else
            bad "completed multipart content differs"
        fi
    else
        bad "CompleteMultipartUpload"
    fi
    uid=$(aws_ s3api create-multipart-upload --bucket "$BUCKET" --key mp2 --query UploadId --output text)
    aws_ s3api abort-multipart-upload --bucket "$BUCKET" --key mp2 --upload-id "$uid" &&
        expect_err NoSuchUpload "ListParts after AbortMultipartUpload" \
            aws_ s3api list-parts --bucket "$BUCKET" --key mp2 --upload-id "$uid"

    # Integrity headers
    md5=$(openssl md5 -binary "$W/k1" | base64)
    aws_ s3api put-object --bucket "$BUCKET" --key i/md5 --body "$W/k1" --content-md5 "$md5" >/dev/null &&
        ok "PutObject with a right Content-MD5" || bad "PutObject with a right Content-MD5"
    expect_err BadDigest "PutObject with a wrong Content-MD5" \
        aws_ s3api put-object --bucket "$BUCKET" --key i/md5bad --body "$W/k1" --content-md5 1B2M2Y8AsgTpgAmY7PhCfg==
    uid=$(aws_ s3api create-multipart-upload --bucket "$BUCKET" --key i/mp --query UploadId --output text)
    expect_err BadDigest "UploadPart with a wrong Content-MD5" \
        aws_ s3api upload-part --bucket "$BUCKET" --key i/mp --upload-id "$uid" --part-number 1 --body "$W/k1" --content-md5 1B2M2Y8AsgTpgAmY7PhCfg==
    aws_ s3api abort-multipart-upload --bucket "$BUCKET" --key i/mp --upload-id "$uid"
    if aws_ s3api put-object --bucket "$BUCKET" --key i/crc --body "$W/k1" --checksum-crc32 AAAAAA== >/dev/null; then
        out=$(aws_ s3api head-object --bucket "$BUCKET" --key i/crc --checksum-mode ENABLED)
        if grep -q Checksum <<<"$out"; then
            bad "x-amz-checksum-crc32: a wrong value was stored and returned?"
        else
            ok "x-amz-checksum-crc32 (wrong value) accepted and ignored: not checked, not stored"
        fi
    else
        ok "x-amz-checksum-crc32 with a wrong value rejected"
    fi
    expect_status 400 BadDigest "PUT whose body does not match x-amz-content-sha256" \
        PUT "/$BUCKET/i/sha" --body "$W/k1" --payload-hash "$(printf '0%.0s' $(seq 64))"
    expect_status 404 NoSuchKey "... and that object was not stored" GET "/$BUCKET/i/sha"
    expect_status 200 "" "PUT with x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        PUT "/$BUCKET/i/unsigned" --body "$W/k1" --payload-hash UNSIGNED-PAYLOAD
    expect_status 501 NotImplemented "PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD (aws-chunked)" \
        PUT "/$BUCKET/i/chunked" --body "$W/k1" --payload-hash STREAMING-AWS4-HMAC-SHA256-PAYLOAD
    expect_status 501 NotImplemented "conditional PUT (If-None-Match: *)" \
        PUT "/$BUCKET/i/cond" --body "$W/k1" --header 'If-None-Match:*'
    expect_status 403 RequestTimeTooSkewed "request signed 20 minutes in the future" \
        GET / --skew 1200

    # Addressing
    port=${S3_ENDPOINT##*:}
    expect_status 200 "" "virtual-hosted style (Host: $BUCKET.localhost:$port)" \
        GET /i/unsigned --host "$BUCKET.localhost:$port"
    expect_status 200 "" "path-style with Host: localhost:$port" \
        GET "/$BUCKET/i/unsigned" --host "localhost:$port"
    url=$(aws_ s3 presign "s3://$BUCKET/i/unsigned" --expires-in 300)
    if [ "$(curl -s --max-time 10 "$url")" = 1 ]; then
        ok "presigned (query-string SigV4) GET with curl"
    else
        bad "presigned GET: $url"
    fi

    # Errors
    expect_err InvalidRange "GET with a range past the end" \
        aws_ s3api get-object --bucket "$BUCKET" --key i/unsigned --range bytes=100-200 "$W/x"
    expect_status 404 NoSuchKey "GET of a missing key" GET "/$BUCKET/nope"
    expect_status 404 NoSuchBucket "GET of a missing bucket" GET "/no-such-bucket-$$/x"
    expect_err BucketNotEmpty "DeleteBucket of a non-empty bucket" \
        aws_ s3api delete-bucket --bucket "$BUCKET"
    expect_err InvalidBucketName "CreateBucket Bad_Name" aws_ s3api create-bucket --bucket Bad_Name
fi

# ------------------------------------------------------------ clean up

if aws_ s3 rb --force "s3://$BUCKET" >/dev/null 2>"$W/rb.err"; then
    ok "bucket emptied and deleted"
else
    bad "delete bucket: $(cat "$W/rb.err")"
fi

finish
