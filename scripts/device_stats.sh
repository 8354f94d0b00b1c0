#!/usr/bin/env bash
# Runs on the device machine: `lcde build --stats` (time per stage, threads
# summed) for 400M tokens at -j1, -j16 and the default, output on tmpfs;
# BINS="lcde-prev lcde" compares carried binaries in the same session.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
make_corpus /tmp/corpus
printf 'seed: 1\ninput: {paths: [/tmp/corpus]}\ntokenizer: {model: %s}\nmixture: {total_tokens: %s, strategy: none}\noutput: {dir: /dev/shm/stats-out, sequence_length: 80K}\n' \
  "$D/llama-2.model" "${BUILD_TOKENS:-400M}" > /tmp/stats.yaml
for j in ${STATS_THREADS:-1 16 0}; do
  for bin in ${BINS:-lcde}; do
    echo "== $bin --stats -j$j"
    $LCDE_RUN "$D/bin/$bin" build -q --force --stats -j "$j" -c /tmp/stats.yaml 2>&1 | grep -v "^wrote"
  done
done
