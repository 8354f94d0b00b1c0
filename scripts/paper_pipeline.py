#!/usr/bin/python3
"""The paper's data pipeline restated, as the baseline lcde is measured against.

    paper_pipeline.py --input DIR --model llama-2.model --out OUT.bin
        [--tokens 5M] [--processes 2] [--seq 81920] [--keep 0.1] [--threshold 4096] [--seed 0]

Fu et al. 2024 (github.com/FranxYao/Long-Context-Data-Engineering) tokenize
SlimPajama with the LLaMA-2 SentencePiece model in a pool of Python worker
processes, then per source keep every document of at least 4096 tokens and
a shorter one with probability 0.1 (random.random()), until the source's
share of the budget (SlimPajama's mixture) is full, and pack the kept
documents into fixed chunks regardless of document boundaries. This script
does the same job as `lcde build` with configs/paper-per-source-5B.yaml:
reads the .jsonl.zst files (sorted), tokenizes in --processes workers
(sentencepiece's Python binding, BOS prepended as the paper's code does),
samples and packs in the main process, writes uint16 chunks to OUT.bin,
and stops reading once every budget is full. It prints one JSON line of
figures. Debian's python3-sentencepiece and python3-numpy; run it with
/usr/bin/python3.
"""

import argparse
import glob
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time

import numpy as np
import sentencepiece as spm

SHARES = {"RedPajamaCommonCrawl": 0.5337477, "RedPajamaC4": 0.2660993, "RedPajamaGithub": 0.0500176,
          "RedPajamaArXiv": 0.0429342, "RedPajamaBook": 0.0415030, "RedPajamaWikipedia": 0.0340213,
          "RedPajamaStackExchange": 0.0316965}
BATCH_LINES = 256

_sp = None


def _init(model):
    global _sp
    _sp = spm.SentencePieceProcessor(model_file=model)


def _tokenize(lines):
    out = []
    for line in lines:
        try:
            d = json.loads(line)
            text, source = d["text"], d["meta"]["redpajama_set_name"]
        except (ValueError, KeyError, TypeError):
            continue
        ids = _sp.encode(text)
        out.append((source, np.asarray([_sp.bos_id()] + ids, dtype=np.uint16)))
    return out, sum(len(x) for x in lines)


def batches(files):
    for path in files:
        proc = subprocess.Popen(["zstd", "-dcq", path], stdout=subprocess.PIPE)
        batch = []
        for line in proc.stdout:
            batch.append(line)
            if len(batch) == BATCH_LINES:
                yield batch
                batch = []
        if batch:
            yield batch
        proc.wait()


def parse_count(text):
    mult = {"K": 1e3, "M": 1e6, "B": 1e9}
    return int(float(text[:-1]) * mult[text[-1]]) if text[-1] in mult else int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens", default="5M")
    ap.add_argument("--processes", type=int, default=os.cpu_count())
    ap.add_argument("--seq", type=int, default=81920)
    ap.add_argument("--keep", type=float, default=0.1)
    ap.add_argument("--threshold", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    total = parse_count(args.tokens) // args.seq * args.seq
    budget = {s: int(total * share) for s, share in SHARES.items()}
    used = dict.fromkeys(SHARES, 0)
    rng = random.Random(args.seed)
    files = sorted(glob.glob(os.path.join(args.input, "**", "*.jsonl.zst"), recursive=True))
    buffer, written, read_bytes, read_tokens, docs, kept = [], 0, 0, 0, 0, 0
    with open(args.out, "wb") as out, mp.Pool(args.processes, initializer=_init, initargs=(args.model,)) as pool:
        for tokenized, nbytes in pool.imap(_tokenize, batches(files), chunksize=1):
            read_bytes += nbytes
            for source, ids in tokenized:
                docs += 1
                read_tokens += len(ids)
                room = budget.get(source, 0) - used.get(source, 0)
                if room <= 0:
                    continue
                if len(ids) < args.threshold and rng.random() >= args.keep:
                    continue
                ids = ids[:room]
                used[source] += len(ids)
                kept += 1
                buffer.append(ids)
            if sum(len(b) for b in buffer) >= args.seq:
                stream = np.concatenate(buffer)
                n = len(stream) // args.seq * args.seq
                stream[:n].tofile(out)
                written += n
                buffer = [stream[n:]]
            if all(used[s] >= budget[s] for s in SHARES):
                pool.terminate()
                break
    print(json.dumps({"seconds": round(time.time() - t0, 3), "tokens_written": written, "documents_read": docs,
                      "documents_kept": kept, "bytes_read": read_bytes, "tokens_read": read_tokens,
                      "processes": args.processes}))


if __name__ == "__main__":
    sys.exit(main())
