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
routes_name=plan-routes routes_bucket=plan routes_needs=jq
. "$tests/integration/routes_env.sh"

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
check "loose: copy --plan exits 0" '[ $rc -eq 0 ]'
check "loose: the plan puts every byte on the cheap route" '[ "$(planned dear)" = 0 ] && [ "$(planned cheap)" = "$total" ]'
check "loose: the cheap route's tbf carried everything, the dear one (almost) nothing" '[ "$a" -ge "$total" ] && [ "$b" -lt $((total / 100)) ]'
check "loose: 96 files went the cheap way" 'grep -q "route cheap: 96 files" "$work/err"'

# 2. a tight deadline: the cheap route carries what it can in time, the dear one only the rest
run tight --deadline 3s; rc=$?
check "tight: copy --plan exits 0" '[ $rc -eq 0 ]'
pa=$(planned cheap) pb=$(planned dear)
echo "       planned: cheap $pa, dear $pb (cheap at 40 Mbit for 3 s = 15000000)"
check "tight: the plan fills the cheap route to its deadline capacity" '[ "$pa" -ge 14900000 ] && [ "$pa" -le 15000000 ] && [ $((pa + pb)) -eq "$total" ]'
check "tight: the measured split per route matches the plan within 10%" 'within "$a" "$pa" "$((a + b))" && within "$b" "$pb" "$((a + b))"'
check "tight: all 96 objects landed" '[ "$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://plan/tight/ | wc -l)" -eq 96 ]'

# 3. the dear route is really slower than configured: the run re-plans and says so
shape 40mbit 16mbit 2>/dev/null
FERRY_PLAN_DRIFT_SECONDS=1 run drift --deadline 3s; rc=$?
check "drift: copy --plan exits 0" '[ $rc -eq 0 ]'
check "drift: a re-plan is logged naming the slow route" 'grep -q "re-plan at .*dear measured" "$work/err"'
check "drift: all 96 objects landed" '[ "$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://plan/drift/ | wc -l)" -eq 96 ]'

# 4. plan an S3 prefix as the source (a listing), and --probe the shaped link to the bucket
in_ns "$ferry" plan s3://plan/tight aws:us-east-1 --json >"$work/out" 2>"$work/err"
check "plan s3://BUCKET/PREFIX: 96 objects, every byte, from the listing" '[ $? -eq 0 ] && [ "$(jq .files "$work/out")" -eq 96 ] && [ "$(jq .bytes "$work/out")" -eq "$total" ]'
FERRY_S3_BIND=127.0.0.2 in_ns "$ferry" plan "$src" s3://plan/probe --probe --json >"$work/out" 2>"$work/err"
rc=$?
up=$(jq '.probe.upload_bytes_per_second // 0' "$work/out" 2>/dev/null)
echo "       probe through the 40 Mbit route: $(awk -v u="${up:-0}" 'BEGIN { printf "%.1f", u * 8 / 1e6 }') Mbit/s up"
check "--probe through the 40 Mbit route measures 30 to 44 Mbit/s" '[ $rc -eq 0 ] && awk -v u="$up" "BEGIN { exit !(u * 8 > 30e6 && u * 8 < 44e6) }"'
check "--probe leaves nothing behind" '[ "$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://plan/probe/ | wc -l)" -eq 0 ]'
in_ns "$ferry" plan "$src" s3://nosuchbucket/x --probe >"$work/out" 2>"$work/err"
check "--probe to a missing bucket: one-line error naming it" '[ $? -ne 0 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "NoSuchBucket" "$work/err"'

# 5. bad input: one line, non-zero
in_ns "$ferry" copy --plan "$src" "s3://plan/x" >"$work/out" 2>"$work/err"
check "--plan without routes: one-line error, exit 2" '[ $? -eq 2 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "no \[route" "$work/err"'
"$ferry" copy --config "$work/ferry.conf" --plan "$src" "$work/dir" >"$work/out" 2>"$work/err"
check "--plan to a local directory: refused, exit 2" '[ $? -eq 2 ] && grep -q "DST must be s3://" "$work/err"'
"$ferry" copy --deadline 3s "$src" "$work/dir" >"$work/out" 2>"$work/err"
check "--deadline without --plan: refused, exit 2" '[ $? -eq 2 ] && grep -q "go with --plan" "$work/err"'
"$ferry" push --config "$work/ferry.conf" --plan "$src" "$work/store" >"$work/out" 2>"$work/err"
check "push --plan to a local store: refused (routes lead to S3), exit 2" '[ $? -eq 2 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "must be s3://" "$work/err"'

check "the secret appears in no output" '! grep -rqF "$secret" "$work/out" "$work/err"'
finish
