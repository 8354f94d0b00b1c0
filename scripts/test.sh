#!/usr/bin/env bash
# Builds lcde and runs every test (gtest unit + end-to-end, under ctest).
# .ci/run calls this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
