#!/usr/bin/env bash
# The paper's recipe (configs/paper-per-source-5B.yaml) pointed at a corpus,
# a model, a size and an output folder, on stdout: what the benchmarks build.
#
#   scripts/paper_config.sh PATHS MODEL TOKENS DIR > paper.yaml
#
# PATHS is what goes between the brackets of input.paths (one path, or
# several separated by ", ").
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: scripts/paper_config.sh PATHS MODEL TOKENS DIR" >&2; exit 2; }
sed -e "s#^  paths:.*#  paths: [$1]#" -e "s#^  model:.*#  model: $2#" \
    -e "s#^  total_tokens:.*#  total_tokens: $3#" -e "s#^  dir:.*#  dir: $4#" \
    "$(dirname "$0")/../configs/paper-per-source-5B.yaml"
