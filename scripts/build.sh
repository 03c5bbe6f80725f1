#!/usr/bin/env bash
# Configures and builds one flavour of ferry: build.sh TYPE DIR [cmake args...]
# TYPE is Release, Debug or Sanitize. Warnings are errors.
set -euo pipefail
type=${1:?usage: build.sh Release|Debug|Sanitize DIR [cmake args]}
dir=${2:?usage: build.sh TYPE DIR}
shift 2
mkdir -p "$(dirname "$dir")"
cmake -S "$(dirname "$0")/.." -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DFERRY_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
	{ cat "$dir.configure.log" >&2; exit 1; }
cmake --build "$dir" -j"$(nproc)"
