#!/usr/bin/env bash
# Client-only ceiling of S3 uploads: ferry copy, rclone copy and aws s3 cp --recursive
# against an nginx on 127.0.0.1 that accepts and discards every PUT (200, fixed ETag),
# answers POST ?uploads with an InitiateMultipartUploadResult, POST ?uploadId with a
# CompleteMultipartUploadResult, GET with an empty listing and HEAD with 404. No server work is done,
# so what is measured is each client's own ceiling (requests/s, GiB/s) on this machine.
# Nothing is stored: only uploads can be measured (ferry push needs a real store).
#
#   bash bench/s3_null.sh
#
# Environment: FERRY (build/ferry), WORK (/tmp/ferry-bench-s3-null), NSMALL (20000),
# SIZE (1073741824), TIMEOUT (300 s a run), PERF=DIR (also profile ferry's runs with perf). Needs nginx (apt-get install nginx-light),
# rclone, /usr/bin/aws, GNU time. Data is read warm (from the page cache) on purpose.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
FERRY=${FERRY:-$root/build/ferry}
WORK=${WORK:-/tmp/ferry-bench-s3-null}
NSMALL=${NSMALL:-20000}
SIZE=${SIZE:-1073741824}
TIMEOUT=${TIMEOUT:-300}
for t in /usr/sbin/nginx rclone /usr/bin/aws /usr/bin/time "$FERRY"; do
	[ -x "$(command -v "$t")" ] || { echo "s3_null.sh: $t is missing" >&2; exit 2; }
done
if [ -e "$WORK" ] && [ ! -e "$WORK/.ferry-bench-s3-null" ]; then
	echo "s3_null.sh: $WORK exists and was not made by this script" >&2
	exit 2
