#!/usr/bin/env bash
# Secrets (issue 7): runs push, sync, pull, verify, copy and the listings over S3 (Swift
# s3api, tests/s3) and a local encrypted store with known credentials, a session token
# and a passphrase, with --verbose, --json, --log-file, --metrics-file and FERRY_S3_DEBUG=1,
# error paths included; then greps every stdout, stderr, log, metrics and JSON file for
# the secret key, the session token and the passphrase. None may appear. Also: a
# passphrase or key file readable by group or others is warned about, a private one not.
# usage: secrets.sh FERRY
set -uo pipefail
ferry=${1:?usage: secrets.sh FERRY}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-secrets.XXXXXX)
srv=$work/swift
cleanup() {
	"$here/swift-server.sh" stop "$srv" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$work/logs"
unset FERRY_PASSPHRASE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3
. "$here/../lib.sh"
ERRFILE= # what each run printed is in $work/logs
runs=0

S3_BUCKETS="ferry-secrets"
. "$here/server_up.sh"
rm -f "$work/env" # it holds the secret: keep it out of the files grepped below

SECRET=$AWS_SECRET_ACCESS_KEY
export AWS_SESSION_TOKEN=FQoGZXIvYXdzEKnownSessionToken0123456789abcdef
PASSPHRASE='Tr0ub4dor&3 secret passphrase for the secrets test'
printf '%s\n' "$PASSPHRASE" >"$work/passfile"
chmod 600 "$work/passfile"

# r NAME CMD...: one run; all of its output and files land under $work/logs
r() {
	local name=$1; shift
	runs=$((runs + 1))
	timeout 300 "$@" >"$work/logs/$name.out" 2>"$work/logs/$name.err"
	echo $? >"$work/logs/$name.rc"
}
common=(--verbose --log-file "$work/logs/ferry.log")
metrics() { echo --metrics-file "$work/logs/$1.prom"; }

mkdir -p "$work/src/d"
for i in $(seq 1 50); do echo "file $i" >"$work/src/d/f$i"; done
head -c 3000000 /dev/urandom >"$work/src/big.bin"

export FERRY_S3_DEBUG=1
s3=s3://ferry-secrets/store
# ---- an encrypted S3 store, passphrase from the environment and from a file
FERRY_PASSPHRASE=$PASSPHRASE r init-s3 "$ferry" init "$s3" --encrypt --scrypt-cost 12 --verbose
FERRY_PASSPHRASE=$PASSPHRASE r push-s3 "$ferry" push "$work/src" "$s3" --json "${common[@]}" $(metrics push-s3)
echo more >>"$work/src/d/f1"
r sync-s3 "$ferry" sync "$work/src" "$s3" --passphrase-file "$work/passfile" --json "${common[@]}" $(metrics sync-s3)
r pull-s3 "$ferry" pull "$s3" "$work/dst1" --passphrase-file "$work/passfile" --json "${common[@]}" $(metrics pull-s3)
r syncpull-s3 "$ferry" sync "$s3" "$work/dst2" --passphrase-file "$work/passfile" --json "${common[@]}"
r verify-s3 "$ferry" verify --read-data "$s3" --passphrase-file "$work/passfile" --json "${common[@]}" $(metrics verify-s3)
r ls-s3 "$ferry" ls "$s3" --passphrase-file "$work/passfile" --json
r snapshots-s3 "$ferry" snapshots "$s3" --passphrase-file "$work/passfile" --json
r copy-up "$ferry" copy "$work/src" s3://ferry-secrets/mirror --json "${common[@]}" $(metrics copy-up)
r copy-down "$ferry" copy s3://ferry-secrets/mirror "$work/mirror" --json "${common[@]}"
r plan-s3 "$ferry" plan "$work/src" "$s3" --json
# error paths: a wrong passphrase, a wrong secret, a missing store
FERRY_PASSPHRASE="$PASSPHRASE x" r wrongpass-s3 "$ferry" pull "$s3" "$work/dst3" --json "${common[@]}"
AWS_SECRET_ACCESS_KEY="${SECRET}0" r wrongsecret-s3 "$ferry" snapshots "$s3" --json --verbose
r nostore-s3 "$ferry" pull s3://ferry-secrets/nothing "$work/dst4" --passphrase-file "$work/passfile" "${common[@]}"
unset FERRY_S3_DEBUG

# ---- a local encrypted store
FERRY_PASSPHRASE=$PASSPHRASE r init-local "$ferry" init "$work/local" --encrypt --scrypt-cost 12 --verbose
r push-local "$ferry" push "$work/src" "$work/local" --passphrase-file "$work/passfile" --json "${common[@]}" $(metrics push-local)
r pull-local "$ferry" pull "$work/local" "$work/dst5" --passphrase-file "$work/passfile" --json "${common[@]}"
r verify-local "$ferry" verify --read-data "$work/local" --passphrase-file "$work/passfile" --json "${common[@]}"
FERRY_PASSPHRASE="x$PASSPHRASE" r wrongpass-local "$ferry" ls "$work/local" --json --verbose
mkdir -p "$XDG_CONFIG_HOME/ferry"
printf '[keys]\npassphrase-file = %s\n' "$work/passfile" >"$XDG_CONFIG_HOME/ferry/ferry.conf"
r conf-local "$ferry" sync "$work/src" "$work/local" --json "${common[@]}"
rm -f "$XDG_CONFIG_HOME/ferry/ferry.conf"

# ---- the runs themselves worked (a run that failed early would prove little)
for n in init-s3 push-s3 sync-s3 pull-s3 syncpull-s3 verify-s3 ls-s3 snapshots-s3 copy-up copy-down \
	init-local push-local pull-local verify-local conf-local; do
	rc=$(cat "$work/logs/$n.rc")
	[ "$rc" -eq 0 ] && ok "$n exits 0" || { bad "$n exits 0 (exit $rc)"; head -3 "$work/logs/$n.err"; }
done
for n in wrongpass-s3:5 wrongsecret-s3:5 nostore-s3:2 wrongpass-local:5; do
	rc=$(cat "$work/logs/${n%:*}.rc")
	[ "$rc" -eq "${n#*:}" ] && ok "${n%:*} fails (exit $rc)" || bad "${n%:*} fails (exit $rc, wanted ${n#*:})"
done
diff -r "$work/src" "$work/dst1" >/dev/null && ok "S3 pull byte-identical" || bad "S3 pull byte-identical"
grep -q 'ferry: s3: PUT' "$work/logs/push-s3.err" && ok "FERRY_S3_DEBUG printed requests" || bad "FERRY_S3_DEBUG printed requests"
[ -s "$work/logs/ferry.log" ] && ok "log file written ($(wc -l <"$work/logs/ferry.log") lines)" || bad "log file written"
ls "$work"/logs/*.prom >/dev/null 2>&1 && ok "metrics files written" || bad "metrics files written"

# ---- the grep: nothing under logs/ may hold a secret (also percent- or JSON-escaped)
files=$(find "$work/logs" -type f | wc -l)
bytes=$(cat "$work"/logs/* | wc -c)
enc_pass=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PASSPHRASE")
for what in SECRET AWS_SESSION_TOKEN PASSPHRASE enc_pass; do
	val=${!what}
	if grep -rlF -- "$val" "$work/logs" >"$work/hits"; then
		bad "$what appears in: $(tr '\n' ' ' <"$work/hits")"
	else
		ok "$what appears in none of $files files ($bytes bytes) from $runs runs"
	fi
done
# half of a secret is still a leak
half=${SECRET:0:20}
if grep -rqF -- "$half" "$work/logs"; then bad "the first half of the secret appears"; else ok "no half of the secret either"; fi

# ---- passphrase and key files readable by others are warned about; private ones not
head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"
r init-key "$ferry" init "$work/kstore" --encrypt --key-file "$work/key"
r private-key "$ferry" ls "$work/kstore" --key-file "$work/key"
grep -q 'warning' "$work/logs/private-key.err" && bad "a private key file is not warned about" || ok "a private key file is not warned about"
r private-pass "$ferry" ls "$work/local" --passphrase-file "$work/passfile"
grep -q 'warning' "$work/logs/private-pass.err" && bad "a private passphrase file is not warned about" || ok "a private passphrase file is not warned about"
for mode in 640 604 644; do
	chmod "$mode" "$work/key" "$work/passfile"
	r loose-key-$mode "$ferry" ls "$work/kstore" --key-file "$work/key"
	grep -q "warning: .*key is readable by group or others" "$work/logs/loose-key-$mode.err" && ok "key file mode $mode warned" || bad "key file mode $mode warned"
	r loose-pass-$mode "$ferry" ls "$work/local" --passphrase-file "$work/passfile"
	grep -q "warning: .*passfile is readable by group or others" "$work/logs/loose-pass-$mode.err" && ok "passphrase file mode $mode warned" || bad "passphrase file mode $mode warned"
done
printf '[keys]\npassphrase-file = %s\n' "$work/passfile" >"$work/p.conf"
r loose-pass-conf "$ferry" --config "$work/p.conf" ls "$work/local"
grep -q "warning: .*passfile is readable by group or others" "$work/logs/loose-pass-conf.err" && ok "passphrase file named in ferry.conf warned" || bad "passphrase file named in ferry.conf warned"

finish
