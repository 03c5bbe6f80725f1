#!/usr/bin/env bash
# S3 benchmark: ferry push / ferry copy vs the AWS CLI (`aws s3 cp --recursive`) and
# `rclone copy`, all against the same local OpenStack Swift (s3api) server, in one run.
#
#   bash bench/s3.sh
#
# Three data sets, each tool into its own fresh bucket:
#   large  one file of SIZE bytes (AES-CTR bytes: incompressible)
#   small  NSMALL files of 100 B-8 KiB (log-uniform; bench/gen_corpus.sh's small tree)
#   mixed  bench/gen_corpus.sh's mixed tree at SCALE (text, image-like bytes, floats)
# Upload, then (DOWN=1) download: ferry copy s3->local, aws s3 cp --recursive, rclone copy
# (all three from the objects ferry copy uploaded) and ferry pull (from ferry push's store).
# Every upload is checked against a listing (object count and total bytes); every download
# against the source (names and sizes; contents too for sets under 1 GB). A run that failed
# or did not land everything is reported FAILED and never counts as fast.
#
# Environment:
#   FERRY=PATH   ferry binary (default build/ferry; built Release if missing)
#   FERRY_BASE=PATH  a second ferry binary, for before/after in one run: the tool
#                "ferry-copy-base" in TOOLS (and DOWN_TOOLS) is `ferry copy` with it
#   WORK=DIR     scratch (default /tmp/ferry-bench-s3; must not exist or be one this
#                script made); the Swift server's storage lives in WORK/swift (ext4 /tmp)
#   SIZE=BYTES   the large file (default 2147483648 = 2 GiB)
#   NSMALL=N     small files (default 20000)
#   SCALE=S      mixed corpus scale (default 0.4: ~400 MB)
#   SETS="small large mixed"   which sets (in this order);  TOOLS="ferry-push ferry-copy aws rclone"
#   DOWN_SETS=...  which sets are downloaded too (default: SETS)
#   DOWN_TOOLS="ferry-copy aws rclone ferry-pull"   downloaders (their sources: ferry copy
#                and ferry push uploads of the same run)
#   REPS=N       timed runs per measurement, median reported (default 1)
#   ROTATE=1     uploads: rep r runs the tools in TOOLS rotated by r-1 (order effects:
#                on the bench VM, memory freed by one run makes the next one cheaper)
#   DOWN=0|1     also measure downloads (default 1)
#   TIMEOUT=S    a run is killed after S s and reported HUNG (default 900)
#   RAW=FILE     raw numbers, one line per run (default WORK/../ferry-bench-s3-raw.tsv)
#   KEEP=1       keep WORK
#   REPORT_FROM=RAW.tsv   only print the tables again from a raw file (measures nothing)
#   RCLONE_FLAGS / AWS_FLAGS / FERRY_FLAGS   extra flags for each tool (default none)
#
# Needs root (drop_caches before each run; the caches are warm otherwise, and it says so),
# /usr/bin/aws (Debian awscli), rclone, GNU time, and tests/s3/swift-server.sh's packages.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
FERRY=${FERRY:-$root/build/ferry}
WORK=${WORK:-/tmp/ferry-bench-s3}
SIZE=${SIZE:-2147483648}
NSMALL=${NSMALL:-20000}
SCALE=${SCALE:-0.4}
SETS_GIVEN=${SETS:-}
SETS=${SETS:-small large mixed}
DOWN_SETS=${DOWN_SETS:-$SETS}
DOWN_TOOLS=${DOWN_TOOLS:-ferry-copy aws rclone ferry-pull}
TOOLS=${TOOLS:-ferry-push ferry-copy aws rclone}
REPS=${REPS:-1}
DOWN=${DOWN:-1}
TIMEOUT=${TIMEOUT:-900}
KEEP=${KEEP:-0}
RCLONE_FLAGS=${RCLONE_FLAGS:-}
AWS_FLAGS=${AWS_FLAGS:-}
FERRY_FLAGS=${FERRY_FLAGS:-}

