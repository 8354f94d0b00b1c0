#!/usr/bin/env bash
# Builds lcde and runs every test, in three stages, then prints a summary:
#   build  build/       the normal build; ctest runs the gtest unit and
#                       end-to-end tests, the Python reader's tests, the
#                       fuzz-input replays (tests/fuzz/corpus, regressions)
#                       and scripts/slurm/ on a one-node SLURM cluster
#                       (tests/slurm/run.sh, label slurm) and `lcde report`
#                       in headless chromium (tests/browser/run.sh, label
#                       browser)
#   asan   build-asan/  -DLCDE_SANITIZE=ON (AddressSanitizer + UBSan, leaks
#                       too): the same ctest, on a sanitized lcde binary,
#                       less the SLURM and browser runs
#   fuzz   build-fuzz/  scripts/fuzz.sh $FUZZ_SECONDS: replays the saved
#                       regressions, then fuzzes each target (clang, libFuzzer)
# Every stage runs even after one fails; exits 1 when any failed.
# .ci/run calls this same script (the README's test command).
#   BUILD_DIR         the normal build's dir (default build)
#   ASAN_BUILD_DIR    the sanitized build's dir (default build-asan)
#   FUZZ_BUILD_DIR    the fuzz targets' dir (default build-fuzz)
#   FUZZ_SECONDS      fuzzing time per target (default 45; 0 = replays only)
#   LCDE_TEST_STAGES  stages to run (default "build asan fuzz"), for quick local runs
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stages=${LCDE_TEST_STAGES:-build asan fuzz}
BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

scripts/install_deps.sh || { echo "test.sh: installing dependencies failed" >&2; exit 1; }

failed=0
summary=()
fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
has_stage() { [[ " $stages " == *" $1 "* ]]; }
record() {  # name dir ok|FAILED seconds detail
  local indent
  indent=$(printf '%37s' '')
  summary+=("$(printf '%-6s %-12s %-7s %7s  %s' "$1" "$2/" "$3" "$(fmt_time "$4")" \
    "${5//$'\n'/$'\n'$indent}")")
  [ "$3" = ok ] || failed=1
}

# Builds $dir with the given cmake args, then runs ctest there.
build_and_ctest() {  # name dir cmake-args...
  local name=$1 dir=$2 t0=$SECONDS
  shift 2
  echo "===== $name: building $dir/"
  if ! BUILD_DIR=$dir scripts/build.sh "$@"; then
    record "$name" "$dir" FAILED $((SECONDS - t0)) "build failed"
    return
  fi
  local built=$((SECONDS - t0))
  echo "===== $name: ctest in $dir/"
  local log="$dir/ctest.log"
  (cd "$dir" && ctest --output-on-failure -j "$(nproc)" --timeout 900) 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local counts
  counts=$(grep -E '[0-9]+% tests passed' "$log" | tail -n 1)
  local detail="build $(fmt_time "$built"), ${counts:-no ctest summary}"
  if [ "$rc" -eq 0 ]; then
    record "$name" "$dir" ok $((SECONDS - t0)) "$detail"
  else
    local names
    names=$(sed -n '/tests FAILED:/,$ s/^[[:space:]]*[0-9]* - \(.*\) (.*)$/\1/p' "$log" |
      head -n 6 | tr '\n' ' ')
    record "$name" "$dir" FAILED $((SECONDS - t0)) "$detail; failed: ${names:-see $log}"
  fi
}

if has_stage build; then
  build_and_ctest build "$BUILD_DIR"
fi

if has_stage asan; then
  # -O1 -g1 (line tables): sanitizer reports keep file:line, the build takes
  # ~40% less time than -O2 -g.
  build_and_ctest asan "$ASAN_BUILD_DIR" -DLCDE_SANITIZE=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
fi

if has_stage fuzz; then
  t0=$SECONDS
  echo "===== fuzz: scripts/fuzz.sh $FUZZ_SECONDS"
  # libFuzzer needs clang and its runtime (Debian: clang-14, libclang-rt-14-dev).
  missing=()
  for p in clang-14 libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ -z "${CXX_FUZZ:-}" ] && [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  log=$(mktemp)
  BUILD_DIR=$FUZZ_BUILD_DIR scripts/fuzz.sh "$FUZZ_SECONDS" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  detail=$(sed -n '/^== fuzz summary/,$p' "$log" | sed -n 's/^  //p')
  rm -f "$log"
  record fuzz "$FUZZ_BUILD_DIR" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" $((SECONDS - t0)) \
    "${detail:-fuzz.sh failed before fuzzing}"
fi

echo
echo "===== test summary ($(fmt_time $((SECONDS - start))) in all)"
printf '%s\n' "${summary[@]}"
if [ "$failed" -eq 0 ]; then
  echo "RESULT: all stages passed"
else
  echo "RESULT: FAILED"
fi
exit "$failed"
