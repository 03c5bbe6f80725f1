#!/bin/bash
# swift-server.sh - a throw-away single-node OpenStack Swift with the S3 API
# (s3api middleware, SigV4, tempauth) on 127.0.0.1, for ferry's S3 tests.
#
#   swift-server.sh install      apt-get install what it needs (idempotent)
#   swift-server.sh start DIR    build and start a server in DIR; prints
#                                KEY=VALUE lines (S3_ENDPOINT, AWS_*) on stdout
#   swift-server.sh stop DIR     stop everything start started, unmount
#   swift-server.sh status DIR   exit 0 if every daemon of DIR is running
#   swift-server.sh env DIR      print the KEY=VALUE lines again
#   swift-server.sh proxy-kill DIR   SIGKILL the S3 front end (a server crash)
#   swift-server.sh proxy-start DIR  start it again on its port; waits for it
#
# Use:  set -a; eval "$(tests/s3/swift-server.sh start "$dir")"; set +a
#
# Nothing under /etc is read or written at run time: every config, ring, log,
# pid file and the storage live in DIR. See tests/s3/README.md.
#
# Environment knobs (all optional):
#   FERRY_SWIFT_START_TIMEOUT  seconds to wait for the S3 endpoint (60)
#   FERRY_SWIFT_STORAGE        auto | dir | tmpfs | loop   (auto)
#                              auto: DIR/srv itself if its filesystem takes
#                              user xattrs, else a tmpfs, else a loop ext4
#   FERRY_SWIFT_TMPFS_SIZE     size of that tmpfs (2g)
#   FERRY_SWIFT_LOOP_SIZE      size of that ext4 image (2G)
#   FERRY_SWIFT_LOG_LEVEL      Swift log level (INFO)
#   FERRY_S3_REGION            s3api location / SigV4 region (us-east-1)
#   FERRY_S3_SECRET            the secret key (default: random per start)

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TPL=$HERE/swift
PY=/usr/bin/python3             # Debian's python, the one python3-swift is for
HELPER=$TPL/swiftd.py

START_TIMEOUT=${FERRY_SWIFT_START_TIMEOUT:-60}
STORAGE=${FERRY_SWIFT_STORAGE:-auto}
TMPFS_SIZE=${FERRY_SWIFT_TMPFS_SIZE:-2g}
LOOP_SIZE=${FERRY_SWIFT_LOOP_SIZE:-2G}
LOG_LEVEL=${FERRY_SWIFT_LOG_LEVEL:-INFO}
REGION=${FERRY_S3_REGION:-us-east-1}
S3_ACCOUNT=ferry
S3_USER=tester
DEVICE=d1
START_ATTEMPTS=3
MARKER=.ferry-swift-server

# python3-swift holds all of Swift's code, s3api included; the daemons are
# run from it directly, so the swift-proxy/-account/-container/-object
# packages (init scripts, uwsgi) are not needed. "swift" brings the CLI tools
# (swift-ring-builder, swift-object-info ...) for looking at DIR by hand.
PACKAGES="python3-swift swift memcached awscli attr curl openssl e2fsprogs util-linux procps"