# --------------------------------------------------------------------------- report
# make_report: the tables, from $RAW alone (also: REPORT_FROM=RAW.tsv bash bench/s3.sh)
make_report() {
# median of a column over the ok runs of (dir, set, tool); FAIL if any run failed
stat_of() { # DIR SET TOOL FIELD(elapsed|cpu|other)
	awk -F'\t' -v d="$1" -v s="$2" -v t="$3" -v f="$4" '
		NR > 1 && $1 == d && $2 == s && $3 == t {
			n++; if ($5 != "ok") bad = 1
			v[n] = (f == "elapsed" ? $6 : f == "cpu" ? $7 + $8 : $10) }
		END { if (!n) { print "-"; exit } if (bad) { print "FAIL"; exit }
			# sort (insertion; n is small) and take the median
			for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
			m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2; printf "%.2f", m }' "$RAW"
}
num() { [ "$1" != FAIL ] && [ "$1" != - ]; }
best_other() { # DIR SET FIELD -> "value tool" (the faster/lower of aws and rclone)
	local a r
	a=$(stat_of "$1" "$2" aws "$3") r=$(stat_of "$1" "$2" rclone "$3")
	if num "$a" && { ! num "$r" || awk -v a="$a" -v r="$r" 'BEGIN { exit !(a <= r) }'; }; then echo "$a aws"
	elif num "$r"; then echo "$r rclone"
	else echo "- -"; fi
}
ratio() { if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; else echo "-"; fi; }
verdict() { # RATIO OP LIMIT (ferry value / other; a failed ferry run is a MISS)
	if [ "$1" = - ]; then echo "MISS (no result)"; return; fi
	awk -v r="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=" ? r <= l : r < l); print (ok ? "PASS" : "MISS") }'
}

report=${RAW%.tsv}-report.md
{
	echo "### Per tool (median of $REPS; CPU = user+sys of the client process tree; server CPU = the rest of the machine meanwhile)"
	echo
	echo "| dir | set | tool | wall s | client CPU s | wall s/GiB | CPU s/GiB | wall ms/file | CPU ms/file | server+other CPU s |"
	echo "|---|---|---|--:|--:|--:|--:|--:|--:|--:|"
	for dir in up down; do
		for set in $SETS; do
			for tool in ferry-push ferry-pull ferry-copy ferry-copy-base aws rclone; do
				e=$(stat_of "$dir" "$set" "$tool" elapsed)
				[ "$e" = - ] && continue
				c=$(stat_of "$dir" "$set" "$tool" cpu) o=$(stat_of "$dir" "$set" "$tool" other)
				gib=$(awk -v b="${NB[$set]}" 'BEGIN { print b / 2^30 }')
				if num "$e"; then
					echo "| $dir | $set | $tool | $e | $c | $(awk -v x="$e" -v g="$gib" 'BEGIN { printf "%.2f", x / g }') | $(awk -v x="$c" -v g="$gib" 'BEGIN { printf "%.2f", x / g }') | $(awk -v x="$e" -v n="${NF[$set]}" 'BEGIN { printf "%.3f", 1000 * x / n }') | $(awk -v x="$c" -v n="${NF[$set]}" 'BEGIN { printf "%.3f", 1000 * x / n }') | $o |"
				else
					echo "| $dir | $set | $tool | **$e** | | | | | | |"
				fi
			done
		done
	done
	echo
	echo "### Targets (ratio = ferry / the faster of aws and rclone for time; ferry / rclone for CPU)"
	echo
	echo "| target | ferry | other | ratio | limit | |"
	echo "|---|--:|--:|--:|--:|---|"
	tgt() { # LABEL FERRY-VALUE OTHER-VALUE OTHER-NAME LIMIT
		local r
		[ "$3" != - ] || return 0 # the other tools were not run (TOOLS)
		r=$(ratio "$2" "$3")
		echo "| $1 | $2 | $3 ($4) | $r | ≤ $5 | $(verdict "$r" "<=" "$5") |"
	}
	for set in $SETS; do
		read -r bo bn <<<"$(best_other up "$set" elapsed)"
		if [ "$set" = small ]; then
			tgt "up small: ferry push time (packed) ≥ 5× faster" "$(stat_of up small ferry-push elapsed)" "$bo" "$bn" 0.20
		fi
		if [ "$set" = large ]; then
			tgt "up large: ferry push time no slower" "$(stat_of up large ferry-push elapsed)" "$bo" "$bn" 1.00
		fi
		tgt "up $set: ferry copy time no slower" "$(stat_of up "$set" ferry-copy elapsed)" "$bo" "$bn" 1.00
		tgt "up $set: ferry copy client CPU (per GiB and per file) ≤ 0.5× rclone's" \
			"$(stat_of up "$set" ferry-copy cpu)" "$(stat_of up "$set" rclone cpu)" rclone 0.50
		[ "$(stat_of up "$set" ferry-copy-base cpu)" = - ] ||
			tgt "up $set: ferry copy (FERRY_BASE) client CPU ≤ 0.5× rclone's" \
				"$(stat_of up "$set" ferry-copy-base cpu)" "$(stat_of up "$set" rclone cpu)" rclone 0.50
	done
	if [ "$DOWN" = 1 ]; then
		echo
		echo "Download direction (no targets in the issue; the same rules applied for information):"
		echo
		echo "| download | ferry | other | ratio | limit | |"
		echo "|---|--:|--:|--:|--:|---|"
			for set in $DOWN_SETS; do
			[ "$(stat_of down "$set" ferry-copy elapsed)" != - ] || continue
			read -r bo bn <<<"$(best_other down "$set" elapsed)"
			tgt "down $set: ferry copy time" "$(stat_of down "$set" ferry-copy elapsed)" "$bo" "$bn" 1.00
			[ "$(stat_of down "$set" ferry-pull elapsed)" = - ] ||
				tgt "down $set: ferry pull time" "$(stat_of down "$set" ferry-pull elapsed)" "$bo" "$bn" 1.00
			tgt "down $set: ferry copy client CPU vs rclone" "$(stat_of down "$set" ferry-copy cpu)" \
				"$(stat_of down "$set" rclone cpu)" rclone 0.50
		done
	fi
} >"$report"
cat "$report"
echo
echo "raw numbers: $RAW"
echo "report:      $report"
}

