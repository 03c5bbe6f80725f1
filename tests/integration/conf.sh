#!/usr/bin/env bash
# The shipped configuration is valid: ferry.conf parses, the systemd units verify, the cron line is well formed.
# usage: conf.sh FERRY_BINARY
set -uo pipefail
ferry=${1:?usage: conf.sh FERRY}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ferry-conf.XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib.sh"
ERRFILE= # a failure cats its own output

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

# the Kubernetes Indexed Job: YAML that says what ferry's sharding needs (no cluster here
# to validate against, so the structure is checked with python3's yaml when it is there)
k8s=$here/conf/k8s/ferry-push-indexed-job.yaml
if python3 -c 'import yaml' 2>/dev/null; then
	if python3 - "$k8s" >"$work/err" 2>&1 <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert len(docs) == 1, "one document"
job = docs[0]
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job", "a batch/v1 Job"
spec = job["spec"]
assert spec["completionMode"] == "Indexed", "completionMode Indexed"
n = spec["completions"]
assert isinstance(n, int) and 1 <= n <= 256, "completions 1..256"
pod = spec["template"]["spec"]
assert pod["restartPolicy"] in ("Never", "OnFailure"), "restartPolicy"
c = pod["containers"][0]
args = c["command"] + c.get("args", [])
assert "push" in args or "sync" in args, "runs ferry push or sync"
i = args.index("--shard")
assert args[i + 1] == "auto", "--shard auto"
env = {e["name"]: e for e in c["env"]}
assert env["FERRY_SHARD_COUNT"]["value"] == str(n), "FERRY_SHARD_COUNT equals completions"
assert "FERRY_SHARD_GROUP" in env, "a shard group"
assert "value" not in env.get("FERRY_PASSPHRASE", {}), "passphrase from a secret, not inline"
mounts = {m["name"] for m in c.get("volumeMounts", [])}
vols = {v["name"] for v in pod.get("volumes", [])}
assert mounts <= vols, "every mount has a volume"
PY
	then ok "k8s Indexed Job manifest is well formed"; else bad "k8s Indexed Job manifest is well formed"; cat "$work/err"; fi
else
	echo "skip - python3 yaml not installed: k8s manifest not checked"
fi

slurm=$here/conf/slurm/ferry-push-array.sh
if bash -n "$slurm" && grep -qE '^#SBATCH --array=[0-9]+-[0-9]+' "$slurm" && grep -q -- '--shard auto' "$slurm"; then
	ok "Slurm array script: syntax, --array, --shard auto"
else
	bad "Slurm array script: syntax, --array, --shard auto"
fi

# ---- sections with nothing in them. inih calls us for keys only, so a section that has
# none never reached the parser: [route "x"] on its own defined no route, silently.
# refused NAME PATTERN TEXT: ferry.conf TEXT is refused, exit 2, one line matching PATTERN
refused() {
	printf "$3" >"$work/t.conf"
	HOME=$work XDG_CONFIG_HOME=$work "$ferry" --config "$work/t.conf" init "$work/s-$RANDOM" >/dev/null 2>"$work/err"
	local rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <"$work/err")" -eq 1 ] && grep -qE -- "$2" "$work/err"; then
		ok "$1"
	else
		bad "$1 (exit $rc)"
		sed 's/^/       /' "$work/err"
	fi
}
refused "an empty [route] is an error naming file, line and section" \
	't.conf:7: section \[route "x"\] has no settings$' \
	'[store]\ncompress = 3\n\n[plan]\nbandwidth = 1Gbit\n\n[route "x"]\n; a comment is not a setting\n\n'
refused "an empty [route] before another section" 't.conf:1: section \[route "x"\] has no settings$' \
	'[route "x"]\n[store]\ncompress = 3\n'
refused "an empty [replica]" 't.conf:2: section \[replica "cheap"\] has no settings$' \
	'# replicas\n[replica "cheap"]\n'
refused "an empty unknown section" 't.conf:3: unknown section \[stroe\]$' '[store]\ncompress = 3\n[stroe]\n'
refused "after a byte order mark" 't.conf:1: section \[route "b"\] has no settings$' '\xef\xbb\xbf[route "b"]\n'
refused "the first problem by line: a syntax error before an empty section" 't.conf:2: syntax error$' \
	'[store]\nnot a setting\n[route "x"]\n'
refused "the first problem by line: a syntax error before a bad key" 't.conf:2: syntax error$' \
	'[store]\nnot a setting\n[transfer]\nfoo = 1\n'
refused "an indented header after a key continues its value (inih), and is read so" \
	"t.conf:3: compress: expected none or 1..19, got '\[route \"y\"\]'" '[store]\ncompress = 3\n  [route "y"]\n'
# fixed sections with every key commented out mean the defaults (conf/ferry.conf has three)
printf '[keys]\n#key-file = /etc/ferry/store.key\n[s3]\n\n[plan]\n; nothing\n[store]\n' >"$work/t.conf"
if HOME=$work XDG_CONFIG_HOME=$work "$ferry" --config "$work/t.conf" init "$work/s-empty-fixed" >/dev/null 2>"$work/err" &&
	[ ! -s "$work/err" ]; then
	ok "empty [keys], [s3], [plan], [store] are accepted without a word"
else
	bad "empty [keys], [s3], [plan], [store] are accepted without a word"
	cat "$work/err"
fi

finish
