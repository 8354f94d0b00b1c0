#!/usr/bin/env bash
# Builds the libFuzzer targets into build-fuzz/ (clang, ASan + UBSan) and
#   1. replays tests/fuzz/regressions/<target>/ and tests/fuzz/corpus/<target>/
#      (saved crashers, fixed since, and the seeds: each must pass);
#   2. fuzzes each target for SECONDS (default 60; 0 = replay only), starting
#      from a scratch copy of the seed corpus, so the repo is not touched.
# Usage: scripts/fuzz.sh [SECONDS] [--merge]
#   --merge          afterwards, merge inputs that add coverage into
#                    tests/fuzz/corpus/<target>/ (libFuzzer -merge=1; review, commit)
#   FUZZ_TARGETS     targets to run (default: "reader config")
#   FUZZ_JOBS        targets fuzzed at once (default: 2 when nproc >= 2, else 1)
#   CXX_FUZZ         the clang++ to use (default: clang++-14, else clang++)
#   BUILD_DIR        default build-fuzz
# A crash, leak, sanitizer report, timeout or failed invariant leaves its input
# in build-fuzz/artifacts/<target>/ and makes the script exit 1. To keep one:
# fix the bug, then copy the input to tests/fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=60
merge=0
for arg in "$@"; do
  case "$arg" in
    --merge) merge=1 ;;
    ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [--merge]" >&2; exit 2 ;;
    *) seconds=$arg ;;
  esac
done
targets=(${FUZZ_TARGETS:-reader config})
jobs=${FUZZ_JOBS:-$([ "$(nproc)" -ge 2 ] && echo 2 || echo 1)}
BUILD_DIR=${BUILD_DIR:-build-fuzz}

cxx=${CXX_FUZZ:-}
if [ -z "$cxx" ]; then
  cxx=$(command -v clang++-14 || command -v clang++ || true)
fi
if [ -z "$cxx" ]; then
  echo "fuzz.sh: no clang++ (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi
cxx=$(command -v "$cxx")

# libFuzzer's options per target: inputs are small (the reader target expands
# its own), a slow input is a finding, and so is memory past 2 GB.
declare -A max_len=([reader]=8192 [config]=4096)
libfuzzer_opts=(-timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

bins=()
for t in "${targets[@]}"; do bins+=("lcde_fuzz_$t"); done
echo "== fuzz: building ${bins[*]} into $BUILD_DIR with $cxx"
BUILD_DIR=$BUILD_DIR BUILD_TARGETS="${bins[*]}" scripts/build.sh \
  -DCMAKE_CXX_COMPILER="$cxx" -DLCDE_FUZZ=ON -DLCDE_BUILD_TESTS=OFF -DLCDE_SANITIZE=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"

bdir=$(cd "$BUILD_DIR" && pwd)  # absolute: the fuzzers run in a scratch dir
status=0
summary=()
logs="$BUILD_DIR/fuzz-logs"
mkdir -p "$logs"

# 1. Replay: regressions and seeds, every file once.
for t in "${targets[@]}"; do
  files=()
  while IFS= read -r -d '' f; do files+=("$f"); done < <(
    find "tests/fuzz/regressions/$t" "tests/fuzz/corpus/$t" -type f ! -name '.*' -print0 2>/dev/null | sort -z)
  if [ ${#files[@]} -eq 0 ]; then
    summary+=("$t: replay: no inputs")
    continue
  fi
  if "$BUILD_DIR/lcde_fuzz_$t" "${files[@]}" >"$logs/replay-$t.log" 2>&1; then
    summary+=("$t: replay: ${#files[@]} regression and seed inputs passed")
  else
    status=1
    summary+=("$t: replay: FAILED (log: $logs/replay-$t.log)")
    tail -n 40 "$logs/replay-$t.log" >&2
  fi
done

# 2. Fuzz each target for $seconds, from a scratch copy of the seeds.
scratch=""
cleanup() { if [ -n "$scratch" ]; then rm -rf "$scratch"; fi; }  # must not fail: it would set the exit status
trap cleanup EXIT
if [ "$seconds" -gt 0 ]; then
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/lcde-fuzz.XXXXXX")
  run_one() {
    local t=$1
    local corpus="$scratch/corpus-$t" artifacts="$bdir/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    cp -r "tests/fuzz/corpus/$t/." "$corpus/"
    # The first corpus dir receives new inputs; the seeds are only read.
    (cd "$scratch" && exec "$bdir/lcde_fuzz_$t" "${libfuzzer_opts[@]}" \
        -max_len="${max_len[$t]:-4096}" -max_total_time="$seconds" \
        -dict="$root/tests/fuzz/$t.dict" -artifact_prefix="$artifacts/" \
        "$corpus") >"$logs/fuzz-$t.log" 2>&1
  }
  echo "== fuzz: ${targets[*]} for ${seconds}s each ($jobs at a time); logs in $logs/"
  pids=()
  for t in "${targets[@]}"; do
    mkdir -p "$BUILD_DIR/artifacts/$t"
    touch "$logs/started-$t"  # findings of earlier runs stay, but are not counted
    run_one "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
      wait "${pids[0]}" || true
      pids=("${pids[@]:1}")
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || true; done

  for t in "${targets[@]}"; do
    log="$logs/fuzz-$t.log"
    final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]+).*/\1/p' <<<"$done_line")
    crashes=$(find "$BUILD_DIR/artifacts/$t" -type f -newer "$logs/started-$t" \( -name 'crash-*' \
      -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    line="$t: fuzz ${seconds}s: $(final_stat number_of_executed_units) execs ($(final_stat average_exec_per_sec)/s),"
    line+=" cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, new $(final_stat new_units_added),"
    line+=" peak rss $(final_stat peak_rss_mb) MB"
    if [ "$crashes" -gt 0 ] || ! grep -q '^Done [0-9]* runs' "$log"; then
      status=1
      line+=" -- FAILED: $crashes finding(s) in $BUILD_DIR/artifacts/$t/ (log: $log)"
      grep -E 'ERROR: |FUZZ_CHECK failed|runtime error|^SUMMARY' "$log" | head -n 5 >&2 || true
      tail -n 60 "$log" >&2
    fi
    summary+=("$line")
  done

  if [ "$merge" -eq 1 ]; then
    for t in "${targets[@]}"; do
      before=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
      "$BUILD_DIR/lcde_fuzz_$t" -merge=1 -max_len="${max_len[$t]:-4096}" \
        "tests/fuzz/corpus/$t" "$scratch/corpus-$t" >"$logs/merge-$t.log" 2>&1 || status=1
      after=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
      summary+=("$t: merged $((after - before)) new inputs into tests/fuzz/corpus/$t/")
    done
  fi
fi

echo
echo "== fuzz summary"
printf '  %s\n' "${summary[@]}"
[ "$status" -eq 0 ] && echo "fuzz: OK" || echo "fuzz: FAILED"
exit "$status"
