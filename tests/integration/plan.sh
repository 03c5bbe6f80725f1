#!/usr/bin/env bash
# End-to-end tests of `ferry plan` and `ferry cost`: numbers, refusals, routes, the chart.
# usage: plan.sh FERRY_BINARY PRICING_DIR
set -uo pipefail
ferry=${1:?usage: plan.sh FERRY PRICING_DIR}
pricing=${2:?usage: plan.sh FERRY PRICING_DIR}
command -v jq >/dev/null || { echo "plan.sh: needs jq (scripts/install-deps.sh installs it)" >&2; exit 1; }
work=$(mktemp -d /tmp/ferry-plan.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
. "$(dirname "$0")/../lib.sh"
FINISH_PREFIX="plan.sh: "

grep_out() { if grep -qE -- "$1" "$work/out"; then ok "$2"; else bad "$2"; fi; }
# jq_true FILTER NAME: the filter on the last stdout is true
jq_true() { if jq -e "$1" "$work/out" >/dev/null 2>&1; then ok "$2"; else bad "$2 ($(head -c 300 "$work/out"))"; fi; }

# ---- a tree: compressible text and random bytes
src=$work/src
mkdir -p "$src/text" "$src/noise"
for i in $(seq 1 40); do
	for j in $(seq 1 300); do echo "line $j of file $i: the quick brown fox jumps over the lazy dog"; done >"$src/text/f$i.txt"
done
head -c 8000000 /dev/urandom >"$src/noise/big.bin"
for i in $(seq 1 20); do head -c 20000 /dev/urandom >"$src/noise/s$i.jpg"; done
rand=$work/rand
mkdir -p "$rand"
head -c 12000000 /dev/urandom >"$rand/a.bin"
head -c 3000000 /dev/urandom >"$rand/b.jpg"

# ---- usage
expect 0 "help plan" "$ferry" help plan
grep_out 'usage: ferry plan' "help plan shows usage"
expect 0 "help cost" "$ferry" help cost
expect 2 "plan without arguments" "$ferry" plan
expect 2 "plan: bad --deadline" "$ferry" plan "$src" aws:us-east-1 --deadline soon
one_line_err "bad --deadline: one line"
grep_err "--deadline: expected a duration" "bad --deadline says what it wants"
expect 2 "plan: bad --bandwidth" "$ferry" plan "$src" aws:us-east-1 --bandwidth 1G
grep_err "--bandwidth: expected a rate" "bad --bandwidth named"
expect 2 "plan: --to belongs to cost" "$ferry" plan "$src" aws:us-east-1 --to internet
expect 2 "plan: missing source" "$ferry" plan "$work/nope" aws:us-east-1
grep_err "nope: No such file" "missing source named"
expect 5 "plan: s3 source without credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE "$ferry" plan s3://bucket/prefix aws:us-east-1
grep_err "s3://bucket/prefix: no credentials" "s3 source refusal says why"
one_line_err "s3 source refusal is one line"
expect 2 "plan: other URL schemes refused" "$ferry" plan az://c/p aws:us-east-1
grep_err "expected a directory, a ferry store, or s3://" "unknown scheme refusal says why"
# an unreachable probe destination fails after one request of two attempts (the probe's own
# backend option), unless FERRY_S3_ATTEMPTS says otherwise: the user's setting stays the user's
refused() { env -u FERRY_S3_ATTEMPTS AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_REGION=us-east-1 \
	AWS_ENDPOINT_URL=http://127.0.0.1:1 AWS_ENDPOINT_URL_S3= "$@" "$ferry" plan "$rand" s3://bucket/x --probe; }
expect 2 "--probe: unreachable destination" refused
grep_err "a request to the destination: .*\(after 2 attempts\)" "--probe: unreachable destination: two attempts"
one_line_err "--probe: unreachable destination: one line"
expect 2 "--probe: unreachable destination, FERRY_S3_ATTEMPTS=3" refused FERRY_S3_ATTEMPTS=3
grep_err "\(after 3 attempts\)" "--probe: FERRY_S3_ATTEMPTS is the user's"

# ---- a plan
expect 0 "plan --json" "$ferry" plan "$src" aws:us-east-1 --bandwidth 100Mbit --json --seed 3
jq_true '.files == 61 and .bytes > 8000000' "plan counts files and bytes"
jq_true 'has("estimated_seconds") and has("egress_usd") and has("requests_usd") and has("bottleneck") and has("recommended") and (.options | length == 6)' "plan JSON has the fields"
jq_true '[.options[].codec] == ["none","zstd 1","zstd 3","zstd 6","zstd 9","zstd 19"]' "one option per codec setting"
jq_true '.options[0].wire_bytes == .bytes' "none sends every byte"
jq_true '.options[2].wire_bytes < .options[0].wire_bytes * 0.95' "zstd 3 shrinks text"
jq_true '.options[0].bottleneck == "wire"' "a 100 Mbit link is the bottleneck without compression"
jq_true '.recommended != "none"' "a slow link with text recommends compression"
jq_true '.egress_usd == 0 and .requests_usd > 0' "on-prem to AWS: no egress, PUTs cost"
jq_true '.routes | length == 1 and .[0].name == "link"' "one route: the link"
jq_true '(.histogram | map(.files) | add) == .files' "histogram adds up"
expect 0 "plan, human table" "$ferry" plan "$src" aws:us-east-1 --bandwidth 100Mbit
grep_out '^recommended: ' "table names the recommendation"
grep_out 'bottleneck' "table has the bottleneck column"

# ---- incompressible data: none or level 1
expect 0 "plan of random bytes" "$ferry" plan "$rand" r2 --bandwidth 1Gbit --json
jq_true '.recommended == "none" or .recommended == "zstd 1"' "incompressible sample recommends none or zstd 1"
jq_true '[.options[].wire_bytes] | all(. == .)' "incompressible: wire bytes equal raw bytes"

# ---- zero bytes and one file
mkdir -p "$work/empty"
expect 0 "plan of an empty tree" "$ferry" plan "$work/empty" aws:us-east-1 --json
jq_true '.files == 0 and .bytes == 0 and .recommended == "none" and .put_requests == 1' "empty tree: nothing but the manifest"
mkdir -p "$work/one" && head -c 5000 /dev/urandom >"$work/one/x"
expect 0 "plan of one file" "$ferry" plan "$work/one" aws:us-east-1 --json
jq_true '.files == 1 and .bytes == 5000' "single file counted"

# ---- a ferry store snapshot as the source: its objects move as stored
"$ferry" init "$work/store" -q && "$ferry" push "$src" "$work/store" -q
snap=$("$ferry" snapshots "$work/store" | tail -n 1)
expect 0 "plan of a store snapshot" "$ferry" plan "$work/store@$snap" r2 --json
stored=$(find "$work/store" -type f -printf "%s\n" | awk "{ t += \$1 } END { print t }")
jq_true ".files == 61 and (.options | length) == 1 and .options[0].wire_bytes == $stored" "store snapshot: its files, its bytes on disk"
expect 2 "plan of a missing snapshot" "$ferry" plan "$work/store@20000101T000000Z-00000000" r2
grep_err "no such snapshot" "missing snapshot named"

# ---- deadlines and budgets
expect 0 "impossible deadline" "$ferry" plan "$src" aws:us-east-1 --bandwidth 1Mbit --deadline 3s
grep_out 'deadline 3.0 s cannot be met: the best achievable is' "impossible deadline says so with the best time"
expect 0 "impossible deadline, json" "$ferry" plan "$src" aws:us-east-1 --bandwidth 1Mbit --deadline 3s --json
jq_true '.deadline_met == false and .best_seconds > 3' "JSON: deadline missed, best time"
expect 0 "loose deadline" "$ferry" plan "$src" aws:us-east-1 --bandwidth 100Mbit --deadline 2d --json
jq_true '.deadline_met == true and .why == "cheapest meeting the deadline"' "a loose deadline is met"

# ---- unknown region, provider; bad price file
expect 2 "unknown region" "$ferry" plan "$src" aws:mars-1
one_line_err "unknown region: one line"
grep_err "unknown region 'mars-1' for aws \(known: .*us-east-1" "unknown region lists the known ones"
expect 2 "unknown provider in cost" "$ferry" cost --size 1TB --from acme:x
grep_err "unknown provider 'acme' \(known: .*aws" "unknown provider lists the known ones"
mkdir -p "$work/prices"
cp "$pricing"/*.csv "$work/prices/"
printf 'provider,region,item,dest,from,to,unit,usd,source,read_on\naws,us-east-1,egress,internet,0,10,GiB,cheap,src,2026-01-01\n' >"$work/prices/zz.csv"
expect 2 "malformed price file" "$ferry" cost --size 1TB --from aws:us-east-1 --pricing "$work/prices"
one_line_err "malformed price file: one line"
grep_err "zz.csv:2: usd: expected a price" "malformed price file names file and line"

# ---- cost: 100 TiB out of us-east-1 (7,987.20: see tests/unit/test_plan.c for the hand computation)
expect 0 "cost what-if" "$ferry" cost --size 100TiB --from aws:us-east-1 --to internet --json
jq_true '.egress_usd > 7987.199 and .egress_usd < 7987.201' "100 TiB from us-east-1 costs \$7,987.20"
jq_true '(.tiers_per_month | length) == 3 and has("requests_usd") and has("total_usd") and .bytes == 109951162777600' "cost JSON has tier lines"
expect 0 "cost with the free tier" "$ferry" cost --size 100TiB --from aws:us-east-1 --free-tier --json
jq_true '.egress_usd > 7978.199 and .egress_usd < 7978.201' "free tier takes 100 GB off (\$7,978.20)"
# two months: 50 TiB a month = 51,200 GB: 921.60 + 3,481.60 per month = 8,806.40
expect 0 "cost over two months" "$ferry" cost --size 100TiB --from aws:us-east-1 --months 2 --json
jq_true '.egress_usd > 8806.399 and .egress_usd < 8806.401' "tiers restart each month"
expect 0 "cost to onprem" "$ferry" cost --size 10TiB --from aws:us-east-1 --to onprem --json
jq_true '.egress_usd > 204.799 and .egress_usd < 204.801' "Direct Connect: 10 TiB x \$0.02"
expect 0 "cost to another region" "$ferry" cost --size 10TiB --from aws:us-east-1 --to eu-west-1 --json
jq_true '.egress_usd > 204.799 and .egress_usd < 204.801' "inter-region: 10 TiB x \$0.02"
expect 2 "cost to an unknown class" "$ferry" cost --size 1TB --from r2 --to onprem
grep_err "no egress price from r2" "cost: unpriced destination named"
printf 'bucket,key,size\n"b","a/x.jpg","1000000"\nb,a/y.txt,500\n' >"$work/inv.csv"
expect 0 "cost from an inventory" "$ferry" cost "$work/inv.csv" --from aws:us-east-1 --json
jq_true '.objects == 2 and .bytes == 1000500' "inventory counted"
printf 'b,a/x.jpg,12\nb,a/y.txt\n' >"$work/bad-inv.csv"
expect 2 "malformed inventory" "$ferry" cost "$work/bad-inv.csv" --from aws:us-east-1
grep_err "bad-inv.csv:2: expected bucket,key,size" "malformed inventory names the line"
expect 0 "plan from an inventory" "$ferry" plan --inventory "$work/inv.csv" --from aws:us-east-1 r2 --json
jq_true '.egress_usd > 0 and (.options | length) == 1 and .get_requests == 2' "inventory plan: egress and GETs, no sample"

# ---- routes from the config file
cat >"$work/routes.conf" <<'EOF'
[route "cheap"]
endpoint = https://cheap.example
bandwidth = 10Mbit
price_per_gb = 0.01

[route "fast"]
bind = 10.0.0.2
bandwidth = 100Mbit
price_per_gb = 0.5

[route "van"]
type = ship
price = 300
days = 2
capacity = 80TB
EOF
# 12 MB of random bytes (wire = raw): cheap alone takes 9.6 s
expect 0 "routes, loose deadline" "$ferry" --config "$work/routes.conf" plan "$rand" "$work/dst" --deadline 1h --json
jq_true '[.routes[] | select(.name == "cheap")][0].bytes == .options[0].wire_bytes' "loose deadline: all bytes on the cheapest route"
jq_true '[.routes[] | select(.name != "cheap")] | all(.bytes == 0)' "loose deadline: other routes idle"
# 5 s: cheap carries 1.25 MB/s x 5 s at most (less the once-per-run time); fast only what is left
expect 0 "routes, tight deadline" "$ferry" --config "$work/routes.conf" plan "$rand" "$work/dst" --deadline 5s --json
jq_true '.deadline_met and ([.routes[] | select(.name == "fast")][0].bytes > 0)' "tight deadline: the fast route is used"
jq_true '.fixed_seconds as $f | ([.routes[] | select(.name == "cheap")][0] | .bytes >= 1250000 * (4.9 - $f))' "tight deadline: the cheap route is full"
jq_true '[.routes[] | select(.name == "van")][0].bytes == 0' "tight deadline: the van is too slow"
expect 0 "routes: table shows shipping" "$ferry" --config "$work/routes.conf" plan "$rand" "$work/dst"
grep_out 'shipping all by van: 1 device' "shipping shown side by side"
printf '[route "x"]\nbandwidth = fast\n' >"$work/bad-route.conf"
expect 2 "bad route bandwidth" "$ferry" --config "$work/bad-route.conf" plan "$rand" "$work/dst"
grep_err "bad-route.conf:2: bandwidth: expected a rate" "bad route value names file and line"
printf '[route "x"]\nbandwidth = 1Gbit\n' >"$work/bad-route2.conf"
expect 2 "route without a price" "$ferry" --config "$work/bad-route2.conf" plan "$rand" "$work/dst"
grep_err 'route "x"\]: needs one of price_per_gb or pricing' "incomplete route named"
printf '[route "x"]\nbandwidth = 1Gbit\nfrobs = 2\n' >"$work/bad-route3.conf"
expect 2 "unknown route key" "$ferry" --config "$work/bad-route3.conf" plan "$rand" "$work/dst"
grep_err "bad-route3.conf:3: unknown key 'frobs'" "unknown route key names file and line"
printf '[plan]\nbandwidth = 100Mbit\nrtt = 5ms\nconnections = 4\n' >"$work/plan.conf"
expect 0 "[plan] section" "$ferry" --config "$work/plan.conf" plan "$rand" "$work/dst" --json
jq_true '(.assumed | index("bandwidth=1Gbit")) == null and (.assumed | index("rtt=20ms")) == null' "[plan] link values are used"

# ---- the chart
expect 0 "plan --svg" "$ferry" plan "$src" aws:us-east-1 --bandwidth 100Mbit --svg "$work/plan.svg"
if grep -q '<svg' "$work/plan.svg" && grep -q 'recommended: ' "$work/plan.svg" && grep -q 'r="12"' "$work/plan.svg" &&
	[ "$(grep -c "<circle" "$work/plan.svg")" -ge 13 ]; then ok "svg has the points and the mark"; else bad "svg has the points and the mark"; fi
if command -v xmllint >/dev/null; then
	xmllint --noout "$work/plan.svg" 2>"$work/err" && ok "svg is well-formed XML" || bad "svg is well-formed XML"
fi
expect 2 "--svg into a missing directory" "$ferry" plan "$src" aws:us-east-1 --svg "$work/no/such/dir.svg"
grep_err "--svg: .*No such file" "--svg failure named"

# ---- --probe's push probe: two real pushes to a directory, timed, removed
mkdir -p "$work/pdst" "$work/tmp"
export TMPDIR=$work/tmp FERRY_PLAN_PROBE_SECONDS=1 FERRY_PLAN_PUSH_PROBE_SECONDS=1
expect 2 "--no-push-probe needs --probe" "$ferry" plan "$rand" "$work/pdst" --no-push-probe
grep_err "--no-push-probe: only with --probe" "--no-push-probe alone refused"
expect 0 "plan --probe to a directory" "$ferry" plan "$src" "$work/pdst" --probe --json
jq_true '.probe.push.bytes_per_second > 0 and .probe.push.fixed_seconds >= 0 and (.probe.push.bytes | .[1] > .[0] and .[2] == .[0]) and (.probe.push.push_seconds | length == 3 and all(. > 0))' "push probe: a rate and a fixed cost from three pushes"
jq_true '.fixed_seconds == .probe.push.fixed_seconds' "push probe: its fixed cost is the plan's once-per-run term"
jq_true '.options[0] | .stage_seconds.push > 0 and .stage_seconds.requests == 0' "push probe: a push stage, requests inside it"
jq_true '((.options[0].stage_seconds.push - .bytes / .probe.push.bytes_per_second) | fabs < 1e-6) and (.options[0].bottleneck != "push" or ((.options[0].estimated_seconds - .fixed_seconds - .bytes / .probe.push.bytes_per_second) | fabs < 0.01))' "push probe: none takes fixed + bytes / push rate"
jq_true '.probe.push.files[0] > 1' "push probe: data shaped like the source (small files and a large one)"
if [ -z "$(ls -A "$work/pdst")" ] && [ -z "$(ls -A "$work/tmp")" ]; then ok "push probe leaves nothing at DST or in TMPDIR"; else bad "push probe leaves nothing at DST or in TMPDIR ($(ls -A "$work/pdst" "$work/tmp"))"; fi
if [ "$(find "$HOME" -path "*state*" -type f | wc -l)" -eq 0 ]; then ok "push probe leaves no journal in the state directory"; else bad "push probe leaves no journal in the state directory ($(find "$HOME" -path "*state*" -type f))"; fi
expect 0 "plan --probe --no-push-probe" "$ferry" plan "$src" "$work/pdst" --probe --no-push-probe --json
jq_true '(.probe | has("push") | not) and .options[0].stage_seconds.push == 0' "--no-push-probe: the link parts only"
FERRY_PLAN_PUSH_PROBE_TIMEOUT=0.3s expect 1 "push probe past its time box" "$ferry" plan "$src" "$work/pdst" --probe
one_line_err "time box: one line"
grep_err "push probe: ferry (init|push) did not finish within the probe's time box" "time box named"
if [ -z "$(ls -A "$work/pdst")" ] && [ -z "$(ls -A "$work/tmp")" ]; then ok "a killed push probe leaves nothing behind"; else bad "a killed push probe leaves nothing behind ($(ls -A "$work/pdst" "$work/tmp"))"; fi
# a SIGTERM while probe keys exist (the link probe's, then the push probe's stores): the
# probe stops, its keys are removed, then the signal ends the plan as it would have
sigterm_probe() { # NAME GLOB ENV...: SIGTERM once a GLOB entry shows in the destination
	local name=$1 glob=$2 rc; shift 2
	env "$@" "$ferry" plan "$src" "$work/pdst" --probe >"$work/out" 2>"$work/err" &
	local pid=$!
	for _ in $(seq 1 400); do compgen -G "$work/pdst/$glob" >/dev/null && break; sleep 0.05; done
	sleep 0.3
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	if [ "$rc" -eq 143 ] && [ -z "$(ls -A "$work/pdst")" ] && [ -z "$(ls -A "$work/tmp")" ]; then ok "$name"; else bad "$name (exit $rc; left: $(ls -A "$work/pdst" "$work/tmp" | tr '\n' ' '))"; fi
}
sigterm_probe "SIGTERM in the link probe: its keys removed, then the signal" 'ferry-probe-*' FERRY_PLAN_PROBE_SECONDS=30
sigterm_probe "SIGTERM in the push probe: its stores removed, then the signal" 'ferry-probe-*-push' FERRY_PLAN_PUSH_PROBE_SECONDS=60
FERRY_PLAN_PUSH_PROBE_SECONDS=soon expect 2 "bad FERRY_PLAN_PUSH_PROBE_SECONDS" "$ferry" plan "$src" "$work/pdst" --probe
grep_err "FERRY_PLAN_PUSH_PROBE_SECONDS: 'soon'" "bad probe seconds named"

# ---- the same against the real S3 server (Swift s3api): keys, uploads and secrets
here=$(cd "$(dirname "$0")/.." && pwd)
srv=$work/swift
trap '"$here/s3/swift-server.sh" stop "$srv" >/dev/null 2>&1; rm -rf "$work"' EXIT
S3_BUCKETS=plan
# shellcheck source=../s3/server_up.sh
. "$here/s3/server_up.sh"
expect 0 "plan --probe to S3" "$ferry" plan "$src" s3://plan/dst --probe --json
jq_true '.probe.push.bytes_per_second > 0 and .probe.push.fixed_seconds >= 0' "S3 push probe: rate and fixed cost"
if [ "$(aws s3 ls --recursive s3://plan/ | wc -l)" -eq 0 ]; then ok "S3 push probe leaves no keys"; else bad "S3 push probe leaves no keys"; fi
if ! grep -qF "$AWS_SECRET_ACCESS_KEY" "$work/out" "$work/err"; then ok "S3 push probe: no secret in the output"; else bad "S3 push probe: no secret in the output"; fi
# killed mid-push: the store it was writing is removed, snapshots first, open uploads aborted
FERRY_PLAN_PUSH_PROBE_TIMEOUT=2s FERRY_PLAN_PUSH_PROBE_SECONDS=30 expect 1 "S3 push probe past its time box" "$ferry" plan "$src" s3://plan/dst --probe
grep_err "did not finish within the probe's time box" "S3 time box named"
if ! grep -qF "$AWS_SECRET_ACCESS_KEY" "$work/err"; then ok "S3 time box: no secret in the error"; else bad "S3 time box: no secret in the error"; fi
if [ "$(aws s3 ls --recursive s3://plan/ | wc -l)" -eq 0 ]; then ok "a killed S3 push probe leaves no keys"; else bad "a killed S3 push probe leaves no keys ($(aws s3 ls --recursive s3://plan/ | head -3))"; fi
if [ "$(aws s3api list-multipart-uploads --bucket plan --query 'length(Uploads || `[]`)' --output text)" = 0 ]; then ok "a killed S3 push probe leaves no open uploads"; else bad "a killed S3 push probe leaves no open uploads"; fi

finish
