# Sourced by the scripts/device_*.sh benchmarks. The device machine has none
# of our Debian libraries: lcde and zstd are carried in .device/ with their
# shared libraries and the dynamic loader (run with `carry: [".device"]`).
# Sets D (the carried folder) and LCDE_RUN (loader prefix for a carried
# binary), puts a zstd wrapper on PATH, and defines make_corpus.
D=$PWD/.device
LCDE_RUN="$D/lib/ld-linux-x86-64.so.2 --library-path $D/lib"
mkdir -p /tmp/bin
printf '#!/bin/sh\nexec %s %s "$@"\n' "$LCDE_RUN" "$D/bin/zstd" > /tmp/bin/zstd && chmod +x /tmp/bin/zstd
export PATH=/tmp/bin:$PATH

# make_corpus DIR: PARTS (16) parts of TOKENS_PER_PART (35M) tokens, 4 files
# each, generated in parallel; kept when DIR exists already.
make_corpus() {
  [ -d "$1" ] && return 0
  local i
  for i in $(seq 1 "${PARTS:-16}"); do
    python3 scripts/make_sample_corpus.py --out "$1/part$i" --tokens "${TOKENS_PER_PART:-35000000}" --files 4 \
      --seed "$i" 2>/dev/null &
  done
  wait
}

# unpack_tokenizers: .device/tokenizers/*.zst (scripts/device_pack.sh) into
# $TOK (default /tmp/tokenizers).
TOK=${TOK:-/tmp/tokenizers}
unpack_tokenizers() {
  mkdir -p "$TOK"
  local f
  for f in "$D"/tokenizers/*.zst; do
    [ -e "$f" ] || continue
    zstd -q -d -f "$f" -o "$TOK/$(basename "${f%.zst}")"
  done
}
