#!/usr/bin/env bash
# `ferry push|sync --plan` over two tbf-shaped routes to one local S3 server (Swift s3api)
# in a private network namespace, as plan_routes.sh does for copy: the routes are two
# source addresses on its loopback (127.0.0.2, 127.0.0.3), each shaped by its own tbf.
# Each object of the store goes whole through one route; the bytes each route carried
# are read from the qdiscs' counters and compared with the plan; the snapshot pulled back
# must be byte-identical to the source. Needs root, ip, tc and the Swift test server;
# exits 77 (ctest SKIP) without them.
# usage: push_routes.sh FERRY
set -uo pipefail
ferry=${1:?usage: push_routes.sh FERRY}
tests=$(cd "$(dirname "$0")/.." && pwd)
routes_name=push-routes routes_bucket=proute
. "$tests/integration/routes_env.sh"

# 32 files of 1.1 MiB: each an object of its own (files under 1 MiB would share packs)
src=$work/src
mkdir -p "$src/d"
for i in $(seq 1 32); do head -c 1153434 /dev/urandom >"$src/d/f$i.bin"; done
total=$((32 * 1153434))
cat >"$work/ferry.conf" <<EOC
[route "cheap"]
bind = 127.0.0.2
bandwidth = 40Mbit
price_per_gb = 0.02

[route "dear"]
bind = 127.0.0.3
bandwidth = 80Mbit
price_per_gb = 0.09
EOC
# run CMD STORE ARGS...: one push|sync --plan; $a/$b = bytes through each route's tbf
run() {
	local cmd=$1 store=$2 a0 b0 rc
	shift 2
	a0=$(sent 10) b0=$(sent 20)
	in_ns timeout 120 "$ferry" "$cmd" --config "$work/ferry.conf" --plan "$src" "s3://proute/$store" "$@" >"$work/out" 2>"$work/err"
	rc=$?
	a=$(($(sent 10) - a0)) b=$(($(sent 20) - b0))
	echo "       $cmd $store $*: exit $rc; tbf bytes: cheap $a, dear $b"
	grep -E 'plan:|re-plan|route |done in' "$work/err" | sed 's/^/       /'
	return $rc
}
planned() { sed -n "s/.*plan: .*$1 \([0-9]*\) bytes.*/\1/p" "$work/err" | head -1; }
within() { # within MEASURED PLANNED SUM_MEASURED SUM_PLANNED: the shares differ by at most 10% of the planned one
	awk -v m="$1" -v p="$2" -v ab="$3" -v t="$4" 'BEGIN { fm = m / ab; fp = p / t; d = fm - fp; if (d < 0) d = -d; exit !(d <= 0.10 * fp) }'
}
pulled_same() { # pulled_same STORE: the latest snapshot pulled back equals the source
	rm -rf "$work/back"
	in_ns "$ferry" pull "s3://proute/$1" "$work/back" >/dev/null 2>"$work/err" && diff -r "$src" "$work/back" >/dev/null
}

in_ns "$ferry" init s3://proute/tight --compress none >/dev/null 2>"$work/err" || { bad "init"; exit 1; }
in_ns "$ferry" init s3://proute/loose --compress none >/dev/null 2>"$work/err" || { bad "init"; exit 1; }

# 1. a tight deadline: the cheap route carries what it can in time, the dear one the rest
run push tight --deadline 4s; rc=$?
check "push --plan --deadline: exits 0" '[ $rc -eq 0 ]'
pa=$(planned cheap) pb=$(planned dear)
echo "       planned: cheap $pa, dear $pb (cheap at 40 Mbit for 4 s = 20000000)"
check "push --plan: the plan fills the cheap route to its deadline capacity" '[ "$pa" -ge 19900000 ] && [ "$pa" -le 20000000 ] && [ $((pa + pb)) -eq "$total" ]'
check "push --plan: the measured split per route matches the plan within 10%" 'within "$a" "$pa" "$((a + b))" "$total" && within "$b" "$pb" "$((a + b))" "$total"'
check "push --plan: the snapshot pulled back is byte-identical" 'pulled_same tight'

# 2. sync --plan: only the changed file moves, through the routes
head -c 1153434 /dev/urandom >"$src/d/f1.bin"
run sync tight --deadline 4s; rc=$?
check "sync --plan: exits 0, only the changed file went over the routes" '[ $rc -eq 0 ] && [ $((a + b)) -lt $((total / 4)) ] && [ $((a + b)) -gt 1000000 ]'
check "sync --plan: the new snapshot pulled back is byte-identical" 'pulled_same tight'

# 3. no deadline: everything the cheap way
run push loose; rc=$?
check "push --plan without a deadline: every byte planned on the cheap route" '[ $rc -eq 0 ] && [ "$(planned dear)" = 0 ]'
check "push --plan without a deadline: the cheap route's tbf carried everything" '[ "$a" -ge "$total" ] && [ "$b" -lt $((total / 100)) ]'
check "push --plan without a deadline: pulled back byte-identical" 'pulled_same loose'

# 4. the dear route is really slower than configured: the run re-plans and says so.
# 4 Mbit, a twentieth of its 80: slower than even a sanitizer build's encoder, so a backlog
# builds on the route (at 16 Mbit an ASan build under load fed it no faster than it drained)
shape 40mbit 4mbit 2>/dev/null
in_ns "$ferry" init s3://proute/drift --compress none >/dev/null 2>"$work/err"
# a small memory budget: objects open as the routes take the bytes, not all at the start
FERRY_PLAN_DRIFT_SECONDS=1 run push drift --deadline 4s --memory 48M; rc=$?
check "push --plan: a re-plan is logged naming the slow route" '[ $rc -eq 0 ] && grep -q "re-plan at .*dear measured" "$work/err"'
check "push --plan after a re-plan: pulled back byte-identical" 'pulled_same drift'

# 5. bad input: one line, non-zero
in_ns "$ferry" init "$work/local" >/dev/null 2>&1
in_ns "$ferry" push --config "$work/ferry.conf" --plan "$src" "$work/local" >"$work/out" 2>"$work/err"
check "push --plan to a local store: one-line error, exit 2" '[ $? -eq 2 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ] && grep -q "must be s3://" "$work/err"'
in_ns "$ferry" sync --config "$work/ferry.conf" --plan s3://proute/loose "$work/back2" >"$work/out" 2>"$work/err"
check "sync --plan on the pull side: refused, exit 2" '[ $? -eq 2 ] && grep -q "push side" "$work/err"'
in_ns "$ferry" push --plan "$src" s3://proute/loose >"$work/out" 2>"$work/err"
check "push --plan without routes: one-line error, exit 2" '[ $? -eq 2 ] && [ "$(grep -c "^ferry:" "$work/err")" -eq 1 ]'

check "the secret appears in no output" '! grep -rqF "$secret" "$work/out" "$work/err"'
finish
