#!/usr/bin/env bash
# Quick start: installs the dependencies, builds ferry, and runs the main job on an
# embedded default: a small generated dataset is pushed into an encrypted local store,
# pulled back, verified, and compared byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
mkdir -p build
bash scripts/build.sh Release build/release -DFERRY_TESTS=OFF >/dev/null
ferry=$PWD/build/release/ferry

work=${FERRY_DEMO_DIR:-$(mktemp -d /tmp/ferry-quickstart.XXXXXX)}
mkdir -p "$work"
src=$work/dataset store=$work/store dst=$work/restored
rm -rf "$src" "$store" "$dst"

echo "== generating a sample dataset in $src"
bash scripts/gen-sample.sh "$src"

# A throwaway passphrase for the demo store, never printed.
FERRY_PASSPHRASE=$(head -c 24 /dev/urandom | base64)
export FERRY_PASSPHRASE

echo "== ferry init --encrypt $store"
"$ferry" init --encrypt "$store"
echo "== ferry push $src $store"
"$ferry" push --verbose "$src" "$store"
echo "== ferry snapshots $store"
"$ferry" snapshots "$store"
echo "== ferry pull $store $dst"
"$ferry" pull --verbose "$store" "$dst"
echo "== ferry verify --read-data $store"
"$ferry" verify --verbose --read-data "$store"
echo "== comparing $src with $dst"
diff -r --no-dereference "$src" "$dst"
echo "quickstart: OK: $(find "$src" -type f | wc -l) files, $(du -sb "$src" | cut -f1) bytes pushed, pulled and verified byte for byte (work dir $work)"
