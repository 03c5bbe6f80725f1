# Sourced by the S3 suites once $srv and $work exist: starts the Swift test server in
# $srv and exports what it prints (S3_ENDPOINT, the keys). A server that does not start
# is one FAIL line, the tail of its log, and exit 1.
if ! "$(dirname "${BASH_SOURCE[0]}")/swift-server.sh" start "$srv" >"$work/env" 2>"$work/start.log"; then
	echo "FAIL - the S3 test server did not start (tests/s3/swift-server.sh install, then see below)"
	tail -20 "$work/start.log"
	echo "0 passed, 1 failed"
	exit 1
fi
set -a
. "$work/env"
set +a
