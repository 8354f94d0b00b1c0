#!/usr/bin/env bash
# Runs on the device machine (no Debian libraries there): lcde and zstd are
# carried in .device/ with their shared libraries and the dynamic loader.
# Generates a sample corpus in parallel, measures the machine's own ceiling
# (independent single-thread builds at once), then times lcde build at 1..16
# threads (scripts/bench_build.py) and prints --stats at 8 and 16 threads.
# Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$PWD/.device
LOADER="$D/lib/ld-linux-x86-64.so.2 --library-path $D/lib"
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec %s %s "$@"\n' "$LOADER" "$D/bin/zstd" > /tmp/bin/zstd && chmod +x /tmp/bin/zstd
export PATH=/tmp/bin:$PATH
corpus=/tmp/corpus
tokens=${TOKENS_PER_PART:-35000000}
parts=${PARTS:-16}
start=$(date +%s)
for i in $(seq 1 "$parts"); do
  python3 scripts/make_sample_corpus.py --out "$corpus/part$i" --tokens "$tokens" --files 4 --seed "$i" 2>/dev/null &
done
wait
echo "corpus: $(du -sh $corpus | cut -f1) in $(( $(date +%s) - start ))s"
nproc; lscpu | grep -E "Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|NUMA node\(s\)|L2 cache|L3 cache" || true
python3 scripts/bench_build.py --lcde "$LOADER $D/bin/lcde" --corpus "$corpus" --model "$D/llama-2.model" \
  --threads "${THREADS:-1,2,4,8,16}" --repeats "${REPEATS:-3}" --tokens "${BUILD_TOKENS:-400M}" \
  --ceiling "${CEILING:-1,8,16}" --ceiling-tokens "${CEILING_TOKENS:-20M}" \
  --strategy "${STRATEGY:-none}" --json "${OUT:-/tmp}/scaling.json" | tee "${OUT:-/tmp}/scaling.md"
for j in ${STATS_THREADS:-8 16}; do
  printf 'seed: 1\ninput: {paths: [%s]}\ntokenizer: {model: %s}\nmixture: {total_tokens: %s, strategy: %s}\noutput: {dir: /tmp/stats-out, sequence_length: 80K}\n' \
    "$corpus" "$D/llama-2.model" "${BUILD_TOKENS:-400M}" "${STRATEGY:-none}" > /tmp/stats.yaml
  echo "--stats at -j$j:"
  $LOADER "$D/bin/lcde" build -q --force --stats -j "$j" -c /tmp/stats.yaml 2>&1 | tee -a "${OUT:-/tmp}/stats.txt"
done
