#!/usr/bin/env bash
# lcde against the paper's own pipeline (scripts/paper_pipeline.py), same job,
# same run: the paper's recipe (per_source, keep 0.1 under 4096 tokens, 80K
# chunks, LLaMA-2) over a corpus, alternately, medians of wall time.
#
#   scripts/bench_paper.sh [RUNS] [TOKENS] [CORPUS_DIR]
#
# Defaults: 3 runs, 5M tokens, a 30M-token corpus of real text made by
# scripts/make_real_corpus.py under build/bench-real-30M. THREADS (default:
# the cores) is lcde's -j and the pipeline's process count; MODEL defaults to
# ../shared/tokenizers/llama-2.model; LCDE to build/lcde. Needs Debian's
# python3-sentencepiece and python3-numpy (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
tokens=${2:-5M}
corpus=${3:-build/bench-real-30M}
lcde=${LCDE:-build/lcde}
model=${MODEL:-$(realpath ../shared/tokenizers/llama-2.model)}
threads=${THREADS:-$(nproc)}
if ! /usr/bin/python3 -c "import sentencepiece, numpy" 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-sentencepiece python3-numpy >&2
fi
[ -d "$corpus" ] || python3 scripts/make_real_corpus.py --out "$corpus" --tokens 30M --files 8 --seed 1 >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/paper_config.sh "$(realpath "$corpus")" "$model" "$tokens" "$work/out" > "$work/paper.yaml"
lcde_s=() paper_s=()
for i in $(seq "$runs"); do
  TIMEFORMAT=%R
  { time "$lcde" build -q -j "$threads" --force -c "$work/paper.yaml" >/dev/null; } 2> "$work/time"
  lcde_s+=("$(tail -1 "$work/time")")
  paper_s+=("$(/usr/bin/python3 scripts/paper_pipeline.py --input "$corpus" --model "$model" --out "$work/paper.bin" \
               --tokens "$tokens" --processes "$threads" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
done
lcde_tokens=$(python3 -c "import json; print(json.load(open('$work/out/manifest.json'))['totals']['tokens'])")
paper_tokens=$(( $(stat -c %s "$work/paper.bin") / 2 ))
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
l=$(median "${lcde_s[@]}"); p=$(median "${paper_s[@]}")
echo "paper recipe, $tokens tokens, $threads threads/processes, $runs runs, corpus $corpus, model $(basename "$model")"
echo "lcde:           ${l} s (runs: ${lcde_s[*]}), $lcde_tokens tokens written"
echo "paper pipeline: ${p} s (runs: ${paper_s[*]}), $paper_tokens tokens written"
python3 -c "print(f'lcde is {$p / $l:.1f}x the paper pipeline')"
