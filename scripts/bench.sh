#!/usr/bin/env bash
# The 2-core figures of BENCHMARKS.md's "Real text" section, reproduced on a
# fresh clone (after scripts/build.sh), each beside its baseline in the same
# run, on real text (scripts/make_real_corpus.py: Debian-installed man pages,
# documentation and code in SlimPajama's layout):
#
#   1. cold-cache tokenization against the SentencePiece library, one core
#      (lcde_bench_tokenizer, LLaMA-2, the first 40 MB of the corpus);
#   2. start-up: "load tokenizer" of a 5M-token paper-recipe build, and its
#      tokens tokenized per token kept (`lcde build --stats`);
#   3. the paper's recipe against its pipeline (scripts/bench_paper.sh).
#
#   scripts/bench.sh [RUNS]      RUNS: timed runs of each (default 3; medians)
#
# MODEL (default ../shared/tokenizers/llama-2.model), CORPUS (default
# build/bench-real-30M, made when missing), BUILD_DIR (default build).
# Prints a summary; BENCHMARKS.md is edited by hand with what it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
build=${BUILD_DIR:-build}
corpus=${CORPUS:-build/bench-real-30M}
model=$(realpath "${MODEL:-../shared/tokenizers/llama-2.model}")
for f in "$build/lcde" "$build/lcde_bench_tokenizer" "$model"; do
  [ -e "$f" ] || { echo "bench.sh: $f is missing (run scripts/build.sh; the model comes from ../shared)" >&2; exit 2; }
done
[ -d "$corpus" ] || python3 scripts/make_real_corpus.py --out "$corpus" --tokens 30M --files 8 --seed 1 >&2
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "lcde $commit, $(nproc) cores, corpus $corpus, model $(basename "$model")"

echo
echo "== 1. Tokenization on one core: the library against lcde's cold and warm cache"
echo "   taskset -c 0 $build/lcde_bench_tokenizer --model $model --runs $runs --max-mb 40 $corpus"
taskset -c 0 "$build/lcde_bench_tokenizer" --model "$model" --runs "$runs" --max-mb 40 "$corpus" 2>&1 |
  grep -E "^(check|path|library|segments\+native-bpe|pretokens\+native-bpe|cold-cache)"

echo
echo "== 2. Start-up and tokenizer work of the paper recipe at 5M tokens (lcde build --stats -j $(nproc))"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/paper_config.sh "$(realpath "$corpus")" "$model" 5M "$work/out" > "$work/paper.yaml"
load=() total=()
for i in $(seq "$runs"); do
  "$build/lcde" build -q --force --stats -c "$work/paper.yaml" > "$work/stats" 2>&1
  load+=("$(awk '/^load tokenizer/ {print $3}' "$work/stats")")
  total+=("$(awk '/^total / {print $2}' "$work/stats")")
done
echo "   load tokenizer: $(median "${load[@]}") s (runs: ${load[*]}); build total $(median "${total[@]}") s"
grep -E "^(tokenized|  documents kept|  dropped|  read ahead)" "$work/stats" | sed 's/^/   /'

echo
echo "== 3. The paper's recipe against its pipeline (scripts/bench_paper.sh $runs 5M $corpus)"
MODEL=$model LCDE=$build/lcde scripts/bench_paper.sh "$runs" 5M "$corpus"
