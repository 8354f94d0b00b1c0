#!/usr/bin/env bash
# The four arms of the paper's data-mixture ablation (Fu et al. 2024), built
# from one corpus with the repo's configs, then compared in one report:
#   scripts/ablation_arms.sh CORPUS OUTDIR
# writes OUTDIR/{original,global,upsample-book-arxiv-github,per-source}/
# (datasets), OUTDIR/scan.json (`lcde scan --json` of CORPUS) and
# OUTDIR/report.html (`lcde report` of the four, with the scan).
# The configs are the paper's (5B tokens, 80K chunks, LLaMA-2); these
# variables resize them (defaults: the demo's scale, on the demo corpus
# that scripts/make_sample_corpus.py writes):
#   LCDE           the lcde binary (default build/lcde)
#   TOKENIZER      tokenizer model (default models/demo.model)
#   TOTAL_TOKENS   each arm's mixture.total_tokens (default 1M)
#   SEQUENCE_LENGTH  output.sequence_length (default 16K)
#   CHUNKS_PER_SHARD output.chunks_per_shard (default 16)
#   SCAN_ARGS      extra `lcde scan` arguments (e.g. --exact, --sample 0.1)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 CORPUS OUTDIR" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(realpath "$1")
mkdir -p "$2"
out=$(realpath "$2")
lcde=$(realpath "${LCDE:-$root/build/lcde}")
tokenizer=$(realpath "${TOKENIZER:-$root/models/demo.model}")
sizes=(--set "mixture.total_tokens=${TOTAL_TOKENS:-1M}"
       --set "output.sequence_length=${SEQUENCE_LENGTH:-16K}"
       --set "output.chunks_per_shard=${CHUNKS_PER_SHARD:-16}")

# arm name -> config: the names are the report's legend.
arms=(original global upsample-book-arxiv-github per-source)
declare -A configs=(
  [original]=ablation-original.yaml
  [global]=ablation-global.yaml
  [upsample-book-arxiv-github]=ablation-upsample-book-arxiv-github.yaml
  [per-source]=paper-per-source-5B.yaml
)
dirs=()
for arm in "${arms[@]}"; do
  echo "== $arm (configs/${configs[$arm]})"
  "$lcde" build -q --config "$root/configs/${configs[$arm]}" --force \
    --set "input.paths=[$corpus]" --set "tokenizer.model=$tokenizer" "${sizes[@]}" \
    -o "$out/$arm"
  dirs+=("$out/$arm")
done
echo "== scan of $corpus"
# shellcheck disable=SC2086  # SCAN_ARGS is a list of arguments
"$lcde" scan --json --tokenizer "$tokenizer" ${SCAN_ARGS:-} "$corpus" > "$out/scan.json.tmp"
mv "$out/scan.json.tmp" "$out/scan.json"
"$lcde" report "${dirs[@]}" --scan "$out/scan.json" -o "$out/report.html"
echo "report: $out/report.html"