fi
mkdir -p "$WORK/tmp" "$WORK/logs"
touch "$WORK/.ferry-bench-s3-null"
WORK=$(cd "$WORK" && pwd)
nginx_pid=
cleanup() {
	local rc=$?
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- data: NSMALL files of 100 B-8 KiB (log-uniform, random bytes) and one SIZE file
for k in $(seq 0 19); do mkdir -p "$WORK/small/d$(printf %03d "$k")"; done
perl -e '
	my ($d, $n) = @ARGV; srand(7); open(my $r, "<", "/dev/urandom") or die; binmode($r);
	my $pool; read($r, $pool, 1 << 20) == 1 << 20 or die;
	for my $i (0 .. $n - 1) {
		my $sz = int(100 * exp(rand() * log(8192 / 100)));
		open(my $o, ">", sprintf("%s/small/d%03d/f%06d.bin", $d, $i % 20, $i)) or die; binmode($o);
		print $o substr($pool, int(rand((1 << 20) - $sz)), $sz); close($o) or die;
	}' "$WORK" "$NSMALL"
mkdir -p "$WORK/large"
{ openssl enc -aes-128-ctr -nosalt -K 0000000000000000000000000000abcd -iv 0 </dev/zero 2>/dev/null || true; } |
	head -c "$SIZE" >"$WORK/large/big.bin"
declare -A NF NB
for s in small large; do
	NF[$s]=$(find "$WORK/$s" -type f | wc -l)
	NB[$s]=$(find "$WORK/$s" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }')
	cat "$WORK/$s"/*/* "$WORK/$s"/* >/dev/null 2>&1 || true # warm
done

# ---- nginx on a free port
port=
for p in $(shuf -i 20000-31999 -n 20); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "s3_null.sh: no free port" >&2; exit 1; }
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_max_body_size 0;
	client_body_temp_path $WORK/tmp/body;
	proxy_temp_path $WORK/tmp/proxy;
	fastcgi_temp_path $WORK/tmp/fastcgi;
	uwsgi_temp_path $WORK/tmp/uwsgi;
	scgi_temp_path $WORK/tmp/scgi;
	keepalive_requests 1000000;
	keepalive_timeout 120s;
	map "\$request_method?\$args" \$kind {
		~^POST\?uploads(=|&|\$) init;
		~^POST\?.*uploadId= complete;
		~^GET list;
		~^HEAD head;
		default ok;
	}
	server {
		listen 127.0.0.1:$port;
		default_type application/xml;
		add_header ETag '"0123456789abcdef0123456789abcdef"' always;
		location / {
			if (\$kind = init) {
				return 200 '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>null-upload</UploadId></InitiateMultipartUploadResult>';
			}
			if (\$kind = complete) {
				return 200 '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>x</Location><Bucket>b</Bucket><Key>k</Key><ETag>"0123456789abcdef0123456789abcdef-1"</ETag></CompleteMultipartUploadResult>';
			}
			if (\$kind = list) {
				return 200 '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>';
			}
			if (\$kind = head) {
				return 404;
			}
			return 200 '';
		}
	}
}
EOF
/usr/sbin/nginx -c "$WORK/nginx.conf" -p "$WORK" &
nginx_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
ep=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=null AWS_SECRET_ACCESS_KEY=null AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$ep AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export FERRY_S3_MAX_PARTS=1000
export RCLONE_CONFIG_X_TYPE=s3 RCLONE_CONFIG_X_PROVIDER=Other RCLONE_CONFIG_X_ENDPOINT=$ep \
	RCLONE_CONFIG_X_ACCESS_KEY_ID=null RCLONE_CONFIG_X_SECRET_ACCESS_KEY=null RCLONE_CONFIG_X_REGION=us-east-1 \
	RCLONE_CONFIG_X_FORCE_PATH_STYLE=true

echo "== client-only ceiling: uploads into nginx that discards them ($ep); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   small: ${NF[small]} files, ${NB[small]} bytes; large: ${NB[large]} bytes; data warm in the page cache"
echo "   rclone runs with --s3-no-head --ignore-checksum (nginx answers HEAD with 404 and one fixed ETag)"
echo
echo "| set | tool | wall s | client CPU s | files/s | GiB/s | CPU ms/file | CPU s/GiB | status |"
echo "|---|---|--:|--:|--:|--:|--:|--:|---|"
for s in small large; do
	for tool in ferry-copy rclone aws; do
		case $tool in
		ferry-copy) cmd="'$FERRY' copy '$WORK/$s' s3://nullb/$s" ;;
		rclone) cmd="env -u AWS_CA_BUNDLE rclone copy --s3-no-head --ignore-checksum '$WORK/$s' X:nullb/$s" ;;
		aws) cmd="/usr/bin/aws --endpoint-url '$ep' s3 cp --recursive --only-show-errors '$WORK/$s/' s3://nullb/$s/" ;;
		esac
		rc=0
		# PERF=DIR: also a perf profile of ferry's run (perf record -g; perf report --stdio)
		if [ -n "${PERF:-}" ] && [ "$tool" = ferry-copy ]; then
			mkdir -p "$PERF"
			perf record -q -g -o "$PERF/$s.data" -- bash -c "$cmd" >/dev/null 2>&1 || true
			perf report -i "$PERF/$s.data" --stdio --no-children --percent-limit 1.5 2>/dev/null | grep -v '^$' | head -150 >"$PERF/$s.txt" || true
		fi
		/usr/bin/time -f '%e %U %S' -o "$WORK/logs/$s-$tool.time" timeout -k 5 "$TIMEOUT" bash -c "$cmd" \
			>"$WORK/logs/$s-$tool.out" 2>"$WORK/logs/$s-$tool.err" || rc=$?
		read -r e u sy < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+$' "$WORK/logs/$s-$tool.time" | tail -1)
		c=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
		st=$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc): $(tail -1 "$WORK/logs/$s-$tool.err" | cut -c1-120)")
		awk -v s="$s" -v t="$tool" -v e="$e" -v c="$c" -v n="${NF[$s]}" -v b="${NB[$s]}" -v st="$st" 'BEGIN {
			g = b / 2^30; printf "| %s | %s | %.2f | %.2f | %.0f | %.3f | %.3f | %.2f | %s |\n", s, t, e, c, n / e, g / e, 1000 * c / n, c / g, st }'
	done
done
