#!/usr/bin/env bash
# The planner's time against a real push over a tbf-shaped link, at several bandwidths.
# A private network namespace holds the S3 test server (Swift s3api, tests/s3) and the
# client; the client sends from 127.0.0.2 (FERRY_S3_BIND), and only that address's
# packets go through the tbf (htb root + u32 filter), so the server's own loopback
# traffic (proxy to object server) is not shaped. For each rate, four plans predict the
# time of the `none` option: `ferry plan --probe` (pred_push: the link probe and the
# push probe, two real pushes of generated data), the same with `--bandwidth RATE`
# (pred_both), `--probe --no-push-probe` (pred_link: the link probe only, the modelled
# stages) and `--bandwidth RATE --rtt 0` (pred_flag: flags only); then `ferry push` to a
# store made with --compress none is timed and the ratios predicted/measured printed,
# with the bottleneck pred_push names.
# usage: bench/plan_tbf.sh FERRY [RATE_MBIT...]   (default 50 200); root only.
# PLAN_TBF_KEEP=DIR keeps each plan's JSON there (NAME-RATE.json).
set -uo pipefail
ferry=$(readlink -f "${1:?usage: plan_tbf.sh FERRY [RATE_MBIT...]}")
shift
rates=${*:-50 200}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "plan_tbf.sh: needs root (network namespace, tc)" >&2; exit 77; }
command -v jq >/dev/null || { echo "plan_tbf.sh: needs jq" >&2; exit 1; }
ns=ferry-bench-$$
work=$(mktemp -d /tmp/ferry-plan-tbf.XXXXXX)
srv=$work/swift
cleanup() {
	ip netns exec "$ns" "$here/tests/s3/swift-server.sh" stop "$srv" >/dev/null 2>&1
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns ip addr add 127.0.0.2/8 dev lo
shape() {
	in_ns tc qdisc del dev lo root 2>/dev/null
	in_ns tc qdisc add dev lo root handle 1: htb default 30 r2q 100000
	in_ns tc class add dev lo parent 1: classid 1:10 htb rate 10gbit
	in_ns tc class add dev lo parent 1: classid 1:30 htb rate 10gbit
	in_ns tc qdisc add dev lo parent 1:10 handle 10: tbf rate "${1}mbit" burst 256kb latency 400ms
	in_ns tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src 127.0.0.2/32 flowid 1:10
}
mkdir -p "$srv" "$work/home"
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
unset FERRY_PASSPHRASE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
in_ns "$here/tests/s3/swift-server.sh" start "$srv" >"$work/env" 2>"$work/start.log" ||
	{ tail -5 "$work/start.log"; exit 1; }
set -a; . "$work/env"; set +a
in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://bench >/dev/null || exit 1
export FERRY_S3_MAX_PARTS=1000 FERRY_S3_BIND=127.0.0.2

# the corpus: incompressible, small files (packed by push), medium and one large file
src=$work/src
mkdir -p "$src/small" "$src/mid"
for i in $(seq 1 40); do head -c 262144 /dev/urandom >"$src/small/s$i.bin"; done
for i in $(seq 1 4); do head -c 8388608 /dev/urandom >"$src/mid/m$i.bin"; done
head -c 41943040 /dev/urandom >"$src/large.bin"
bytes=$(du -sb "$src" | cut -f1)
echo "corpus: $(find "$src" -type f | wc -l) files, $bytes bytes; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %8s %8s %6s %9s %9s %9s %9s %8s %7s %7s %7s %7s %-10s %5s\n' rate probe_Mb push_Mb fixed pred_push \
	pred_both pred_link pred_flag measured ratio_p ratio_b ratio_l ratio_f bottleneck load1
none() { jq -r ".options[] | select(.codec == \"none\") | .$2" "$work/$1.json"; }
plan() { # NAME ARGS...: one plan, its JSON in $work/NAME.json
	local name=$1; shift
	in_ns "$ferry" plan "$src" "$@" --json >"$work/$name.json" 2>"$work/$name.err" || { cat "$work/$name.err"; exit 1; }
	[ -z "${PLAN_TBF_KEEP:-}" ] || cp "$work/$name.json" "$PLAN_TBF_KEEP/$name-$r.json"
}
for r in $rates; do
	shape "$r"
	# --probe: the link parts and the push probe; --no-push-probe: the link parts only
	plan pp "s3://bench/probe-$r" --probe
	plan pb "s3://bench/both-$r" --probe --bandwidth "${r}Mbit"
	plan pl "s3://bench/link-$r" --probe --no-push-probe
	plan pf "s3://bench/flag-$r" --bandwidth "${r}Mbit" --rtt 0
	pp=$(none pp estimated_seconds) pb=$(none pb estimated_seconds) pl=$(none pl estimated_seconds)
	pf=$(none pf estimated_seconds) bn=$(none pp bottleneck)
	pbw=$(jq '.probe.upload_bytes_per_second * 8 / 1e6' "$work/pp.json")
	psh=$(jq '.probe.push.bytes_per_second * 8 / 1e6' "$work/pp.json")
	fix=$(jq '.probe.push.fixed_seconds' "$work/pp.json")
	in_ns "$ferry" init "s3://bench/store-$r" --compress none >/dev/null 2>"$work/init.err" || { cat "$work/init.err"; exit 1; }
	t0=$(date +%s.%N)
	in_ns "$ferry" push "$src" "s3://bench/store-$r" >/dev/null 2>"$work/push.err" || { cat "$work/push.err"; exit 1; }
	t1=$(date +%s.%N)
	m=$(echo "$t1 - $t0" | bc -l)
	printf '%-6s %8.1f %8.1f %6.2f %9.2f %9.2f %9.2f %9.2f %8.2f %7.3f %7.3f %7.3f %7.3f %-10s %5s\n' "${r}M" "$pbw" \
		"$psh" "$fix" "$pp" "$pb" "$pl" "$pf" "$m" "$(echo "$pp / $m" | bc -l)" "$(echo "$pb / $m" | bc -l)" \
		"$(echo "$pl / $m" | bc -l)" "$(echo "$pf / $m" | bc -l)" "$bn" "$(cut -d' ' -f1 /proc/loadavg)"
done
# every probe cleaned up after itself: only the pushed stores are left in the bucket
left=$(in_ns /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://bench/ | grep -c 'ferry-probe-')
echo "probe keys left in the bucket: $left; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
