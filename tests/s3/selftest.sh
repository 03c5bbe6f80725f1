#!/bin/bash
# selftest.sh [--all] [ROUNDS] - prove swift-server.sh is reliable: ROUNDS
# times (default 2) start a server in a fresh directory, run
# check-awscli.sh (with --all: every s3api probe) against it, stop it, and
# check that no process and no mount of it is left. Prints the timings.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECK_ARGS=()
if [ "${1:-}" = --all ]; then CHECK_ARGS=(--all); shift; fi
ROUNDS=${1:-2}
ok_rounds=0
D=

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

leftovers() {   # processes or mounts that still mention $1
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case $cmd in *"$1"*) echo "process ${p#/proc/}: $cmd" ;; esac
    done
    grep -F " $1" /proc/self/mounts | sed 's/^/mount: /'
}

trap '[ -n "$D" ] && "$HERE/swift-server.sh" stop "$D"; exit 1' INT TERM

"$HERE/swift-server.sh" install || exit 1
for round in $(seq "$ROUNDS"); do
    D=$(mktemp -d /tmp/ferry-swift-selftest.XXXXXX)
    echo "=== round $round: $D"
    good=1
    t=$(date +%s%N)
    if env_lines=$("$HERE/swift-server.sh" start "$D"); then
        start_ms=$(ms_since "$t")
        grep -q '^S3_ENDPOINT=http://127.0.0.1:[0-9]*$' <<<"$env_lines" || {
            echo "start printed no S3_ENDPOINT"; good=0; }
        t=$(date +%s%N)
        "$HERE/check-awscli.sh" "${CHECK_ARGS[@]}" "$D" || good=0
        check_ms=$(ms_since "$t")
    else
        start_ms=$(ms_since "$t"); check_ms=-
        echo "start failed"; good=0
    fi
    t=$(date +%s%N)
    "$HERE/swift-server.sh" stop "$D" || good=0
    stop_ms=$(ms_since "$t")
    sleep 0.5
    left=$(leftovers "$D")
    if [ -n "$left" ]; then
        echo "left behind after stop:"; echo "$left"; good=0
    fi
    echo "round $round: start ${start_ms} ms, checks ${check_ms} ms, stop ${stop_ms} ms, $([ $good = 1 ] && echo OK || echo FAILED)"
    [ $good = 1 ] && ok_rounds=$((ok_rounds + 1)) && rm -rf "$D"
    D=
done
echo "selftest: $ok_rounds of $ROUNDS rounds OK"
[ "$ok_rounds" = "$ROUNDS" ]
