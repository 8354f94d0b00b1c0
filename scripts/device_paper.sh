#!/usr/bin/env bash
# Runs on the device machine (carry .device, filled by scripts/device_pack.sh
# with the text pack): the paper's recipe on real text at a size where
# start-up does not dominate, on 16 cores. Results go to $OUT.
#
#   1. a corpus of real text, PARTS (16) parts of PART_TOKENS (110M) planned
#      tokens in FILES (10) files each, about SlimPajama's 10.6M tokens per
#      file (627B tokens in 59,166 chunks), generated in parallel: prose
#      from the carried pack (man pages and /usr/share/doc of the machine
#      that packed it), code from this machine (C headers, Python, Perl,
#      its Markdown); how often each pool started over is printed (text
#      that repeats flatters the cache)
#   2. lcde's reading alone: `lcde scan` (zstd + JSON, no tokenizer)
#   3. lcde --stats at the default threads and at -j16, with READERS (a sweep
#      of the hidden --readers)
#   4. lcde (default threads) against scripts/paper_pipeline.py with 16
#      processes, alternately: RUNS lcde runs, PIPELINE_RUNS pipeline runs
#   5. the ceiling: PARTS independent 1-thread builds of TOKENS/PARTS tokens,
#      build i on part i, all at once, against one of them alone
#   6. "base": a change against its baseline, .device/bin/lcde-base (copy the
#      previous commit's lcde there after scripts/device_pack.sh), RUNS
#      alternations at the default threads and -j16: wall, CPU, tokens
#      tokenized per token kept, peak RSS
# STEPS (default "scan stats ceiling compare") picks steps 2-6; they run in
# the order scan, stats, base, ceiling, compare: the comparison's pipeline
# runs are the longest part.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
unpack_tokenizers
L=$LCDE_RUN
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_paper.txt") 2>&1
t_start=$SECONDS
parts=${PARTS:-16}
tokens=${TOKENS:-250M}
corpus=/dev/shm/real
model=$TOK/llama-2.model
nproc; lscpu | grep -E "Model name|L3" || true

# 1. The corpus.
site=$(python3 -c "import site; print(site.getsitepackages()[0])")
pids=()
for i in $(seq 1 "$parts"); do
  python3 scripts/make_real_corpus.py --out "$corpus/part$i" --tokens "${PART_TOKENS:-110M}" --files "${FILES:-10}" --seed "$i" \
    --pack "$D/text-pack.jsonl.zst" --glob "c=$site/**/*.h" --glob "py=$site/**/*.py" \
    --glob "doc=$site/**/*.md" --glob "doc=$site/**/*.rst" > "/tmp/corpus$i.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "corpus part $((i + 1)) failed:"; cat "/tmp/corpus$((i + 1)).log"; exit 1; }
done
cat /tmp/corpus1.log
echo "corpus: $(du -sh --apparent-size $corpus | cut -f1) compressed, $((SECONDS - t_start)) s"

config() { scripts/paper_config.sh "$1" "$model" "$2" "$3"; }  # paths tokens dir
config "$corpus" "$tokens" /dev/shm/lcde-out > /tmp/paper.yaml
wall() { local t0=$EPOCHREALTIME; "$@" > /dev/null 2>&1; python3 -c "print(f'{$EPOCHREALTIME - $t0:.3f}')"; }
manifest() { python3 -c "import json; m=json.load(open('/dev/shm/lcde-out/manifest.json')); print(m['totals']['tokens'], m['reading']['bytes'], m['reading']['documents'])"; }

want() { [[ " ${STEPS:-scan stats ceiling compare} " == *" $1 "* ]]; }

# 2. Reading alone.
want scan && for j in 16 8; do
  echo "== lcde scan -j$j (zstd + JSON, no tokenizer): $(wall $L "$D/bin/lcde" scan -j $j "$corpus") s," \
       "$(du -sb --apparent-size $corpus | cut -f1) bytes compressed"
done
want scan && { $L "$D/bin/lcde" scan -j 16 --json "$corpus" > "$OUT/scan.json" 2>/dev/null || true; }

