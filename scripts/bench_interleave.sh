#!/usr/bin/env bash
# Cost of mixture.interleave: the paper's recipe (configs/paper-per-source-5B.yaml)
# built with interleaving on and off, alternately, in the same run; medians of
# wall time and peak RSS, plus each build's worst tenth of the dataset.
#
#   scripts/bench_interleave.sh [RUNS] [TOKENS] [CORPUS_DIR]
#
# Defaults: 5 runs of each, 20M tokens, a 140M-token sample corpus generated
# under build/bench-corpus-140M (the size the paper recipe needs at 20M
# tokens: C4 keeps about one token in six). LCDE (default build/lcde), MODEL
# (default models/demo.model; ../shared/tokenizers/llama-2.model is the
# paper's) and THREADS (default 2) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tokens=${2:-20M}
corpus=${3:-build/bench-corpus-140M}
lcde=${LCDE:-build/lcde}
model=${MODEL:-$PWD/models/demo.model}
threads=${THREADS:-2}
if [ ! -d "$corpus" ]; then
  python3 scripts/make_sample_corpus.py --out "$corpus" --tokens 140000000 --files 16 --seed 11 >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/paper_config.sh "$(realpath "$corpus")" "$model" "$tokens" "$work/out" > "$work/paper.yaml"
run() {  # $1 = true|false; prints "seconds peak_kib"
  /usr/bin/time -f "%e %M" -o "$work/time" "$lcde" build -q -j "$threads" --force -c "$work/paper.yaml" \
    --set mixture.interleave="$1" >/dev/null
  cat "$work/time"
}
worst() {  # the largest |window share - target| over sources with a target of at least 3%, in points
  "$lcde" stats --json "$work/out" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("%.2f" % max(abs(s - v["target_share"]) * 100 for v in j["sources"].values() if v["target_share"] >= 0.03
          for s in v["along_dataset"]["window_shares"]))'
}
declare -A secs rss worst_pts
for i in $(seq "$runs"); do
  for mode in true false; do
    read -r s m < <(run "$mode")
    secs[$mode]+="$s "
    rss[$mode]+="$m "
    [ "$i" = 1 ] && worst_pts[$mode]=$(worst)
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "paper recipe, $tokens tokens, -j $threads, $runs runs each (alternating), corpus $corpus, model $(basename "$model")"
printf "%-12s %10s %14s %26s\n" interleave "wall s" "peak RSS MiB" "worst tenth, points off"
for mode in true false; do
  printf "%-12s %10s %14s %26s\n" "$mode" "$(echo "${secs[$mode]}" | median)" \
    "$(( $(echo "${rss[$mode]}" | median | cut -d. -f1) / 1024 ))" "${worst_pts[$mode]}"
done
on=$(echo "${secs[true]}" | median); off=$(echo "${secs[false]}" | median)
python3 -c "print(f'on / off: {$on / $off:.3f}')"
echo "runs (on): ${secs[true]}"
echo "runs (off): ${secs[false]}"
