#!/usr/bin/env bash
# Installs ferry's build and test dependencies from Debian 12's archive, nothing else.
# Safe to rerun: apt-get skips what is already installed.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  liburing-dev libzstd-dev libssl-dev libxxhash-dev libinih-dev libjson-c-dev libexpat1-dev libcurl4-openssl-dev
  libcmocka-dev
  clang libclang-rt-14-dev     # libFuzzer and sanitizer runtimes
  zstd xxhash openssl time     # peers for the benchmarks
  jq                           # JSON checks in tests/integration/plan.sh
  iproute2 python3             # tc/ip netns for the route tests; corrupt.py
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# An apt-get update is needed once on a fresh machine; skip it when lists are present.
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ferry-apt.log 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
