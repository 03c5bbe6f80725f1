#!/usr/bin/env bash
# The shipped configuration is valid: ferry.conf parses, the systemd units verify, the cron line is well formed.
# usage: conf.sh FERRY_BINARY
set -uo pipefail
ferry=${1:?usage: conf.sh FERRY}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ferry-conf.XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }

HOME=$work XDG_CONFIG_HOME=$work "$ferry" --config "$here/conf/ferry.conf" init "$work/store" >/dev/null 2>"$work/err" &&
	ok "conf/ferry.conf parses" || { bad "conf/ferry.conf parses"; cat "$work/err"; }

if command -v systemd-analyze >/dev/null; then
	# an instance of the template, pointed at binaries that exist here
	sed -e 's#EnvironmentFile=/etc/ferry/%i.env#EnvironmentFile=-/etc/ferry/%i.env#' -e "s#/usr/local/bin/ferry#$ferry#" \
		"$here/conf/systemd/ferry-sync@.service" >"$work/ferry-sync@test.service"
	cp "$here/conf/systemd/ferry-sync@.timer" "$work/ferry-sync@test.timer"
	if systemd-analyze verify "$work/ferry-sync@test.service" "$work/ferry-sync@test.timer" >"$work/err" 2>&1 &&
		! grep -qiE 'unknown|invalid|failed' "$work/err"; then
		ok "systemd units verify"
	else
		bad "systemd units verify"
		cat "$work/err"
	fi
else
	echo "skip - systemd-analyze not installed"
fi

# every job line: five time fields, a user, a command that names ferry sync
lines=$(grep -vE '^\s*(#|$|[A-Z_]+=)' "$here/conf/cron/ferry-sync")
if [ -n "$lines" ] && echo "$lines" | awk 'NF < 7 || $6 !~ /^[a-z_][a-z0-9_-]*$/ { bad = 1 } END { exit bad }' &&
	echo "$lines" | grep -q 'ferry sync'; then
	ok "cron line well formed"
else
	bad "cron line well formed"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
