#!/usr/bin/env bash
# `ferry copy --plan` over two tbf-shaped routes to one local S3 server (Swift s3api),
# all inside a private network namespace: the routes are two source addresses on its
# loopback (127.0.0.2, 127.0.0.3), each shaped by its own tbf under an htb root. The
# bytes each route carried are read from the qdiscs' own counters and compared with the
# plan. Needs root, ip, tc and the Swift test server; exits 77 (ctest SKIP) without them.
# usage: plan_routes.sh FERRY
set -uo pipefail
ferry=${1:?usage: plan_routes.sh FERRY}
tests=$(cd "$(dirname "$0")/.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tc)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "needs ip and tc (iproute2)"
command -v jq >/dev/null || skip "needs jq"
[ -x /usr/bin/aws ] || skip "needs /usr/bin/aws (tests/s3/swift-server.sh install)"
ns=ferry-plan-$$
work=$(mktemp -d /tmp/ferry-plan-routes.XXXXXX)
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
in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://plan >/dev/null || { echo "FAIL - make bucket"; exit 1; }
export FERRY_S3_MAX_PARTS=1000

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; sed 's/^/       /' "$work/err" 2>/dev/null | head -8; }
check() { if eval "$1"; then ok "$2"; else bad "$2"; fi; }

# 96 files of 256 KiB: fine enough for a split within a few percent
src=$work/src
mkdir -p "$src/d"
for i in $(seq 1 96); do head -c 262144 /dev/urandom >"$src/d/f$i.bin"; done
total=$((96 * 262144))
cat >"$work/ferry.conf" <<EOF
[route "cheap"]
bind = 127.0.0.2
bandwidth = 40Mbit
price_per_gb = 0.02

[route "dear"]
bind = 127.0.0.3
bandwidth = 80Mbit
price_per_gb = 0.09
EOF
# run NAME ARGS...: one copy --plan; $a/$b = bytes through each route's tbf
run() {
	local name=$1 a0 b0 rc
	shift
	a0=$(sent 10) b0=$(sent 20)
	in_ns timeout 120 "$ferry" copy --config "$work/ferry.conf" --plan "$src" "s3://plan/$name" "$@" >"$work/out" 2>"$work/err"
	rc=$?
	a=$(($(sent 10) - a0)) b=$(($(sent 20) - b0))
	echo "       $name: exit $rc; tbf bytes: cheap $a, dear $b"
	grep -E 'plan:|re-plan|route |done in' "$work/err" | sed 's/^/       /'
	return $rc
}
# planned bytes of a route, from the first "plan:" line
planned() { sed -n "s/.*plan: .*$1 \([0-9]*\) bytes.*/\1/p" "$work/err" | head -1; }
within() { # within MEASURED PLANNED: |m/ab - p/total| <= 10% of p/total
	awk -v m="$1" -v p="$2" -v ab="$3" -v t="$total" 'BEGIN { fm = m / ab; fp = p / t; d = fm - fp; if (d < 0) d = -d; exit !(d <= 0.10 * fp) }'
}

# 1. no deadline: all bytes on the cheap route
run loose; rc=$?
check '[ $rc -eq 0 ]' "loose: copy --plan exits 0"
check '[ "$(planned dear)" = 0 ] && [ "$(planned cheap)" = "$total" ]' "loose: the plan puts every byte on the cheap route"
check '[ "$a" -ge "$total" ] && [ "$b" -lt $((total / 100)) ]' "loose: the cheap route's tbf carried everything, the dear one (almost) nothing"
check 'grep -q "route cheap: 96 files" "$work/err"' "loose: 96 files went the cheap way"

# 2. a tight deadline: the cheap route carries what it can in time, the dear one only the rest
run tight --deadline 3s; rc=$?
check '[ $rc -eq 0 ]' "tight: copy --plan exits 0"
pa=$(planned cheap) pb=$(planned dear)
echo "       planned: cheap $pa, dear $pb (cheap at 40 Mbit for 3 s = 15000000)"
check '[ "$pa" -ge 14900000 ] && [ "$pa" -le 15000000 ] && [ $((pa + pb)) -eq "$total" ]' "tight: the plan fills the cheap route to its deadline capacity"
check 'within "$a" "$pa" "$((a + b))" && within "$b" "$pb" "$((a + b))"' "tight: the measured split per route matches the plan within 10%"
check '[ "$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://plan/tight/ | wc -l)" -eq 96 ]' "tight: all 96 objects landed"

# 3. the dear route is really slower than configured: the run re-plans and says so
shape 40mbit 16mbit 2>/dev/null
FERRY_PLAN_DRIFT_SECONDS=1 run drift --deadline 3s; rc=$?
check '[ $rc -eq 0 ]' "drift: copy --plan exits 0"
check 'grep -q "re-plan at .*dear measured" "$work/err"' "drift: a re-plan is logged naming the slow route"
check '[ "$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://plan/drift/ | wc -l)" -eq 96 ]' "drift: all 96 objects landed"

# 4. plan an S3 prefix as the source (a listing), and --probe the shaped link to the bucket
in_ns "$ferry" plan s3://plan/tight aws:us-east-1 --json >"$work/out" 2>"$work/err"
check '[ $? -eq 0 ] && [ "$(jq .files "$work/out")" -eq 96 ] && [ "$(jq .bytes "$work/out")" -eq "$total" ]' "plan s3://BUCKET/PREFIX: 96 objects, every byte, from the listing"
FERRY_S3_BIND=127.0.0.2 in_ns "$ferry" plan "$src" s3://plan/probe --probe --json >"$work/out" 2>"$work/err"
rc=$?
up=$(jq '.probe.upload_bytes_per_second // 0' "$work/out" 2>/dev/null)
echo "       probe through the 40 Mbit route: $(awk -v u="${up:-0}" 'BEGIN { printf "%.1f", u * 8 / 1e6 }') Mbit/s up"
check '[ $rc -eq 0 ] && awk -v u="$up" "BEGIN { exit !(u * 8 > 30e6 && u * 8 < 44e6) }"' "--probe through the 40 Mbit route measures 30 to 44 Mbit/s"
check '[ "$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://plan/probe/ | wc -l)" -eq 0 ]' "--probe leaves nothing behind"
in_ns "$ferry" plan "$src" s3://nosuchbucket/x --probe >"$work/out" 2>"$work/err"
check '[ $? -ne 0 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "NoSuchBucket" "$work/err"' "--probe to a missing bucket: one-line error naming it"

# 5. bad input: one line, non-zero
in_ns "$ferry" copy --plan "$src" "s3://plan/x" >"$work/out" 2>"$work/err"
check '[ $? -eq 2 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "no \[route" "$work/err"' "--plan without routes: one-line error, exit 2"
"$ferry" copy --config "$work/ferry.conf" --plan "$src" "$work/dir" >"$work/out" 2>"$work/err"
check '[ $? -eq 2 ] && grep -q "DST must be s3://" "$work/err"' "--plan to a local directory: refused, exit 2"
"$ferry" copy --deadline 3s "$src" "$work/dir" >"$work/out" 2>"$work/err"
check '[ $? -eq 2 ] && grep -q "go with --plan" "$work/err"' "--deadline without --plan: refused, exit 2"
"$ferry" push --config "$work/ferry.conf" --plan "$src" "$work/store" >"$work/out" 2>"$work/err"
check '[ $? -eq 2 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "must be s3://" "$work/err"' "push --plan to a local store: refused (routes lead to S3), exit 2"

check '! grep -rqF "$secret" "$work/out" "$work/err"' "the secret appears in no output"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