if [ -n "${REPORT_FROM:-}" ]; then
	RAW=$REPORT_FROM
	declare -A NF NB
	sets=$(awk -F'\t' 'NR > 1 && !seen[$2]++ { printf "%s ", $2 }' "$RAW")
	SETS=${SETS_GIVEN:-$sets}
	for s in $SETS; do
		NF[$s]=$(awk -F'\t' -v s="$s" 'NR > 1 && $2 == s { print $13; exit }' "$RAW")
		NB[$s]=$(awk -F'\t' -v s="$s" 'NR > 1 && $2 == s { print $14; exit }' "$RAW")
	done
	DOWN_SETS=$(awk -F'\t' 'NR > 1 && $1 == "down" && !seen[$2]++ { printf "%s ", $2 }' "$RAW")
	[ -n "$DOWN_SETS" ] || DOWN=0
	REPS=$(awk -F'\t' 'NR > 1 && $4 > r { r = $4 } END { print r + 0 }' "$RAW")
	make_report
	exit 0
fi

for t in /usr/bin/aws rclone /usr/bin/time timeout openssl perl; do
	command -v "$t" >/dev/null || { echo "s3.sh: $t is missing" >&2; exit 2; }
done
bash tests/s3/swift-server.sh install
if [ ! -x "$FERRY" ]; then
	echo "== building ferry (Release) into build"
	bash scripts/build.sh Release build >/dev/null
	FERRY=$root/build/ferry
fi

if [ -e "$WORK" ] && [ ! -e "$WORK/.ferry-bench-s3" ]; then
	echo "s3.sh: $WORK exists and was not made by this script" >&2
	exit 2
