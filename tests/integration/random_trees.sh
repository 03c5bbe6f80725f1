#!/usr/bin/env bash
# Seeded random trees (sizes around chunk boundaries, empty files, many objects) through
# push, pull, verify --read-data and copy with a small budget and random chunk sizes,
# levels, encryption and worker counts; every command bounded by a timeout, so a hang fails.
# usage: random_trees.sh FERRY_BINARY [ITERATIONS] [SEED]
set -uo pipefail
ferry=${1:?usage: random_trees.sh FERRY [ITERATIONS] [SEED]}
iters=${2:-6}
RANDOM=${3:-4242}
work=$(mktemp -d /tmp/ferry-random.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work XDG_CONFIG_HOME=$work/xdg FERRY_PASSPHRASE=random-trees-pass
. "$(dirname "$0")/../lib.sh"
ok() { pass=$((pass + 1)); } # only failures are printed
ERRFILE= # run prints them
run() { timeout 120 "$@" >"$work/out" 2>"$work/err" || { echo "       $(head -c 300 "$work/err")"; return 1; }; }

for it in $(seq 1 "$iters"); do
	t=$work/$it
	mkdir -p "$t/src"
	cs=$(((RANDOM % 16 + 1) * 4096))
	n=$((RANDOM % 250 + 1))
	for i in $(seq 1 "$n"); do
		d=$t/src/d$((RANDOM % 7))
		mkdir -p "$d"
		case $((RANDOM % 5)) in
		0) sz=0 ;; 1) sz=$cs ;; 2) sz=$((cs * (RANDOM % 4 + 1))) ;; 3) sz=$RANDOM ;; *) sz=$((RANDOM * 20)) ;;
		esac
		head -c "$sz" /dev/urandom >"$d/f$i"
	done
	enc=""
	[ $((RANDOM % 2)) = 0 ] && enc=--encrypt
	what="iteration $it (chunk $cs, $n files, ${enc:-plain})"
	run "$ferry" init $enc --scrypt-cost 10 --chunk-size "$cs" --compress $((RANDOM % 4)) "$t/s" || { bad "init, $what"; continue; }
	run "$ferry" push "$t/src" "$t/s" --memory 16M --jobs $((RANDOM % 3 + 1)) && ok || bad "push, $what"
	run "$ferry" pull "$t/s" "$t/o" --memory 16M && ok || bad "pull, $what"
	diff -r "$t/src" "$t/o" >/dev/null 2>&1 && ok || bad "pulled tree differs, $what"
	for k in 1 2 3; do
		run "$ferry" verify --read-data "$t/s" --memory 16M && ok || bad "verify --read-data (run $k), $what"
	done
	# the cheap verify holds every entry to its object's size: no false alarm on a sound store
	run "$ferry" verify "$t/s" && ok || bad "verify without --read-data, $what"
	run "$ferry" copy "$t/src" "$t/c" --memory 16M && ok || bad "copy, $what"
	diff -r "$t/src" "$t/c" >/dev/null 2>&1 && ok || bad "copied tree differs, $what"
	rm -rf "$t"
done
finish
