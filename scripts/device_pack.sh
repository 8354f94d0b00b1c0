#!/usr/bin/env bash
# Fills .device/ (git-ignored) for the device benchmarks: the stripped lcde
# and lcde_bench_tokenizer binaries, every shared library they load and the
# dynamic loader (the device has none of our Debian libraries), zstd, and the
# tokenizer files of ../shared/tokenizers/ zstd-compressed (the working tree
# that travels is limited to 64 MiB), and a pack of prose (man pages and
# documentation) for scripts/device_paper.sh. Run `carry: [".device"]`; the device
# scripts source scripts/device_env.sh, which unpacks them.
#   BUILD_DIR (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
SHARED=${LCDE_SHARED_DIR:-../shared}
rm -rf .device
mkdir -p .device/bin .device/lib .device/tokenizers
for b in "$BUILD_DIR/lcde" "$BUILD_DIR/lcde_bench_tokenizer" "$(command -v zstd)"; do
  strip -o ".device/bin/$(basename "$b")" "$b"
  ldd "$b" | awk '/=> \//{print $3} /ld-linux/{print $1}' | while read -r lib; do
    cp -nL "$lib" .device/lib/ 2>/dev/null || true
  done
done
for f in "$SHARED"/tokenizers/*; do
  zstd -q -19 "$f" -o ".device/tokenizers/$(basename "$f").zst"
done
# Real text for the tokenizer benchmarks (scripts/bench_tokenizer.sh --extra vimdoc makes it).
if [ -f "$BUILD_DIR/bench-data/vimdoc.jsonl" ]; then
  zstd -q -19 "$BUILD_DIR/bench-data/vimdoc.jsonl" -o .device/vimdoc.jsonl.zst
fi
# Prose for scripts/device_paper.sh's real-text corpus (the device has almost
# no man pages or documentation): this machine's man pages and /usr/share/doc.
pack="$BUILD_DIR/bench-data/text-pack.jsonl.zst"
if [ ! -f "$pack" ]; then
  mkdir -p "$(dirname "$pack")"
  python3 scripts/make_real_corpus.py --write-pack "$pack.tmp" --pack-pools man,doc && mv "$pack.tmp" "$pack"
fi
cp "$pack" .device/
du -sh .device