fi
mkdir -p "$WORK"
touch "$WORK/.ferry-bench-s3"
WORK=$(cd "$WORK" && pwd)
RAW=${RAW:-$(dirname "$WORK")/ferry-bench-s3-raw.tsv}
srv=$WORK/swift
server_up=0
cleanup() {
	local rc=$?
	if [ "$server_up" = 1 ]; then
		bash "$root/tests/s3/swift-server.sh" stop "$srv" >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

cold=1
if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
	cold=0
	echo "WARNING: cannot drop caches (not root?): every run is WARM" >&2
fi
drop_caches() { sync; [ "$cold" = 0 ] || echo 3 >/proc/sys/vm/drop_caches; }
cpu_busy_s() { awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat; }

echo "== ferry S3 benchmark against a local Swift (s3api) server"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "ferry:   $("$FERRY" --version 2>&1 | head -1) ($FERRY)"
[ -z "${FERRY_BASE:-}" ] || echo "base:    $("$FERRY_BASE" --version 2>&1 | head -1) ($FERRY_BASE, tool ferry-copy-base)"
echo "tools:   $(/usr/bin/aws --version 2>&1); $(rclone version 2>/dev/null | head -1); Swift $(dpkg-query -W -f='${Version}' python3-swift)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
echo "fs:      $WORK on $(findmnt -n -o SOURCE,FSTYPE -T "$WORK" | tr -s ' ')"
echo "caches:  $([ "$cold" = 1 ] && echo 'sync + drop_caches before every timed run' || echo WARM)"
echo "load:    load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the 2 cores are shared with other work)"
echo "reps:    $REPS per measurement (median); timeout ${TIMEOUT}s a run"
echo "flags:   ferry: FERRY_S3_MAX_PARTS=1000 FERRY_S3_CONNECTIONS=${FERRY_S3_CONNECTIONS:-16 (default)} $FERRY_FLAGS; aws: defaults $AWS_FLAGS; rclone: defaults $RCLONE_FLAGS"
echo

# --------------------------------------------------------------------------- corpus
corpus=$WORK/corpus
randstream() { openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null; }
if [ ! -d "$corpus/done" ]; then
	echo "== corpus"
	rm -rf "$corpus"
	mkdir -p "$corpus/large"
	{ randstream 5000 || true; } | head -c "$SIZE" >"$corpus/large/big.bin"
	# gen_corpus.sh makes both trees at one scale: run it twice, keep one tree of each
	small_scale=$(awk -v n="$NSMALL" 'BEGIN { printf "%.5f", n / 100000 }')
	bash bench/gen_corpus.sh "$corpus/gs" "$small_scale" >/dev/null
	mv "$corpus/gs/small" "$corpus/small"
	rm -rf "$corpus/gs"
	bash bench/gen_corpus.sh "$corpus/gm" "$SCALE" >/dev/null
	mv "$corpus/gm/mixed" "$corpus/mixed"
	rm -rf "$corpus/gm"
	mkdir "$corpus/done"
fi
declare -A NF NB
for s in $SETS; do
	NF[$s]=$(find "$corpus/$s" -type f | wc -l)
	NB[$s]=$(find "$corpus/$s" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }')
	printf 'set %-6s %7d files %12d bytes (%.3f GiB)\n' "$s" "${NF[$s]}" "${NB[$s]}" "$(awk -v b="${NB[$s]}" 'BEGIN { print b / 2^30 }')"
done
echo

# --------------------------------------------------------------------------- server
echo "== Swift server"
bash tests/s3/swift-server.sh start "$srv" >"$WORK/server.env" 2>"$WORK/server.log" ||
	{ tail -20 "$WORK/server.log"; echo "s3.sh: the Swift server did not start" >&2; exit 1; }
server_up=1
set -a
. "$WORK/server.env"
set +a
echo "endpoint: $S3_ENDPOINT (storage: $(findmnt -n -o FSTYPE -T "$srv/srv") under $srv)"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export FERRY_S3_MAX_PARTS=1000
export RCLONE_CONFIG_X_TYPE=s3 RCLONE_CONFIG_X_PROVIDER=Other RCLONE_CONFIG_X_ENDPOINT=$S3_ENDPOINT \
	RCLONE_CONFIG_X_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_X_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
	RCLONE_CONFIG_X_REGION=us-east-1 RCLONE_CONFIG_X_FORCE_PATH_STYLE=true
awsq() { /usr/bin/aws --endpoint-url "$S3_ENDPOINT" "$@"; }
key=$WORK/bench.key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
echo

# --------------------------------------------------------------------------- running
# Commands per tool. Uploads go to s3://BUCKET/PREFIX; one bucket per (set, tool, rep).
F=$FERRY
up_cmd() { # TOOL SRC BUCKET
	case $1 in
	ferry-push) echo "'$F' push '$2' 's3://$3/store' --key-file '$key' --json $FERRY_FLAGS" ;;
	ferry-copy) echo "'$F' copy '$2' 's3://$3/copy' --json $FERRY_FLAGS" ;;
	ferry-copy-base) echo "'$FERRY_BASE' copy '$2' 's3://$3/copy' --json $FERRY_FLAGS" ;;
	aws) echo "/usr/bin/aws --endpoint-url '$S3_ENDPOINT' s3 cp --recursive --only-show-errors $AWS_FLAGS '$2/' 's3://$3/aws/'" ;;
	rclone) echo "env -u AWS_CA_BUNDLE rclone copy $RCLONE_FLAGS '$2' 'X:$3/rclone'" ;;
	esac
}
down_cmd() { # TOOL BUCKET-OF-THE-SOURCE DEST
	case $1 in
	ferry-pull) echo "'$F' pull 's3://$2/store' '$3' --key-file '$key' --json $FERRY_FLAGS" ;;
	ferry-copy) echo "'$F' copy 's3://$2/copy' '$3' --json $FERRY_FLAGS" ;;
	ferry-copy-base) echo "'$FERRY_BASE' copy 's3://$2/copy' '$3' --json $FERRY_FLAGS" ;;
	aws) echo "/usr/bin/aws --endpoint-url '$S3_ENDPOINT' s3 cp --recursive --only-show-errors $AWS_FLAGS 's3://$2/copy/' '$3/'" ;;
	rclone) echo "env -u AWS_CA_BUNDLE rclone copy $RCLONE_FLAGS 'X:$2/copy' '$3'" ;;
	esac
}
prefix_of() { case $1 in ferry-push) echo store ;; ferry-copy | ferry-copy-base) echo copy ;; *) echo "$1" ;; esac; }
bucket_of() { echo "b-$1-$2-r$3" | tr -c 'a-z0-9-\n' '-'; }

