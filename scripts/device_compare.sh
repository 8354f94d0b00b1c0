#!/usr/bin/env bash
# Runs on the device machine: times two carried lcde binaries on the same
# corpus in one session (a change against its baseline), interleaved per
# thread count so drift hits both alike. .device/bin/lcde-base is the
# baseline, .device/bin/lcde the change. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
LOADER=$LCDE_RUN
export TMPDIR=/dev/shm  # output on tmpfs: the CPU is measured, not the disk
corpus=/tmp/corpus
make_corpus "$corpus"
for t in ${THREADS:-1 8 12 16}; do
  for bin in lcde-base lcde; do
    echo "== $bin -j$t"
    python3 scripts/bench_build.py --lcde "$LOADER $D/bin/$bin" --corpus "$corpus" --model "$D/llama-2.model" \
      --threads "$t" --repeats "${REPEATS:-3}" --tokens "${BUILD_TOKENS:-400M}" --strategy "${STRATEGY:-none}" \
      --json "${OUT:-/tmp}/$bin-j$t.json" | sed -n '3p;$p'
  done
done
printf 'seed: 1\ninput: {paths: [%s]}\ntokenizer: {model: %s}\nmixture: {total_tokens: %s, strategy: %s}\noutput: {dir: /dev/shm/stats-out, sequence_length: 80K}\n' \
  "$corpus" "$D/llama-2.model" "${BUILD_TOKENS:-400M}" "${STRATEGY:-none}" > /tmp/stats.yaml
for bin in lcde-base lcde; do
  echo "== $bin --stats -j16"
  $LOADER "$D/bin/$bin" build -q --force --stats -j 16 -c /tmp/stats.yaml 2>&1
done
