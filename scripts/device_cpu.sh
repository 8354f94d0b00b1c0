#!/usr/bin/env bash
# Runs on the device machine: where the CPU time of a 400M-token build goes
# (`--stats` wall and CPU per stage at 1-16 threads, two cache sizes), and
# the same tokenizer CPU time for 1, 8 and 16 independent 1-thread builds at
# once (what the machine gives each core when all are busy). Carry .device.
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
echo "== ceiling: 8 and 16 independent 1-thread builds, 50M tokens each, on separate parts"
for n in 1 8 16; do
  start=$(date +%s%N)
  for i in $(seq 1 $n); do
    printf 'seed: 1\ninput: {paths: [/tmp/corpus/part%s]}\ntokenizer: {model: %s}\nmixture: {total_tokens: 50M, strategy: none}\noutput: {dir: /dev/shm/ceil%s, sequence_length: 80K}\n' "$i" "$D/llama-2.model" "$i" > /tmp/ceil$i.yaml
    ( $LCDE_RUN "$D/bin/lcde" build -q --force --stats -j 1 -c /tmp/ceil$i.yaml 2>&1 | grep -E "on a CPU" > /tmp/ceil$i.out ) &
  done
  wait
  end=$(date +%s%N)
  echo "n=$n wall $(( (end - start) / 1000000 )) ms; tokenize CPU per build (s):" $(cat /tmp/ceil*.out | awk '{print $6}' | tr '\n' ' ')
  rm -f /tmp/ceil*.out
done
