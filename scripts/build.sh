#!/usr/bin/env bash
# Configures and builds lcde into ${BUILD_DIR:-build}. Extra args go to cmake:
# on the first configure (with -G Ninja when ninja exists and
# -DCMAKE_BUILD_TYPE=RelWithDebInfo, which the args may override), and again
# on a configured dir whenever given. ${BUILD_TARGETS}, when set, names the
# targets to build (space-separated; default: all).
#   BUILD_DIR=build-asan scripts/build.sh -DLCDE_SANITIZE=ON
#   BUILD_DIR=build-fuzz BUILD_TARGETS="lcde_fuzz_reader" scripts/build.sh \
#     -DCMAKE_CXX_COMPILER=/usr/bin/clang++-14 -DLCDE_FUZZ=ON -DLCDE_BUILD_TESTS=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" "$@"
fi
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
