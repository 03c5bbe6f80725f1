#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds Release and ASan+UBSan with
# warnings as errors, runs every test under both, then runs each libFuzzer target
# for a bounded time (FERRY_FUZZ_SECONDS, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash tests/s3/swift-server.sh install # the S3 tests' server: Swift + s3api from Debian, run on loopback
mkdir -p build
jobs=$(nproc)

echo "== Release build and tests"
bash scripts/build.sh Release build/release
(cd build/release && ctest --output-on-failure -j"$jobs")

echo "== ASan+UBSan build and tests"
bash scripts/build.sh Sanitize build/asan
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	ctest --output-on-failure -j"$jobs")

echo "== libFuzzer targets, ${FERRY_FUZZ_SECONDS:-60}s each"
CC=clang bash scripts/build.sh Debug build/fuzz -DFERRY_FUZZ=ON -DFERRY_TESTS=OFF
bash tests/fuzz/run.sh build/fuzz "${FERRY_FUZZ_SECONDS:-60}"

echo "test.sh: all suites passed"
