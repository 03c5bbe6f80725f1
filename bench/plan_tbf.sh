#!/usr/bin/env bash
# The planner's time against a real push over a tbf-shaped link, at several bandwidths.
# A private network namespace holds the S3 test server (Swift s3api, tests/s3) and the
# client; the client sends from 127.0.0.2 (FERRY_S3_BIND), and only that address's
# packets go through the tbf (htb root + u32 filter), so the server's own loopback
# traffic (proxy to object server) is not shaped. For each rate: `ferry plan --probe`
# (the link measured: a sustained upload, time-boxed at FERRY_PLAN_PROBE_SECONDS, 5 s),
# `ferry plan --probe --bandwidth RATE` (the link as configured, the probe for the
# destination's rate and the request times) and `ferry plan --bandwidth RATE --rtt 0`
# (flags only) predict the time of the `none` option; `ferry push` to a store made with
# --compress none is timed; the ratios predicted/measured are printed, and the
# bottleneck the probe+flag plan names.
# usage: bench/plan_tbf.sh FERRY [RATE_MBIT...]   (default 50 200); root only.
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
printf '%-6s %9s %10s %10s %9s %8s %8s %8s %8s %-11s %6s\n' rate probe_Mb pred_probe pred_both pred_flag measured ratio_p ratio_b ratio_f bottleneck load1
for r in $rates; do
	shape "$r"
	in_ns "$ferry" plan "$src" "s3://bench/probe-$r" --probe --json >"$work/pp.json" 2>"$work/pp.err" ||
		{ cat "$work/pp.err"; exit 1; }
	in_ns "$ferry" plan "$src" "s3://bench/flag-$r" --bandwidth "${r}Mbit" --rtt 0 --json >"$work/pf.json" 2>"$work/pf.err" ||
		{ cat "$work/pf.err"; exit 1; }
	in_ns "$ferry" plan "$src" "s3://bench/both-$r" --probe --bandwidth "${r}Mbit" --json >"$work/pb.json" 2>"$work/pb.err" ||
		{ cat "$work/pb.err"; exit 1; }
	pb=$(jq '.options[] | select(.codec == "none") | .estimated_seconds' "$work/pb.json")
	bn=$(jq -r '.options[] | select(.codec == "none") | .bottleneck' "$work/pb.json")
	pp=$(jq '.options[] | select(.codec == "none") | .estimated_seconds' "$work/pp.json")
	pf=$(jq '.options[] | select(.codec == "none") | .estimated_seconds' "$work/pf.json")
	pbw=$(jq '.probe.upload_bytes_per_second * 8 / 1e6' "$work/pp.json")
	in_ns "$ferry" init "s3://bench/store-$r" --compress none >/dev/null 2>"$work/init.err" || { cat "$work/init.err"; exit 1; }
	t0=$(date +%s.%N)
	in_ns "$ferry" push "$src" "s3://bench/store-$r" >/dev/null 2>"$work/push.err" || { cat "$work/push.err"; exit 1; }
	t1=$(date +%s.%N)
	m=$(echo "$t1 - $t0" | bc -l)
	printf '%-6s %9.1f %10.2f %10.2f %9.2f %8.2f %8.3f %8.3f %8.3f %-11s %6s\n' "${r}M" "$pbw" "$pp" "$pb" "$pf" "$m" \
		"$(echo "$pp / $m" | bc -l)" "$(echo "$pb / $m" | bc -l)" "$(echo "$pf / $m" | bc -l)" "$bn" \
		"$(cut -d' ' -f1 /proc/loadavg)"
done
