#!/usr/bin/env bash
# One command from a fresh Debian machine to a built demo dataset:
# installs dependencies, builds lcde, generates the sample corpus, runs
# `lcde build` on configs/demo.yaml, prints `lcde stats` of the result and
# writes its `lcde report` (build/demo/report.html).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
if [ ! -d build/demo/corpus ]; then
  python3 scripts/make_sample_corpus.py --out build/demo/corpus
fi
build/lcde build --config configs/demo.yaml --force --stats
build/lcde stats build/demo/out
build/lcde report build/demo/out -o build/demo/report.html
echo "report: $(pwd)/build/demo/report.html (open it in a browser)"
