#!/usr/bin/env bash
# Runs on the device machine (see scripts/device_env.sh).
# Generates a sample corpus in parallel, measures the machine's own ceiling
# (independent single-thread builds at once), then times lcde build at 1..16
# threads (scripts/bench_build.py) and prints --stats at 8 and 16 threads.
# Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
LOADER=$LCDE_RUN
corpus=/tmp/corpus
start=$(date +%s)
make_corpus "$corpus"
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
