#!/usr/bin/env bash
# On the device (16 cores, HF `tokenizers` installed), with .device/ carried
# (scripts/device_pack.sh): the tokenizer.json path against HF `tokenizers`
# in the same run, and builds with Llama-3.1 against LLaMA-2.
#   1. lcde_bench_tokenizer, one pinned core, on vim's documentation: every
#      model (LLaMA-2, Llama-3.1, Qwen3), reference vs fast, cold and warm;
#   2. HF `tokenizers` on the same documents, its ids checked equal to lcde's
#      (digest) before timing: encode on one thread, encode_batch on 16;
#   3. lcde build, per_source, 80K chunks, default threads, LLaMA-2 vs
#      Llama-3.1 on one generated corpus (median wall, peak RSS).
# Results go to $OUT (the device tool brings them back).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
unpack_tokenizers
zstd -q -d -f "$D/vimdoc.jsonl.zst" -o /tmp/vimdoc.jsonl
PIN=(taskset -c 2)
{
  nproc; lscpu | grep -E "Model name|L2|L3" || true
  for m in llama-2.model llama-3.1-tokenizer.json qwen3-tokenizer.json; do
    echo "### $m"
    "${PIN[@]}" $LCDE_RUN "$D/bin/lcde_bench_tokenizer" --model "$TOK/$m" --runs "${RUNS:-5}" /tmp/vimdoc.jsonl \
      | tee "/tmp/lcde-$m.txt"
    if [ "${m##*.}" = json ]; then
      digest=$(sed -n 's/^digest *\([0-9a-f]*\).*/\1/p' "/tmp/lcde-$m.txt")
      RAYON_NUM_THREADS=1 "${PIN[@]}" python3 scripts/bench_hf_tokenizers.py --tokenizer "$TOK/$m" \
        --jsonl /tmp/vimdoc.jsonl --runs 3 --expect-digest "$digest" | grep -v "encode_batch"
      python3 scripts/bench_hf_tokenizers.py --tokenizer "$TOK/$m" --jsonl /tmp/vimdoc.jsonl --runs 3 \
        --expect-digest "$digest" | grep "encode_batch"
    fi
  done
} 2>&1 | tee "$OUT/tokenizers.txt"

PARTS=16 TOKENS_PER_PART=${TOKENS_PER_PART:-8000000} make_corpus /tmp/corpus
for m in llama-2.model llama-3.1-tokenizer.json; do
  echo "### build with $m" | tee -a "$OUT/builds.txt"
  TMPDIR=/dev/shm python3 scripts/bench_build.py --lcde "$LCDE_RUN $D/bin/lcde" --corpus /tmp/corpus \
    --model "$TOK/$m" --threads "${THREADS:-1,16}" --repeats 3 --tokens "${BUILD_TOKENS:-50M}" \
    --strategy per_source --seq 80K 2>&1 | tee -a "$OUT/builds.txt"
done