say() { echo "swift-server.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- install

missing_packages() {
    # shellcheck disable=SC2086
    dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null |
        awk '$NF == "installed" { ok[$1] = 1 }
             END { n = split(want, w, " ")
                   for (i = 1; i <= n; i++) if (!(w[i] in ok)) print w[i] }' \
            want="$PACKAGES"
}

cmd_install() {
    local missing log
    missing=$(missing_packages | tr '\n' ' ')
    [ -z "${missing// /}" ] && return 0
    [ "$(id -u)" = 0 ] || die "not root; install these first: $missing"
    say "installing: $missing"
    log=$(mktemp /tmp/swift-server-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    local apt=(timeout 1200 apt-get -q -y -o DPkg::Lock::Timeout=120
               --no-install-recommends)
    # shellcheck disable=SC2086
    if ! "${apt[@]}" install $missing >"$log" 2>&1; then
        say "apt-get install failed; running apt-get update and retrying"
        timeout 600 apt-get -q update >>"$log" 2>&1
        # shellcheck disable=SC2086
        "${apt[@]}" install $missing >>"$log" 2>&1 || {
            tail -n 30 "$log" >&2
            die "apt-get install failed (full log: $log)"
        }
    fi
    rm -f "$log"
    missing=$(missing_packages | tr '\n' ' ')
    [ -z "${missing// /}" ] || die "still not installed: $missing"
}

check_installed() {
    local missing
    missing=$(missing_packages | tr '\n' ' ')
    [ -z "${missing// /}" ] ||
        die "missing packages: $missing(run: $0 install)"
    [ -f /usr/lib/python3/dist-packages/swift/common/middleware/s3api/s3api.py ] ||
        die "python3-swift has no s3api middleware"
}

# ---------------------------------------------------------------- processes

# starttime (field 22 of /proc/PID/stat): tells a pid we started from a
# later process that got the same number. Fails for a gone or zombie pid.
starttime() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    [ "$1" != Z ] && [ "$1" != X ] || return 1
    echo "${20}"
}

# group_alive PGID: some process of that group lives (zombies do not count:
# the daemons outlive this script, so PID 1 reaps them, maybe seconds later)
group_alive() {
    local want=$1 f stat rest
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue
        rest=${stat##*) }
        # shellcheck disable=SC2086
        set -- $rest
        # $1 state, $2 ppid, $3 process group
        if [ "${3:-}" = "$want" ] && [ "$1" != Z ] && [ "$1" != X ]; then
            return 0
        fi
    done
    return 1
}

# launch NAME CMD...: run CMD in the background in a session of its own
# (so its workers can be killed as a group), log to DIR/log/NAME.log,
# record "NAME PID STARTTIME" in DIR/run/pids.
launch() {
    local name=$1 pid st
    shift
    setsid "$@" </dev/null >>"$D/log/$name.log" 2>&1 &
    pid=$!
    st=$(starttime "$pid") || st=gone
    echo "$name $pid $st" >>"$D/run/pids"
}

# Kill every process group recorded in DIR/run/pids: TERM, wait up to 10 s,
# then KILL, wait up to 5 s.
kill_recorded() {
    local pidfile=$D/run/pids name pid st now groups=() g i alive
    [ -f "$pidfile" ] || return 0
    while read -r name pid st; do
        [ -n "${pid:-}" ] || continue
        if now=$(starttime "$pid"); then
            # pid alive: only ours if it is the same process
            [ "$now" = "$st" ] || continue
        else
            # leader gone: children may still hold its group id (a pid
            # is not reused while a group of that id exists)
            group_alive "$pid" || continue
        fi
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        groups+=("$pid")
    done <"$pidfile"
    for i in $(seq 100); do
        alive=0
        for g in "${groups[@]}"; do
            group_alive "$g" && alive=1
        done
        [ $alive = 0 ] && break
        [ "$i" = 50 ] && for g in "${groups[@]}"; do
            group_alive "$g" || continue
            say "group $g ignored SIGTERM; sending SIGKILL"
            kill -KILL -- "-$g" 2>/dev/null
        done
        sleep 0.2
    done
    for g in "${groups[@]}"; do
        group_alive "$g" && say "warning: process group $g still alive"
    done
    rm -f "$pidfile"
}

any_running() {
    local name pid st
    [ -f "$D/run/pids" ] || return 1
    while read -r name pid st; do
        [ "$(starttime "$pid" 2>/dev/null)" = "$st" ] && return 0
    done <"$D/run/pids"
    return 1
}

# ---------------------------------------------------------------- storage

# DIR/run/mounts lines: "tmpfs MOUNTPOINT" or "loop MOUNTPOINT IMAGE"
unmount_recorded() {
    local f=$D/run/mounts kind mp img i
    [ -f "$f" ] || return 0
    while read -r kind mp img; do
        for i in 1 2 3 4 5 6 7 8 9 10; do
            mountpoint -q "$mp" || break
            umount "$mp" 2>/dev/null && break
            sleep 0.3
        done
        if mountpoint -q "$mp"; then
            say "warning: $mp busy; lazy unmount"
            umount -l "$mp" || say "warning: could not unmount $mp"
        fi
        if [ "$kind" = loop ] && [ -n "${img:-}" ]; then
            # mount -o loop sets autoclear; detach anyway if still attached
            losetup -j "$img" -O NAME -n 2>/dev/null | while read -r dev; do
                losetup -d "$dev" 2>/dev/null
            done
            rm -f "$img"
        fi
    done <"$f"
    rm -f "$f"
}

mount_tmpfs() {
    [ "$(id -u)" = 0 ] || { say "not root: cannot mount a tmpfs"; return 1; }
    mount -t tmpfs -o "size=$TMPFS_SIZE,mode=0755" ferry-swift "$D/srv" ||
        return 1
    echo "tmpfs $D/srv" >>"$D/run/mounts"
    "$PY" "$HELPER" xattr-ok "$D/srv" && say "storage: tmpfs ($TMPFS_SIZE) on $D/srv"
}

mount_loop() {
    [ "$(id -u)" = 0 ] || { say "not root: cannot mount a loop device"; return 1; }
    local img=$D/disk.img
    rm -f "$img"
    truncate -s "$LOOP_SIZE" "$img" &&
        mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$img" ||
        return 1
    mount -o loop,user_xattr "$img" "$D/srv" || { rm -f "$img"; return 1; }
    echo "loop $D/srv $img" >>"$D/run/mounts"
    "$PY" "$HELPER" xattr-ok "$D/srv" && say "storage: loop ext4 ($LOOP_SIZE) on $D/srv"
}

prepare_storage() {
    case $STORAGE in
    auto)
        if "$PY" "$HELPER" xattr-ok "$D/srv" 2>/dev/null; then
            return 0
        fi
        say "$D does not take user xattrs; mounting a tmpfs"
        mount_tmpfs && return 0
        unmount_recorded
        say "tmpfs failed; trying a loop-mounted ext4"
        mount_loop ;;
    dir) "$PY" "$HELPER" xattr-ok "$D/srv" ;;
    tmpfs) mount_tmpfs ;;
    loop) mount_loop ;;
    *) say "FERRY_SWIFT_STORAGE must be auto, dir, tmpfs or loop"; return 1 ;;
    esac
}