# 3. Where the time goes.
want stats && for r in 0 ${READERS:-}; do
  for j in 0 16; do
    ra=(); [ "$r" = 0 ] || ra=(--readers "$r")
    echo "== lcde build --stats -j$j readers ${r/#0/default}"
    $L "$D/bin/lcde" build -q --force --stats -j "$j" "${ra[@]}" -c /tmp/paper.yaml 2>&1 | grep -v "^wrote" |
      { [ "$r$j" = 00 ] && cat || grep -E "^(read|  readers|tokenize|  of which on|consumer idle|total|process)"; }
  done
done
want stats && echo "lcde output tokens, bytes read, documents read: $(manifest)"

# 6. (run before 4 and 5) This lcde against the previous one.
rss() { python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:]).returncode
print("peak RSS", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, "MiB")
sys.exit(r)' "$@"; }
want base && for i in $(seq 1 "${RUNS:-3}"); do
  for bin in lcde-base lcde; do
    for j in 0 16; do
      echo "$bin -j$j run $i: $(rss $L "$D/bin/$bin" build -q --force --stats -j "$j" -c /tmp/paper.yaml 2>&1 |
        grep -E "^(total|process CPU|tokenized|peak RSS)" | tr -s ' ' | paste -sd'|')"
    done
  done
done

# 5. (run before 4) The ceiling: independent 1-thread builds on disjoint parts.
per=$(python3 -c "
t='$tokens'; m={'K':1e3,'M':1e6,'B':1e9}
n=int(float(t[:-1])*m[t[-1]]) if t[-1] in m else int(t); print(n // $parts)")
want ceiling && for i in $(seq 1 "$parts"); do config "$corpus/part$i" "$per" "/dev/shm/ceil$i" > "/tmp/ceil$i.yaml"; done
want ceiling && for k in 1 "$parts" 1 "$parts"; do
  t0=$EPOCHREALTIME
  builds=()
  for i in $(seq 1 "$k"); do
    $L "$D/bin/lcde" build -q --force -j 1 -c "/tmp/ceil$i.yaml" > /dev/null 2>&1 &
    builds+=($!)
  done
  # By pid: a bare `wait` also waits for the tee of `exec > >(tee ...)`,
  # which lives as long as the script.
  wait "${builds[@]}"
  echo "[$((SECONDS - t_start)) s] ceiling: $k independent -j1 builds of $per tokens at once: $(python3 -c "print(f'{$EPOCHREALTIME - $t0:.3f}')") s"
done
want ceiling && python3 -c "
import json
b=[json.load(open('/dev/shm/ceil%d/manifest.json' % i))['reading']['bytes'] for i in range(1, $parts + 1)]
print('ceiling builds read', sum(b), 'bytes in all')"
rm -rf /dev/shm/ceil*

# 4. lcde against the paper's pipeline, alternately.
lcde_s=() paper_s=()
want compare && for i in $(seq 1 "${RUNS:-3}"); do
  lcde_s+=("$(wall $L "$D/bin/lcde" build -q --force -c /tmp/paper.yaml)")
  echo "[$((SECONDS - t_start)) s] lcde run $i, default threads: ${lcde_s[-1]} s, output tokens, bytes read, documents read: $(manifest)"
  if [ "$i" -le "${PIPELINE_RUNS:-2}" ] && [ $((SECONDS - t_start)) -lt "${PIPELINE_DEADLINE:-380}" ]; then
    PATH=/tmp/bin:$PATH python3 scripts/paper_pipeline.py --input "$corpus" --model "$model" --out /dev/shm/paper.bin \
      --tokens "$tokens" --processes 16 | tee -a "$OUT/pipeline.jsonl"
    echo "[$((SECONDS - t_start)) s] pipeline run $i done"
    paper_s+=("$(tail -1 "$OUT/pipeline.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
  fi
done
want compare && echo "lcde default threads: ${lcde_s[*]} s; paper pipeline, 16 processes: ${paper_s[*]:-none} s"
rm -f /dev/shm/paper.bin

echo "done in $((SECONDS - t_start)) s"
