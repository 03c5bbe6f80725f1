# Sourced by the S3 suites once tests/lib.sh is sourced and $srv and $work exist: starts
# the Swift test server in $srv, exports what it prints (S3_ENDPOINT, the keys), defines
# aws (/usr/bin/aws at that endpoint) and makes the buckets named in $S3_BUCKETS.
# A server that does not start (or no /usr/bin/aws) is one FAIL line, the tail of the
# server's log, and `finish`, exit 1; with S3_UP_ON_FAIL=return it is nothing but a
# return status of 1, for a script that then skips its S3 part. A bucket that cannot be
# made is a FAIL line, `finish` and exit 1 either way.
if [ ! -x /usr/bin/aws ] || ! mkdir -p "$srv" ||
	! "$(dirname "${BASH_SOURCE[0]}")/swift-server.sh" start "$srv" >"$work/env" 2>"$work/start.log"; then
	[ "${S3_UP_ON_FAIL:-}" = return ] && return 1
	[ -x /usr/bin/aws ] || echo "/usr/bin/aws: not installed" >>"$work/start.log"
	ERRFILE=$work/start.log ERR_FROM=tail ERR_LINES=20 \
		bad "the S3 test server did not start (tests/s3/swift-server.sh install, then see below)"
	finish
	exit 1
fi
set -a
. "$work/env"
set +a
aws() { /usr/bin/aws --endpoint-url "$S3_ENDPOINT" "$@"; }
for s3_bucket in ${S3_BUCKETS:-}; do
	aws s3 mb "s3://$s3_bucket" >/dev/null 2>"$work/mb.err" || { ERRFILE=$work/mb.err bad "make bucket $s3_bucket"; finish; exit 1; }
done