mkdir -p "$WORK/logs"
[ -e "$RAW" ] && mv "$RAW" "$RAW.old"
printf 'dir\tset\ttool\trep\tstatus\telapsed_s\tuser_s\tsys_s\tmaxrss_kb\tother_cpu_s\tobjects\tobject_bytes\tfiles\tbytes\tnote\n' >"$RAW"

# listing SUMMARY of s3://BUCKET/PREFIX/: "objects bytes"
listing() {
	awsq s3 ls --recursive --summarize "s3://$1/$2/" 2>/dev/null |
		awk '/Total Objects:/ { o = $3 } /Total Size:/ { b = $3 } END { printf "%.0f %.0f", o, b }'
}
tree_sig() { (cd "$1" && find . -type f -printf '%P %s\n' | LC_ALL=C sort | md5sum | cut -d' ' -f1); }

# timed DIR SET TOOL REP CMD: one timed run; result line into $RAW; prints a summary line.
# Sets LAST_STATUS. The check that the data landed is done by the caller (check_up/check_down).
timed() {
	local dir=$1 set=$2 tool=$3 rep=$4 cmd=$5 id rc=0 c0 c1 own other
	id=$dir-$set-$tool-$rep
	echo "\$ $cmd" >"$WORK/logs/$id.cmd"
	drop_caches
	c0=$(cpu_busy_s)
	/usr/bin/time -f '%e %U %S %M' -o "$WORK/logs/$id.time" timeout -k 10 "$TIMEOUT" bash -c "$cmd" \
		>"$WORK/logs/$id.out" 2>"$WORK/logs/$id.err" || rc=$?
	c1=$(cpu_busy_s)
	own=$(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$WORK/logs/$id.time" | tail -1 || echo 'nan nan nan 0')
	# CPU seconds everything else on the machine used meanwhile: the Swift server, mostly
	other=$(echo "$own" | awk -v a="$c0" -v b="$c1" '{ v = (b - a) - $2 - $3; printf "%.1f", v < 0 ? 0 : v }')
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then LAST_STATUS=HUNG
	elif [ "$rc" != 0 ]; then LAST_STATUS=FAILED
	else LAST_STATUS=ok; fi
	LAST_OWN=$own LAST_OTHER=$other LAST_RC=$rc LAST_ID=$id
}
record() { # DIR SET TOOL REP OBJECTS BYTES NOTE
	local e u s m
	read -r e u s m <<<"$LAST_OWN"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$LAST_STATUS" \
		"$e" "$u" "$s" "$m" "$LAST_OTHER" "$5" "$6" "${NF[$2]}" "${NB[$2]}" "$7" >>"$RAW"
	printf '  %-4s %-6s %-10s rep %s: %-6s %8s s wall, %7.2f s CPU (user %s sys %s), server+other CPU %s s; %s\n' \
		"$1" "$2" "$3" "$4" "$LAST_STATUS" "$e" "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" "$u" "$s" \
		"$LAST_OTHER" "$7"
	if [ "$LAST_STATUS" != ok ]; then
		sed 's/^/    | /' "$WORK/logs/$LAST_ID.out" "$WORK/logs/$LAST_ID.err" | tail -15
	fi
}

upload() { # SET TOOL REP
	local set=$1 tool=$2 rep=$3 b pre o n note=""
	b=$(bucket_of "$set" "$tool" "$rep")
	pre=$(prefix_of "$tool")
	awsq s3 mb "s3://$b" >/dev/null
	if [ "$tool" = ferry-push ]; then
		"$F" init "s3://$b/store" --encrypt --key-file "$key" -q
	fi
	timed up "$set" "$tool" "$rep" "$(up_cmd "$tool" "$corpus/$set" "$b")"
	read -r o n <<<"$(listing "$b" "$pre")"
	if [ "$LAST_STATUS" = ok ]; then
		if [ "$tool" = ferry-push ]; then
			# a store holds packs, not one object per file: check ferry's own count of the
			# files it stored and that the store holds at least the bytes it says it wrote
			local ft bw
			ft=$(grep -o '"files_transferred":[0-9]*' "$WORK/logs/$LAST_ID.out" | cut -d: -f2)
			bw=$(grep -o '"bytes_written":[0-9]*' "$WORK/logs/$LAST_ID.out" | cut -d: -f2)
			note="store: $o objects, $n bytes; ferry says files_transferred=${ft:-?} bytes_written=${bw:-?}"
			if [ "${ft:-0}" != "${NF[$set]}" ] || [ "$n" -lt "${bw:-1}" ]; then
				LAST_STATUS=FAILED; note="NOT LANDED: $note"
			fi
		else
			note="$o objects, $n bytes"
			if [ "$o" != "${NF[$set]}" ] || [ "$n" != "${NB[$set]}" ]; then
				LAST_STATUS=FAILED; note="NOT LANDED: $note (want ${NF[$set]} objects, ${NB[$set]} bytes)"
			fi
		fi
	fi
	record up "$set" "$tool" "$rep" "$o" "$n" "$note"
}

download() { # SET TOOL REP
	local set=$1 tool=$2 rep=$3 src out note=""
	# every downloader reads the same objects: ferry copy's upload (rep 1); ferry pull
	# reads ferry push's store
	if [ "$tool" = ferry-pull ]; then src=$(bucket_of "$set" ferry-push 1); else src=$(bucket_of "$set" ferry-copy 1); fi
	out=$WORK/out
	rm -rf "$out"
	mkdir -p "$out"
	timed down "$set" "$tool" "$rep" "$(down_cmd "$tool" "$src" "$out")"
	if [ "$LAST_STATUS" = ok ]; then
		if [ "$(tree_sig "$out")" != "$(tree_sig "$corpus/$set")" ]; then
			LAST_STATUS=FAILED; note="NOT LANDED: names or sizes differ from the source"
		elif [ "${NB[$set]}" -lt 1000000000 ] && ! diff -rq "$corpus/$set" "$out" >/dev/null 2>&1; then
			LAST_STATUS=FAILED; note="NOT LANDED: contents differ from the source"
		else
			note="names and sizes match"
			[ "${NB[$set]}" -ge 1000000000 ] || note="$note, contents too"
		fi
	fi
	record down "$set" "$tool" "$rep" "-" "-" "$note"
	rm -rf "$out"
}

has() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }
T0=$(date +%s)
for set in $SETS; do
	echo "== upload: $set (${NF[$set]} files, ${NB[$set]} bytes)"
	for rep in $(seq 1 "$REPS"); do
		order=$TOOLS
		if [ "${ROTATE:-0}" = 1 ]; then # rep r starts with tool r: no tool always follows the same one
			set -- $TOOLS
			for _ in $(seq 2 "$rep"); do set -- "${@:2}" "$1"; done
			order=$*
		fi
		for tool in $order; do upload "$set" "$tool" "$rep"; done
	done
	echo
done
if [ "$DOWN" = 1 ]; then
	for set in $DOWN_SETS; do
		case " $SETS " in *" $set "*) ;; *) continue ;; esac
		echo "== download: $set (from ferry copy's objects; ferry pull from ferry push's store)"
		for rep in $(seq 1 "$REPS"); do
			for tool in $DOWN_TOOLS; do
				# a download needs its source: ferry copy's objects, or ferry push's store
				if [ "$tool" = ferry-pull ]; then has ferry-push || continue; else has ferry-copy || continue; fi
				download "$set" "$tool" "$rep"
			done
		done
		echo
	done
fi
echo "(measurements took $(( $(date +%s) - T0 )) s)"
echo

make_report
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
