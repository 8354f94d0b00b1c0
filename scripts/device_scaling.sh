#!/usr/bin/env bash
# Runs on the device machine (no Debian libraries there): lcde and zstd are
# carried in .device/ with their shared libraries and the dynamic loader.
# Generates a sample corpus in parallel, then times lcde build at 1..16
# threads (scripts/bench_build.py) and the tokenizer alone. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$PWD/.device
LOADER="$D/lib/ld-linux-x86-64.so.2 --library-path $D/lib"
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec %s %s "$@"\n' "$LOADER" "$D/bin/zstd" > /tmp/bin/zstd && chmod +x /tmp/bin/zstd
export PATH=/tmp/bin:$PATH
corpus=/tmp/corpus
tokens=${TOKENS_PER_PART:-25000000}
parts=${PARTS:-8}
start=$(date +%s)
for i in $(seq 1 "$parts"); do
  python3 scripts/make_sample_corpus.py --out "$corpus/part$i" --tokens "$tokens" --files 4 --seed "$i" 2>/dev/null &
done
wait
echo "corpus: $(du -sh $corpus | cut -f1) in $(( $(date +%s) - start ))s"
nproc; lscpu | grep -m1 "Model name" || true
python3 scripts/bench_build.py --lcde "$LOADER $D/bin/lcde" --corpus "$corpus" --model "$D/llama-2.model" \
  --threads "${THREADS:-1,2,4,8,16}" --repeats "${REPEATS:-3}" --tokens "${BUILD_TOKENS:-150M}" \
  --strategy "${STRATEGY:-none}" --json "${OUT:-/tmp}/scaling.json" | tee "${OUT:-/tmp}/scaling.md"
