#!/usr/bin/env bash
# Tokenizer benchmark: builds bench/tokenizer_bench.cc, generates a sample
# corpus, checks that lcde's fast tokenizer returns the SentencePiece
# library's ids on every document, times both on one core, and writes the
# figures under "## Tokenizer" in BENCHMARKS.md (other sections are kept).
#
#   scripts/bench_tokenizer.sh [--tokens N] [--runs R] [--extra PATH] [--no-update]
#
#   --tokens N   corpus size for make_sample_corpus.py (default 2000000)
#   --runs R     timed runs per path; the median is reported (default 5)
#   --extra P    also benchmark a .jsonl/.jsonl.zst file or directory of your own;
#                "vimdoc" builds one from /usr/share/vim/vim*/doc/*.txt (real
#                English technical prose, one document per file)
#   --no-update  print the results, leave BENCHMARKS.md alone
#
# Models: LLaMA-2, Llama-3.1 and Qwen3 (../shared/tokenizers/ or
# $LCDE_SHARED_DIR/tokenizers/: llama-2.model, llama-3.1-tokenizer.json,
# qwen3-tokenizer.json, each skipped when absent) and models/demo.model.
# BUILD_DIR (default build). HF `tokenizers` itself is measured on the device
# (scripts/device_tokenizers.sh), where it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENS=2000000
RUNS=5
EXTRA=""
UPDATE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tokens) TOKENS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --extra) EXTRA=$2; shift 2 ;;
    --no-update) UPDATE=0; shift ;;
    *) echo "usage: $0 [--tokens N] [--runs R] [--extra PATH] [--no-update]" >&2; exit 2 ;;
  esac
done

COMMAND_PREFIX=${BUILD_DIR:+BUILD_DIR=$BUILD_DIR }
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" --target lcde_bench_tokenizer -j "${JOBS:-2}" >/dev/null
BENCH="$BUILD_DIR/lcde_bench_tokenizer"

CORPUS="$BUILD_DIR/bench-data/corpus-tokens$TOKENS-files2-seed9"
if [ ! -d "$CORPUS" ]; then
  mkdir -p "$(dirname "$CORPUS")"
  python3 scripts/make_sample_corpus.py --out "$CORPUS.tmp" --tokens "$TOKENS" --files 2 --seed 9 >/dev/null
  mv "$CORPUS.tmp" "$CORPUS"
fi

SHARED=${LCDE_SHARED_DIR:-../shared}
MODELS=()
for f in llama-2.model llama-3.1-tokenizer.json qwen3-tokenizer.json; do
  [ -f "$SHARED/tokenizers/$f" ] && MODELS+=("$SHARED/tokenizers/$f")
done
MODELS+=("models/demo.model")

PIN=()
command -v taskset >/dev/null && PIN=(taskset -c 0)

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
run() {  # run MODEL CORPUS LABEL
  local cmd=("${PIN[@]}" "$BENCH" --model "$1" --runs "$RUNS" "$2")
  {
    echo "### $(basename "$1") on $3"
    echo
    echo '```'
    echo "\$ ${cmd[*]}"
    "${cmd[@]}"
    echo '```'
    echo
  } | tee -a "$OUT"
}
for m in "${MODELS[@]}"; do
  run "$m" "$CORPUS" "the sample corpus (make_sample_corpus.py --tokens $TOKENS --files 2 --seed 9)"
done
if [ "$EXTRA" = vimdoc ]; then
  EXTRA_PATH="$BUILD_DIR/bench-data/vimdoc.jsonl"
  python3 - "$EXTRA_PATH" <<'PY'
import glob, json, sys
files = sorted(glob.glob("/usr/share/vim/vim*/doc/*.txt"))
if not files:
    sys.exit("no /usr/share/vim/vim*/doc/*.txt on this machine")
with open(sys.argv[1], "w") as out:
    for path in files:
        text = open(path, "rb").read().decode("utf-8", "replace")
        out.write(json.dumps({"text": text, "meta": {"redpajama_set_name": "RedPajamaBook"}}) + "\n")
PY
  LABEL="vim's documentation (/usr/share/vim/vim*/doc/*.txt, one document per file)"
else
  EXTRA_PATH="$EXTRA"
  LABEL="$EXTRA"
fi
if [ -n "$EXTRA" ]; then
  for m in "${MODELS[@]}"; do run "$m" "$EXTRA_PATH" "$LABEL"; done
fi

[ "$UPDATE" = 1 ] || exit 0

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
SPM=$(dpkg-query -W -f='${Version}' libsentencepiece0 2>/dev/null || echo unknown)
CXX=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" | head -1)
CXX_VERSION=$("${CXX:-c++}" --version 2>/dev/null | head -1 || true)
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" | head -1)
SECTION=$(mktemp)
trap 'rm -f "$OUT" "$SECTION"' EXIT
{
  echo "## Tokenizer"
  echo
  echo "Single-thread encode speed of \`Tokenizer::Encode\` against the reference it"
  echo "reproduces (same ids, checked on every document before timing)."
  echo "\`library\` is \`SentencePieceProcessor::Encode\`; for a tokenizer.json the"
  echo "reference is lcde's own Oniguruma pre-tokenizer and uncached BPE (HF \`tokenizers\`"
  echo "itself is timed on the device: see below). \`cold cache\` starts each run"
  echo "with an empty segment cache, \`warm cache\` reuses the cache of the run before"
  echo "(the steady state of a long build); \`segments+library\` sends cache misses to"
  echo "the library instead of the native BPE. Medians of $RUNS runs; tokens exclude BOS/EOS."
  echo
  echo "- machine: $CPU, $(nproc) cores (\`nproc\`), pinned to core 0 with taskset when available"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); libsentencepiece $SPM; $CXX_VERSION; $BUILD_TYPE"
  echo "- command: \`${COMMAND_PREFIX}scripts/bench_tokenizer.sh --tokens $TOKENS --runs $RUNS${EXTRA:+ --extra $EXTRA}\`"
  echo
  cat "$OUT"
} >"$SECTION"
python3 - "$SECTION" <<'EOF'
import pathlib, re, sys
section = pathlib.Path(sys.argv[1]).read_text().rstrip() + "\n"
path = pathlib.Path("BENCHMARKS.md")
text = path.read_text() if path.exists() else "# Benchmarks\n\n"
# Replace "## Tokenizer" up to the next level-2 heading (or the end).
m = re.search(r"^## Tokenizer\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[:m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():]
else:
    text = text.rstrip() + "\n\n" + section
path.write_text(text)
EOF
echo "updated BENCHMARKS.md" >&2
