#!/usr/bin/env bash
# `lcde report` in a real browser (Debian's chromium, headless):
#   tests/browser/run.sh [LCDE_BINARY]          (default: build/lcde)
# Builds a demo dataset and the paper's four ablation arms from one small
# generated corpus (scripts/ablation_arms.sh), reports them (one arm; four
# arms with the corpus's scan), renders both pages and checks:
#   - the page loads nothing and runs nothing: no console message at all
#     (a page without script logs none; a control page with console.error
#     proves the log is read), no <script> but the JSON data block, no
#     src=, url( or link to another document;
#   - every chart is in the rendered DOM (--dump-dom) with its bars, lines,
#     rows: one series per arm (and the scan's), one bar per series and
#     category, one line per source;
#   - each mark's data-value equals `lcde stats --json` of its dataset;
#   - a screenshot is written (PNG, the page's full width).
# Installs chromium with apt-get when missing (as scripts/install_deps.sh
# installs packages). Exit: 0 passed, 1 failed, 77 skipped (chromium cannot
# be installed here; the reason is printed).
#   LCDE_BROWSER_OUT=DIR   keep the reports, DOMs and screenshots in DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lcde=$(realpath "${1:-$root/build/lcde}")
readonly kSkip=77

skip() {
  echo "SKIPPED: $*"
  exit "$kSkip"
}

if ! command -v chromium >/dev/null; then
  command -v apt-get >/dev/null || skip "chromium is not installed and there is no apt-get"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || skip "chromium is not installed and installing it needs root (sudo)"
    SUDO=sudo
  fi
  echo "installing: chromium" >&2
  { $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium; } >&2 ||
    skip "apt-get install chromium failed (offline, or no such package here)"
  command -v chromium >/dev/null || skip "chromium installed but not on PATH"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${LCDE_BROWSER_OUT:-$work/out}
mkdir -p "$out"

# Headless chromium; its own profile dir, so runs side by side do not meet.
# Console messages go to stderr (--enable-logging=stderr --v=0) as
# INFO:CONSOLE lines.
browse() {  # page.html what-to-do...
  local page=$1
  shift
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 "$@" "file://$page"
}

# The log must show a page's console messages, or "no console errors" proves nothing.
printf '<!DOCTYPE html><html><body><script>console.error("lcde-control-error")</script></body></html>' \
  > "$work/control.html"
browse "$work/control.html" --dump-dom > /dev/null 2> "$work/control.log" || true
if ! grep -q 'CONSOLE.*lcde-control-error' "$work/control.log"; then
  echo "FAILED: chromium's log does not show a control page's console.error; cannot check the reports" >&2
  exit 1
fi

echo "== corpus and datasets"
python3 "$root/scripts/make_sample_corpus.py" --out "$work/corpus" --tokens 6M --files 4 --seed 7 > /dev/null 2>&1
"$lcde" build -q --config "$root/configs/demo.yaml" --force --set "input.paths=[$work/corpus]" \
  --set mixture.total_tokens=300K -o "$work/demo"
"$lcde" report "$work/demo" -o "$out/demo.html"
LCDE="$lcde" TOTAL_TOKENS=400K "$root/scripts/ablation_arms.sh" "$work/corpus" "$work/arms" > /dev/null
cp "$work/arms/report.html" "$out/arms.html"

failed=0
check() {  # name page.html dataset-dirs...
  local name=$1 page=$2
  shift 2
  echo "== $name: $page"
  browse "$page" --dump-dom > "$out/$name.dom.html" 2> "$out/$name.log"
  browse "$page" --screenshot="$out/$name.png" --window-size=1400,5000 > /dev/null 2>> "$out/$name.log"
  local stats=()
  for dir in "$@"; do
    "$lcde" stats --json "$dir" > "$out/$name.$(basename "$dir").stats.json"
    stats+=("$out/$name.$(basename "$dir").stats.json")
  done
  if ! python3 "$here/check_report.py" "$page" "$out/$name.dom.html" "$out/$name.log" "$out/$name.png" \
    "${stats[@]}"; then
    failed=1
  fi
}
check demo "$out/demo.html" "$work/demo"
check arms "$out/arms.html" "$work/arms/original" "$work/arms/global" \
  "$work/arms/upsample-book-arxiv-github" "$work/arms/per-source"

if [ "$failed" -ne 0 ]; then
  echo "FAILED (pages, DOMs, logs and screenshots: ${LCDE_BROWSER_OUT:-set LCDE_BROWSER_OUT=DIR to keep them})"
  exit 1
fi
echo "passed: both reports render with every chart and the stats' numbers"
