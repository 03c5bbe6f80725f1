# shellcheck shell=bash
# The helpers the shell test suites share (tests/integration/*.sh, tests/s3/*.sh). Sourced,
# before any check and before the script changes directory:
#   . "$(dirname "$0")/../lib.sh"
# Every check prints one line, "ok   - NAME" or "FAIL - NAME", and is counted; `finish`
# prints "N passed, M failed".
#
# Helpers: ok NAME, bad NAME, check NAME EXPR, expect CODE NAME CMD..., grep_err ERE NAME,
# one_line_err NAME, json_num KEY [FILE], finish (a script's last command: its status, 0 only
# if nothing failed, is the script's exit status). A script may redefine one after sourcing
# where its own differs (hostile.sh's expect also bounds memory, for instance).
#
# What differs between scripts is a variable, read each time a helper runs (so it may be
# set before or after sourcing, or for one call: `ERRFILE=$work/x.log bad NAME`):
#   ERRFILE         shown under a FAIL line (default $work/err; empty: nothing is shown).
#                   When it holds a sanitizer report, the report is shown instead.
#   ERR_LINES       how many of its lines (default 5)
#   ERR_FROM        head or tail: its first or its last lines (default head)
#   ERR_SKIP        an ERE: lines of it that match are not shown (say, per-request debug)
#   OK_SECONDS      non-empty: ok lines end in " [Ns]", N the seconds since the start
#   EXPECT_TIMEOUT  expect runs the command under `timeout` with this many seconds
#   FINISH_PREFIX   printed before "N passed, M failed"
# The stdout and stderr of the last `expect` are in $work/out and $work/err.
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   - $1${OK_SECONDS:+ [${SECONDS}s]}"; }

bad() {
	fail=$((fail + 1))
	echo "FAIL - $1"
	local f=${ERRFILE-${work:+$work/err}}
	[ -n "$f" ] && [ -f "$f" ] || return 0
	if grep -q 'Sanitizer' "$f"; then
		# what ferry said first (the failure), then the sanitizer's report
		grep -m3 '^ferry' "$f" | sed 's/^/       /'
		grep -A25 -m1 'ERROR: \|runtime error' "$f" | sed 's/^/       /'
	elif [ -n "${ERR_SKIP:-}" ]; then
		grep -vE -- "$ERR_SKIP" "$f" | sed 's/^/       /' | "${ERR_FROM:-head}" -n "${ERR_LINES:-5}"
	else
		sed 's/^/       /' "$f" | "${ERR_FROM:-head}" -n "${ERR_LINES:-5}"
	fi
	return 0
}

# check NAME EXPR: EXPR (evaluated) succeeds
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# expect CODE NAME CMD...: CMD exits with CODE; its stdout and stderr in $work/out, $work/err
expect() {
	local code=$1 name=$2 rc
	shift 2
	[ -z "${EXPECT_TIMEOUT:-}" ] || set -- timeout "$EXPECT_TIMEOUT" "$@"
	"$@" >"$work/out" 2>"$work/err"
	rc=$?
	if [ "$rc" -eq "$code" ]; then ok "$name"; else echo "       exit $rc, wanted $code"; bad "$name"; fi
}

# grep_err ERE NAME: the last expect's stderr matches
grep_err() { if grep -qE -- "$1" "$work/err"; then ok "$2"; else bad "$2"; fi; }

# one_line_err NAME: the last expect's stderr holds exactly one "ferry:" line
one_line_err() { if [ "$(grep -c '^ferry:' "$work/err")" -eq 1 ]; then ok "$1"; else bad "$1"; fi; }

# json_num KEY [FILE]: the number KEY has in FILE's --json output (default $work/out)
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "${2:-$work/out}"; }

# finish: the closing line; succeeds if nothing failed
finish() {
	echo "${FINISH_PREFIX:-}$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
