#!/usr/bin/env bash
# Runs on the device machine: the scaling table of BENCHMARKS.md for the
# carried .device/bin/lcde (1..16 threads and the default), output on tmpfs,
# and the baseline .device/bin/lcde-base at 16 threads and its default for
# wall time and peak RSS in the same session. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$PWD/.device
L="$D/lib/ld-linux-x86-64.so.2 --library-path $D/lib"
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec %s %s "$@"\n' "$L" "$D/bin/zstd" > /tmp/bin/zstd && chmod +x /tmp/bin/zstd
export PATH=/tmp/bin:$PATH TMPDIR=/dev/shm
for i in $(seq 1 16); do
  python3 scripts/make_sample_corpus.py --out /tmp/corpus/part$i --tokens 35000000 --files 4 --seed "$i" 2>/dev/null &
done
wait
echo "== lcde"
python3 scripts/bench_build.py --lcde "$L $D/bin/lcde" --corpus /tmp/corpus --model "$D/llama-2.model" \
  --threads 1,2,4,8,12,16,0 --repeats 3 --tokens 400M --strategy none --json "${OUT:-/tmp}/final.json"
echo "== lcde-base"
python3 scripts/bench_build.py --lcde "$L $D/bin/lcde-base" --corpus /tmp/corpus --model "$D/llama-2.model" \
  --threads 16,0 --repeats 3 --tokens 400M --strategy none --json "${OUT:-/tmp}/base.json"
