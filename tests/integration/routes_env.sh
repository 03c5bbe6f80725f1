# Sourced by plan_routes.sh and push_routes.sh: two routes to one local S3 server (Swift
# s3api) inside a private network namespace. The routes are two source addresses on its
# loopback (127.0.0.2, 127.0.0.3), each shaped by its own tbf under an htb root, whose
# counters tell the bytes each carried. Needs $ferry, $tests, $routes_name (names the
# namespace and the work dir), $routes_bucket (made on the server) and optionally
# $routes_needs (more commands); exits 77 (ctest SKIP) without root, ip, tc or Swift.
# Leaves: $ns, $work, $srv, $secret, in_ns, shape RATE_A RATE_B, sent HANDLE, ok/bad/check.
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tc)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "needs ip and tc (iproute2)"
[ -x /usr/bin/aws ] || skip "needs /usr/bin/aws (tests/s3/swift-server.sh install)"
for c in ${routes_needs:-}; do command -v "$c" >/dev/null || skip "needs $c"; done
ns=ferry-$routes_name-$$
work=$(mktemp -d /tmp/ferry-$routes_name.XXXXXX)
srv=$work/swift
cleanup() {
	ip netns exec "$ns" "$tests/s3/swift-server.sh" stop "$srv" >/dev/null 2>&1
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns ip addr add 127.0.0.2/8 dev lo
in_ns ip addr add 127.0.0.3/8 dev lo
# htb root (unshaped classes), a tbf under each route's class; unmatched traffic is unshaped
shape() { # shape RATE_A RATE_B
	in_ns tc qdisc del dev lo root 2>/dev/null
	in_ns tc qdisc add dev lo root handle 1: htb default 30 r2q 100000 &&
		in_ns tc class add dev lo parent 1: classid 1:10 htb rate 10gbit &&
		in_ns tc class add dev lo parent 1: classid 1:20 htb rate 10gbit &&
		in_ns tc class add dev lo parent 1: classid 1:30 htb rate 10gbit &&
		in_ns tc qdisc add dev lo parent 1:10 handle 10: tbf rate "$1" burst 256kb latency 400ms &&
		in_ns tc qdisc add dev lo parent 1:20 handle 20: tbf rate "$2" burst 256kb latency 400ms &&
		in_ns tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src 127.0.0.2/32 flowid 1:10 &&
		in_ns tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src 127.0.0.3/32 flowid 1:20
}
shape 40mbit 80mbit 2>"$work/tc.err" || skip "tc htb/tbf not available: $(head -1 "$work/tc.err")"
# bytes through a route's tbf so far
sent() { in_ns tc -s qdisc show dev lo | awk -v h="$1:" '$1=="qdisc" && $3==h {f=1; next} f && $1=="Sent" {print $2; exit}'; }

mkdir -p "$srv" "$work/home"
export HOME=$work/home
unset FERRY_PASSPHRASE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
if ! in_ns "$tests/s3/swift-server.sh" start "$srv" >"$work/env" 2>"$work/start.log"; then
	tail -5 "$work/start.log"
	skip "the S3 test server did not start (tests/s3/swift-server.sh install)"
fi
set -a; . "$work/env"; set +a
secret=$AWS_SECRET_ACCESS_KEY
in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://$routes_bucket >/dev/null || { echo "FAIL - make bucket"; exit 1; }
export FERRY_S3_MAX_PARTS=1000

# shellcheck source=../lib.sh
. "$tests/lib.sh"
ERR_LINES=8
