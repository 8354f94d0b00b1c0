#!/usr/bin/env python3
"""HF `tokenizers` (the Rust library lcde's tokenizer.json path reproduces) timed
on the documents of a plain .jsonl file, for scripts/device_tokenizers.sh.

    bench_hf_tokenizers.py --tokenizer FILE.json --jsonl DOCS.jsonl [--runs 3] [--expect-digest HEX]

Encodes as lcde does (encode_special_tokens = True, add_special_tokens=False)
and prints the digest of all ids (sha256 over int32 little-endian ids,
documents in order: the one lcde_bench_tokenizer prints); with
--expect-digest, exits 1 unless they agree, before any timing. Then, per
run: `encode` document by document on one thread, and `encode_batch` over all
documents on every core (RAYON_NUM_THREADS to choose); the median is printed.
"""

import argparse
import hashlib
import json
import os
import statistics
import struct
import sys
import time

import tokenizers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--expect-digest", default="")
    args = ap.parse_args()

    docs = [json.loads(line)["text"] for line in open(args.jsonl, encoding="utf-8")]
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    tok = tokenizers.Tokenizer.from_file(args.tokenizer)
    tok.encode_special_tokens = True
    sha = hashlib.sha256()
    tokens = 0
    for d in docs:
        ids = tok.encode(d, add_special_tokens=False).ids
        sha.update(struct.pack("<%di" % len(ids), *ids))
        tokens += len(ids)
    digest = sha.hexdigest()[:16]
    print(f"tokenizers {tokenizers.__version__}; {args.tokenizer}; {len(docs)} documents, {nbytes / 1e6:.2f} MB, "
          f"{tokens} tokens; digest {digest}")
    if args.expect_digest and args.expect_digest != digest:
        print(f"MISMATCH: lcde's digest is {args.expect_digest}", file=sys.stderr)
        return 1

    single, batch = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        for d in docs:
            tok.encode(d, add_special_tokens=False)
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tok.encode_batch(docs, add_special_tokens=False)
        batch.append(time.perf_counter() - t0)
    s, b = statistics.median(single), statistics.median(batch)
    threads = os.environ.get("RAYON_NUM_THREADS", str(os.cpu_count()))
    print(f"hf encode, 1 thread          {s:8.3f} s {tokens / s:12.0f} tokens/s {nbytes / s / 1e6:8.2f} MB/s")
    print(f"hf encode_batch, {threads:>2} threads  {b:8.3f} s {tokens / b:12.0f} tokens/s {nbytes / b / 1e6:8.2f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
