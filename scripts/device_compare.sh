#!/usr/bin/env bash
# Runs on the device machine: times two carried lcde binaries on the same
# corpus in one session (a change against its baseline), interleaved per
# thread count so drift hits both alike. .device/bin/lcde-base is the
# baseline, .device/bin/lcde the change. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$PWD/.device
LOADER="$D/lib/ld-linux-x86-64.so.2 --library-path $D/lib"
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec %s %s "$@"\n' "$LOADER" "$D/bin/zstd" > /tmp/bin/zstd && chmod +x /tmp/bin/zstd
export PATH=/tmp/bin:$PATH
corpus=/tmp/corpus
if [ ! -d "$corpus" ]; then
  for i in $(seq 1 "${PARTS:-16}"); do
    python3 scripts/make_sample_corpus.py --out "$corpus/part$i" --tokens "${TOKENS_PER_PART:-35000000}" --files 4 --seed "$i" 2>/dev/null &
  done
  wait
fi
for t in ${THREADS:-1 8 12 16}; do
  for bin in lcde-base lcde; do
    echo "== $bin -j$t"
    python3 scripts/bench_build.py --lcde "$LOADER $D/bin/$bin" --corpus "$corpus" --model "$D/llama-2.model" \
      --threads "$t" --repeats "${REPEATS:-3}" --tokens "${BUILD_TOKENS:-400M}" --strategy "${STRATEGY:-none}" \
      --json "${OUT:-/tmp}/$bin-j$t.json" | sed -n '3p;$p'
  done
done
printf 'seed: 1\ninput: {paths: [%s]}\ntokenizer: {model: %s}\nmixture: {total_tokens: %s, strategy: %s}\noutput: {dir: /tmp/stats-out, sequence_length: 80K}\n' \
  "$corpus" "$D/llama-2.model" "${BUILD_TOKENS:-400M}" "${STRATEGY:-none}" > /tmp/stats.yaml
for bin in lcde-base lcde; do
  echo "== $bin --stats -j16"
  $LOADER "$D/bin/$bin" build -q --force --stats -j 16 -c /tmp/stats.yaml 2>&1
done
