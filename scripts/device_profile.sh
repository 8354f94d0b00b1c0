#!/usr/bin/env bash
# Runs on the device machine: disk speed, build scaling with the output on
# tmpfs (CPU only), and --stats per stage at several tokenizer cache sizes.
# Results go to $OUT. Carry .device (see scripts/device_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
df -h /tmp /dev/shm | tail -2
dd if=/dev/zero of=/tmp/ddtest bs=1M count=1000 conv=fsync 2>&1 | tail -1; rm -f /tmp/ddtest
source scripts/device_env.sh
L=$LCDE_RUN
make_corpus /tmp/corpus
echo "== scaling, output on /dev/shm"
TMPDIR=/dev/shm python3 scripts/bench_build.py --lcde "$L $D/bin/lcde" --corpus /tmp/corpus --model $D/llama-2.model --threads 1,2,4,8,12,16 --repeats 3 --tokens 400M --strategy none --json $OUT/shm.json
printf 'seed: 1\ninput: {paths: [/tmp/corpus]}\ntokenizer: {model: %s}\nmixture: {total_tokens: 400M, strategy: none}\noutput: {dir: /dev/shm/stats-out, sequence_length: 80K}\n' "$D/llama-2.model" > /tmp/s.yaml
for cfg in "1 32" "16 32" "16 8" "16 2"; do set -- $cfg
  echo "== --stats -j$1 cache ${2}MB (output on /dev/shm)"
  LCDE_TOKENIZER_CACHE_MB=$2 $L $D/bin/lcde build -q --force --stats -j $1 -c /tmp/s.yaml 2>&1 | grep -E "tokenize|sample|read|total"
done
sed -i 's#/dev/shm/stats-out#/tmp/stats-out#' /tmp/s.yaml
echo "== --stats -j16 output on /tmp (disk)"; $L $D/bin/lcde build -q --force --stats -j 16 -c /tmp/s.yaml 2>&1 | grep -E "tokenize|sample|read|total"