# ---------------------------------------------------------------- start

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

print_env() {
    cat "$D/env"
}

show_logs() {
    local f
    for f in "$D"/log/*-server.log "$D"/log/memcached.log; do
        [ -s "$f" ] || continue
        echo "----- $f (last lines)" >&2
        tail -n 15 "$f" >&2
    done
}

# one attempt; returns 0 ok, 2 a port was taken meanwhile (retry), 1 failure
start_once() {
    local ports pa pc po pp pm secret run_user rc kind
    rm -rf "${D:?}/etc" "${D:?}/log" "${D:?}/env"
    rm -f "$D/run/pids"
    mkdir -p "$D/etc" "$D/log" "$D/run" "$D/srv" || return 1
    if mountpoint -q "$D/srv"; then
        say "$D/srv is a mount point this script did not make"
        return 1
    fi
    rm -rf "${D:?}/srv/"* "$D/srv/".[!.]* 2>/dev/null
    prepare_storage || { say "no storage with user xattrs for $D"; return 1; }
    mkdir -p "$D/srv/$DEVICE" || return 1

    secret=${FERRY_S3_SECRET:-$(random_hex 20)}
    run_user=$(id -un)
    # one python run: free ports, every config in DIR/etc, the rings
    ports=$(timeout 60 "$PY" "$HELPER" build "$D" "$TPL" "$REGION" \
        "$S3_ACCOUNT" "$S3_USER" "$secret" "$run_user" "$LOG_LEVEL" \
        "$DEVICE" 2>"$D/log/build.log") || {
        say "building the configs and rings failed"
        cat "$D/log/build.log" >&2
        return 1
    }
    read -r pa pc po pp pm <<<"$ports"

    local mc_user=()
    [ "$(id -u)" = 0 ] && mc_user=(-u root)
    launch memcached memcached -l 127.0.0.1 -p "$pm" -U 0 -m 64 -t 2 "${mc_user[@]}"
    for kind in account container object; do
        launch "$kind-server" "$PY" "$HELPER" run "$D/etc" "$kind-server" \
            "$D/etc/$kind-server.conf"
    done
    launch proxy-server "$PY" "$HELPER" run "$D/etc" proxy-server \
        "$D/etc/proxy-server.conf"

    cat >"$D/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$pp
AWS_ACCESS_KEY_ID=$S3_ACCOUNT:$S3_USER
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=$REGION
AWS_DEFAULT_REGION=$REGION
AWS_ENDPOINT_URL=http://127.0.0.1:$pp
AWS_EC2_METADATA_DISABLED=true
FERRY_SWIFT_DIR=$D
EOF

    # in the background + wait, so that a signal to this script is handled
    # at once (bash runs traps only between foreground commands)
    timeout $((START_TIMEOUT + 10)) "$PY" "$HELPER" wait-ready "$D/run/pids" \
        "$START_TIMEOUT" "http://127.0.0.1:$pp" "$S3_ACCOUNT:$S3_USER" \
        "$secret" "$REGION" "tcp://127.0.0.1:$pm" "http://127.0.0.1:$pa" \
        "http://127.0.0.1:$pc" "http://127.0.0.1:$po" "http://127.0.0.1:$pp" &
    WAITER=$!
    wait "$WAITER"
    rc=$?
    WAITER=
    [ $rc = 0 ] && return 0
    if grep -qs -e 'Address already in use' -e 'Could not bind' \
        -e 'failed to listen' "$D"/log/*.log; then
        return 2
    fi
    [ $rc = 124 ] && say "wait-ready timed out"
    return 1
}

WAITER=

cleanup_failed_start() {
    [ -n "$WAITER" ] && kill "$WAITER" 2>/dev/null
    show_logs
    kill_recorded
    unmount_recorded
}

cmd_start() {
    local attempt rc t0
    t0=$(date +%s%N)
    check_installed
    # DIR gets etc/ log/ run/ srv/ wiped and rebuilt: only take a new or
    # empty directory, or one an earlier start made (it has the marker).
    if [ -d "$D" ] && [ ! -e "$D/$MARKER" ] &&
        [ -n "$(ls -A "$D" 2>/dev/null)" ]; then
        die "$D is not empty and was not made by this script; use a new directory"
    fi
    mkdir -p "$D/run" || die "cannot create $D"
    touch "$D/$MARKER"
    if any_running; then
        die "a server is already running in $D (run: $0 stop $D)"
    fi
    # leftovers of a run that was not stopped (crash, reboot of the shell)
    kill_recorded
    unmount_recorded

    trap 'say "interrupted"; cleanup_failed_start; exit 1' INT TERM HUP
    for attempt in $(seq "$START_ATTEMPTS"); do
        start_once
        rc=$?
        if [ $rc = 0 ]; then
            trap - INT TERM HUP
            say "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms; logs in $D/log"
            print_env
            return 0
        fi
        if [ $rc = 2 ] && [ "$attempt" -lt "$START_ATTEMPTS" ]; then
            say "a port was taken meanwhile; retrying with other ports"
            kill_recorded
            unmount_recorded
            continue
        fi
        cleanup_failed_start
        die "start failed in $D (see the logs above, kept in $D/log)"
    done
}

cmd_stop() {
    [ -d "$D" ] || return 0
    kill_recorded
    unmount_recorded
    rm -f "$D/env"
    return 0
}

cmd_status() {
    local name pid st bad=0
    [ -f "$D/run/pids" ] || { say "not running: $D"; return 1; }
    while read -r name pid st; do
        if [ "$(starttime "$pid" 2>/dev/null)" = "$st" ]; then
            echo "$name $pid running"
        else
            echo "$name $pid dead"; bad=1
        fi
    done <"$D/run/pids"
    return $bad
}

# proxy-kill: the S3 front end dies at once (SIGKILL to its process group); the
# storage daemons stay. proxy-start: a new one on the same port, back when it answers.
cmd_proxy_kill() {
    local name pid st
    [ -f "$D/run/pids" ] || die "not running: $D"
    while read -r name pid st; do
        [ "$name" = proxy-server ] || continue
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    done <"$D/run/pids"
    grep -v '^proxy-server ' "$D/run/pids" >"$D/run/pids.new" || true
    mv "$D/run/pids.new" "$D/run/pids"
}

cmd_proxy_start() {
    local port i
    [ -f "$D/env" ] || die "no server in $D"
    port=$(sed -n 's|^S3_ENDPOINT=http://127.0.0.1:||p' "$D/env")
    launch proxy-server "$PY" "$HELPER" run "$D/etc" proxy-server \
        "$D/etc/proxy-server.conf"
    for i in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.2
    done
    die "the proxy did not come back on port $port"
}

# ---------------------------------------------------------------- main

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
install) [ $# = 0 ] || usage; cmd_install ;;
start|stop|status|env|proxy-kill|proxy-start)
    [ $# = 1 ] || usage
    [ -n "$1" ] || usage
    D=$(realpath -m -- "$1")
    case $D in
    /) die "refusing DIR=/" ;;
    *[[:space:]]*) die "DIR must not contain white space: '$D'" ;;
    esac
    case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    proxy-kill) cmd_proxy_kill ;;
    proxy-start) cmd_proxy_start ;;
    env) [ -f "$D/env" ] || die "no server in $D"; print_env ;;
    esac ;;
*) usage ;;
esac
