#!/usr/bin/env bash
# Runs on the device machine: the scaling table of BENCHMARKS.md for the
# carried .device/bin/lcde (1..16 threads and the default), output on tmpfs,
# and the baseline .device/bin/lcde-base at 1 and 16 threads and its default for
# wall time and peak RSS in the same session. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
L=$LCDE_RUN
export TMPDIR=/dev/shm
make_corpus /tmp/corpus
echo "== lcde"
python3 scripts/bench_build.py --lcde "$L $D/bin/lcde" --corpus /tmp/corpus --model "$D/llama-2.model" \
  --threads 1,2,4,8,12,16,0 --repeats 3 --tokens 400M --strategy none --json "${OUT:-/tmp}/final.json"
echo "== lcde-base"
python3 scripts/bench_build.py --lcde "$L $D/bin/lcde-base" --corpus /tmp/corpus --model "$D/llama-2.model" \
  --threads 1,16,0 --repeats 3 --tokens 400M --strategy none --json "${OUT:-/tmp}/base.json"
