#!/usr/bin/env bash
# Concurrency (issue 7): pulls of one store into different directories at the same time;
# a sync killed with -9 while it holds the store lock, after which the next run breaks
# the stale lock (at once on the same host, after --lock-timeout when the lock names
# another host); and two syncs started together (one runs, the other exits 4 or waits
# its turn, never both writing).
# usage: concurrency.sh FERRY
set -uo pipefail
ferry=${1:?usage: concurrency.sh FERRY}
work=$(mktemp -d /tmp/ferry-concurrency.XXXXXX)
bgpids=()
cleanup() {
	for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset FERRY_PASSPHRASE
. "$(dirname "$0")/../lib.sh"
EXPECT_TIMEOUT=300
# the store's complete lock objects (a lock being written is a hidden NAME.PID.tmp)
locks_of() { ls "$1/locks" 2>/dev/null | grep -E '^[0-9a-f]{16}$'; }
wait_for_lock() { # STORE: until a lock object exists (bounded: 10 s)
	for _ in $(seq 1 100); do
		[ -n "$(locks_of "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

src=$work/src
mkdir -p "$src/small"
for i in $(seq 1 300); do echo "small file $i" >"$src/small/f$i"; done
head -c 6000000 /dev/urandom >"$src/random.bin"
seq 1 600000 >"$src/numbers.txt"
head -c 32 /dev/urandom >"$work/key"; chmod 600 "$work/key"
expect 0 "encrypted store" "$ferry" init "$work/store" --encrypt --key-file "$work/key" --chunk-size 256K
expect 0 "push" "$ferry" push "$src" "$work/store" --key-file "$work/key"

# ---- three pulls of one store at once, and a verify beside them
for i in 1 2 3; do
	"$ferry" pull "$work/store" "$work/dst$i" --key-file "$work/key" >"$work/pull$i.out" 2>&1 &
	bgpids+=($!)
done
"$ferry" verify --read-data "$work/store" --key-file "$work/key" >"$work/verify.out" 2>&1 &
vpid=$!
for i in 1 2 3; do
	if wait "${bgpids[$((i - 1))]}"; then ok "concurrent pull $i exits 0"; else bad "concurrent pull $i exits 0: $(head -3 "$work/pull$i.out")"; fi
	diff -r "$src" "$work/dst$i" >/dev/null 2>&1 && ok "concurrent pull $i is byte-identical" || bad "concurrent pull $i is byte-identical"
done
wait "$vpid" && ok "verify beside the pulls exits 0" || bad "verify beside the pulls exits 0"
bgpids=()
[ -z "$(ls "$work/store/locks" 2>/dev/null)" ] && ok "readers left no lock" || bad "readers left no lock"

# ---- a sync killed with -9 while it holds the lock
# a slow store (zstd 19) so the sync is surely still running when it is killed
mkdir -p "$work/slowsrc"; seq 1 1000000 >"$work/slowsrc/a.txt"; seq 7 1000007 >"$work/slowsrc/b.txt"
expect 0 "slow store" "$ferry" init "$work/slow" --compress 19
kill_sync() { # start a sync, kill -9 it once it holds its lock
	"$ferry" sync "$work/slowsrc" "$work/slow" --lock-timeout 10s >/dev/null 2>&1 &
	local pid=$!
	bgpids+=($pid)
	if wait_for_lock "$work/slow"; then
		kill -9 "$pid"
		wait "$pid" 2>/dev/null
		ok "sync killed with -9 while holding its lock"
	else
		bad "the sync took a lock"
	fi
	bgpids=()
}
kill_sync
lock=$(locks_of "$work/slow")
[ -n "$lock" ] && ok "the killed sync's lock is left behind ($lock)" || bad "the killed sync's lock is left behind"
[ -z "$("$ferry" snapshots "$work/slow")" ] && ok "the killed sync wrote no snapshot" || bad "the killed sync wrote no snapshot"
expect 0 "next sync on the same host breaks the lock at once" "$ferry" sync "$work/slowsrc" "$work/slow" --lock-timeout 10s
grep_err "breaking stale lock locks/$lock .*its process is gone" "the broken lock is named with the reason"
[ "$("$ferry" snapshots "$work/slow" | wc -l)" -eq 1 ] && ok "the rerun wrote its snapshot" || bad "the rerun wrote its snapshot"
[ -z "$(ls "$work/slow/locks")" ] && ok "no lock left after the rerun" || bad "no lock left after the rerun"

# the same, but the lock names another host: only its age can tell it is stale
echo more >>"$work/slowsrc/a.txt"
kill_sync
lock=$(locks_of "$work/slow")
sed -i 's/^host=.*/host=another-host.example/' "$work/slow/locks/$lock"
killed_at=$SECONDS
expect 4 "a lock from another host is respected before the timeout" "$ferry" sync "$work/slowsrc" "$work/slow" --lock-timeout 10s
grep_err "locked by sync .* on host another-host.example" "the lock's holder is named"
# heartbeats were every 2.5 s (a quarter of 10 s): wait out the timeout, bounded
while [ $((SECONDS - killed_at)) -lt 12 ]; do sleep 1; done
expect 0 "after the timeout the next sync breaks it" "$ferry" sync "$work/slowsrc" "$work/slow" --lock-timeout 10s
grep_err "breaking stale lock locks/$lock .*no heartbeat for" "broken for its age"
expect 0 "the store verifies" "$ferry" verify --read-data "$work/slow"
expect 0 "pull the last snapshot" "$ferry" pull "$work/slow" "$work/slowdst"
diff -r "$work/slowsrc" "$work/slowdst" >/dev/null && ok "the last snapshot is byte-identical" || bad "the last snapshot is byte-identical"

# ---- FERRY_CAMPAIGN=long: 10 more syncs killed at seeded random moments, each rerun at once
if [ "${FERRY_CAMPAIGN:-}" = long ]; then
	RANDOM=11
	for k in $(seq 1 10); do
		echo "round $k" >>"$work/slowsrc/a.txt"
		"$ferry" sync "$work/slowsrc" "$work/slow" >/dev/null 2>&1 &
		pid=$!
		bgpids=($pid)
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		bgpids=()
		expect 0 "kill $k: the next sync completes" "$ferry" sync "$work/slowsrc" "$work/slow"
		expect 0 "kill $k: the store verifies" "$ferry" verify --read-data "$work/slow"
	done
	rm -rf "$work/slowdst"
	expect 0 "after the kills: pull" "$ferry" pull "$work/slow" "$work/slowdst"
	diff -r "$work/slowsrc" "$work/slowdst" >/dev/null && ok "after the kills: byte-identical" || bad "after the kills: byte-identical"
fi

# ---- two syncs at once: never both
echo again >>"$work/slowsrc/b.txt"
n0=$("$ferry" snapshots "$work/slow" | wc -l)
"$ferry" sync "$work/slowsrc" "$work/slow" >"$work/s1.out" 2>&1 &
p1=$!
"$ferry" sync "$work/slowsrc" "$work/slow" >"$work/s2.out" 2>&1 &
p2=$!
bgpids=($p1 $p2)
wait "$p1"; r1=$?
wait "$p2"; r2=$?
bgpids=()
n1=$("$ferry" snapshots "$work/slow" | wc -l)
if { [ "$r1" -eq 0 ] && [ "$r2" -eq 4 ]; } || { [ "$r1" -eq 4 ] && [ "$r2" -eq 0 ]; } || { [ "$r1" -eq 4 ] && [ "$r2" -eq 4 ]; }; then
	ok "two syncs at once: exits $r1 and $r2 (one ran, or both backed off)"
else
	bad "two syncs at once: exits $r1 and $r2"; cat "$work/s1.out" "$work/s2.out" | head -4
fi
[ $((n1 - n0)) -le 1 ] && ok "at most one snapshot from the two" || bad "at most one snapshot from the two ($((n1 - n0)))"
expect 0 "the store verifies after the race" "$ferry" verify --read-data "$work/slow"

finish
