#!/usr/bin/env bash
# Runs the Python reader tests: tests/python/run.sh [LCDE_BINARY]
# Uses the first python3 with numpy among $LCDE_PYTHON (when set, alone),
# else /usr/bin/python3, then python3 on PATH; exits 0 printing
# "skipped: no numpy" when none has it. Runs pytest when that interpreter has
# it, else unittest (the tests are written for both).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -gt 0 ]; then
  case "$1" in
    /*) LCDE_BINARY="$1" ;;
    *) LCDE_BINARY="$PWD/$1" ;;
  esac
  export LCDE_BINARY
fi
if [ -n "${LCDE_PYTHON:-}" ]; then
  candidates=("$LCDE_PYTHON")
else
  candidates=(/usr/bin/python3 python3)
fi
py=""
for cand in "${candidates[@]}"; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import numpy' >/dev/null 2>&1; then
    py="$cand"
    break
  fi
done
if [ -z "$py" ]; then
  echo "skipped: no numpy (tried: ${candidates[*]})"
  exit 0
fi
cd "$here"
if "$py" -c 'import pytest' >/dev/null 2>&1; then
  exec "$py" -m pytest -q -p no:cacheprovider "$here"
fi
echo "pytest is not installed for $py; running the tests with unittest"
exec "$py" -m unittest discover -s "$here" -t "$here" -p 'test_*.py'
