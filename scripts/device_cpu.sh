#!/usr/bin/env bash
# Runs on the device machine: where the CPU time of a 400M-token build goes
# (`--stats` wall and CPU per stage at 1-16 threads, two cache sizes), and
# a control: the tokenizer CPU time of 1 and 16 independent 1-thread builds
# at once against one build of the same tokens at -j1 and -j16 (whether
# threads cost more CPU in one process than apart). Carry .device.
cd "$(dirname "$0")/.."
set -euo pipefail
source scripts/device_env.sh
make_corpus /tmp/corpus
printf 'seed: 1\ninput: {paths: [/tmp/corpus]}\ntokenizer: {model: %s}\nmixture: {total_tokens: 400M, strategy: none}\noutput: {dir: /dev/shm/stats-out, sequence_length: 80K}\n' "$D/llama-2.model" > /tmp/stats.yaml
nproc; lscpu | grep -E "Model name|Thread|Core|Socket|NUMA node|L2|L3" 
for j in 1 8 12 16; do
  echo "== lcde --stats -j$j"
  $LCDE_RUN "$D/bin/lcde" build -q --force --stats -j "$j" -c /tmp/stats.yaml 2>&1 | grep -v "^wrote"
done
for c in 32 1024; do echo "== -j16 cache $c MB"; LCDE_TOKENIZER_CACHE_MB=$c $LCDE_RUN "$D/bin/lcde" build -q --force --stats -j 16 -c /tmp/stats.yaml 2>&1 | grep -E "tokenize|on a CPU|total|process"; done
# The control: the same work as independent 1-thread processes, all at once
# (one corpus part each), against one build; cache off (pure BPE) and on.
for c in 0 256; do for n in 1 16; do
  for i in $(seq 1 $n); do
    printf 'seed: 1\ninput: {paths: [/tmp/corpus/part%s]}\ntokenizer: {model: %s}\nmixture: {total_tokens: %s, strategy: none}\noutput: {dir: /dev/shm/ceil%s, sequence_length: 80K}\n' \
      "$i" "$D/llama-2.model" "$([ $c = 0 ] && echo 10M || echo 30M)" "$i" > /tmp/ceil$i.yaml
    ( LCDE_TOKENIZER_CACHE_MB=$c $LCDE_RUN "$D/bin/lcde" build -q --force --stats -j 1 -c /tmp/ceil$i.yaml 2>&1 |
        grep -E "on a CPU" | awk '{print $(NF-1)}' > /tmp/ceil$i.out ) &
  done
  wait
  echo "cache $c MB, $n independent -j1 builds at once: tokenizer CPU each (s):" $(cat /tmp/ceil*.out | sort -n | tr '\n' ' ')
  rm -f /tmp/ceil*.out
done; done
sed 's/total_tokens: 400M/total_tokens: 160M/' /tmp/stats.yaml > /tmp/s160.yaml
for j in 1 16; do
  echo "cache 0 MB, one build of 160M tokens at -j$j: tokenizer CPU (s)" \
    "$(LCDE_TOKENIZER_CACHE_MB=0 $LCDE_RUN "$D/bin/lcde" build -q --force --stats -j $j -c /tmp/s160.yaml 2>&1 | grep -E "on a CPU" | awk '{print $(NF-1)}')"
done
