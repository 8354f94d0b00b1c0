#!/usr/bin/env bash
# Trains the demo SentencePiece model, models/demo.model, the tokenizer of
# configs/demo.yaml and of the tests. Settings mirror LLaMA-2's trainer spec
# (BPE, byte fallback, split digits, identity normalization, whitespace kept)
# at a small vocabulary. The training text is a synthetic corpus from
# make_sample_corpus.py with a seed (1000) other than the demo corpus's (1).
#
#   scripts/train_demo_tokenizer.sh [OUT_MODEL]     (default: models/demo.model)
#
# Needs: python3, zstd, spm_train/spm_encode (Debian package `sentencepiece`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/models/demo.model}"
SEED="${SEED:-1000}"
TOKENS="${TOKENS:-3000000}"
VOCAB_SIZE="${VOCAB_SIZE:-8000}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 "$ROOT/scripts/make_sample_corpus.py" --out "$WORK/corpus" --tokens "$TOKENS" --seed "$SEED" --files 2

# One paragraph (or code line) per line; SentencePiece reads lines.
find "$WORK/corpus" -name '*.jsonl.zst' | sort | while read -r f; do zstd -dcq "$f"; done |
python3 -c '
import json, sys
out = sys.stdout
for line in sys.stdin:
    text = json.loads(line)["text"]
    for para in text.split("\n"):
        if para.strip():
            out.write(para)
            out.write("\n")
' > "$WORK/train.txt"

# Relative paths: the model stores its trainer spec, and a temp dir would make
# the file differ between runs.
(cd "$WORK" && spm_train \
  --input=train.txt \
  --model_prefix=demo \
  --model_type=bpe \
  --vocab_size="$VOCAB_SIZE" \
  --byte_fallback=true \
  --split_digits=true \
  --normalization_rule_name=identity \
  --add_dummy_prefix=true \
  --remove_extra_whitespaces=false \
  --allow_whitespace_only_pieces=true \
  --character_coverage=0.9995 \
  --max_sentencepiece_length=16 \
  --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
  --max_sentence_length=100000 \
  --input_sentence_size=2000000 \
  --shuffle_input_sentence=true \
  --random_seed=1 \
  --num_threads=2 \
  --minloglevel=1)

mkdir -p "$(dirname "$OUT")"
cp "$WORK/demo.model" "$OUT"   # demo.vocab stays in $WORK and is deleted
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)" >&2

# Smoke test: ASCII, non-ASCII, CJK and emoji (byte fallback) must round-trip.
SAMPLE=$'The café in São Paulo costs €5 — 中文 😀 and\ttabs   spaces 12345.'
DECODED="$(printf '%s\n' "$SAMPLE" | spm_encode --model="$OUT" --output_format=id | spm_decode --model="$OUT" --input_format=id)"
if [[ "$DECODED" != "$SAMPLE" ]]; then
  echo "round-trip FAILED: '$DECODED'" >&2
  exit 1
fi
printf '%s\n' "$SAMPLE" | spm_encode --model="$OUT" --output_format=piece >&2
