#!/usr/bin/env python3
"""Writes reference token ids from Hugging Face `tokenizers` for the C++ tokenizer's tests.

    hf_reference_ids.py --tokenizer FILE.json --name NAME
                        --hostile tests/data/tokenizer_hostile_texts.json
                        --corpus DIR_OF_PLAIN_JSONL --out OUTDIR

Loads FILE.json with tokenizers.Tokenizer.from_file, sets
encode_special_tokens = True (document text is data: special-token strings
inside it are tokenized as ordinary text) and encodes with
add_special_tokens=False. Writes

  OUTDIR/NAME.hostile.jsonl  one line per entry of --hostile, in order:
      {"name": ..., "n": COUNT, "sha": H, "text_sha": T, "ids": [...]}
      ids only when COUNT <= 2000. An entry is {"name", "text"} or
      {"name", "repeat", "count"} (text = repeat * count). T is the first 16
      hex digits of sha256 over the text's UTF-8 bytes (to check that the
      reader rebuilt the same text). One last line,
      "__post_processor_hello_world__", holds the ids of
      encode("Hello world", add_special_tokens=True): what the post-processor
      adds (BOS).
  OUTDIR/NAME.corpus.tsv     "# file\\tline\\tn\\tsha", then one line per document
      of every *.jsonl under --corpus (sorted by relative path): the relative
      path with ".jsonl" replaced by ".jsonl.zst" (the original compressed
      file), the 1-based line number, the token count and H. Documents are
      json.loads(line)["text"]; lines that fail to parse or encode are skipped
      and reported on stderr.

H is the first 16 hex digits of sha256 over the ids as little-endian int32.

Python 3 stdlib plus `tokenizers`.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import time

import tokenizers
from tokenizers import Tokenizer

MAX_INLINE_IDS = 2000


def ids_sha(ids):
    return hashlib.sha256(struct.pack("<%di" % len(ids), *ids)).hexdigest()[:16]


def text_sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hostile_text(entry):
    if "text" in entry:
        return entry["text"]
    return entry["repeat"] * entry["count"]


def record(name, ids, text=None):
    rec = {"name": name, "n": len(ids), "sha": ids_sha(ids)}
    if text is not None:
        rec["text_sha"] = text_sha(text)
    if len(ids) <= MAX_INLINE_IDS:
        rec["ids"] = list(ids)
    return rec


def write_hostile(tok, hostile_path, out_path):
    with open(hostile_path, encoding="utf-8") as f:
        entries = json.load(f)
    t0 = time.time()
    with open(out_path, "w", encoding="utf-8") as out:
        for entry in entries:
            text = hostile_text(entry)
            t = time.time()
            ids = tok.encode(text, add_special_tokens=False).ids
            dt = time.time() - t
            if dt > 1.0:
                print("  hostile %s: %d bytes -> %d ids in %.1f s"
                      % (entry["name"], len(text.encode("utf-8")), len(ids), dt), flush=True)
            out.write(json.dumps(record(entry["name"], ids, text)) + "\n")
        hello = "Hello world"
        ids = tok.encode(hello, add_special_tokens=True).ids
        out.write(json.dumps(record("__post_processor_hello_world__", ids, hello)) + "\n")
    print("hostile: %d entries in %.1f s -> %s" % (len(entries), time.time() - t0, out_path), flush=True)


def corpus_files(corpus_dir):
    found = []
    for root, _, files in os.walk(corpus_dir):
        for fn in files:
            if fn.endswith(".jsonl"):
                full = os.path.join(root, fn)
                found.append(os.path.relpath(full, corpus_dir).replace(os.sep, "/"))
    return sorted(found)


def write_corpus(tok, corpus_dir, out_path):
    t0 = time.time()
    docs = tokens = skipped = 0
    nbytes = 0
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("# file\tline\tn\tsha\n")
        for rel in corpus_files(corpus_dir):
            label = rel + ".zst"
            items = []  # (line number, text)
            with open(os.path.join(corpus_dir, rel), "rb") as f:
                for lineno, raw in enumerate(f, 1):
                    try:
                        text = json.loads(raw.decode("utf-8"))["text"]
                        if not isinstance(text, str):
                            raise TypeError("text is not a string")
                        text.encode("utf-8")  # lone surrogates fail here
                    except Exception as e:  # noqa: BLE001
                        skipped += 1
                        print("  skip %s:%d: parse: %r" % (label, lineno, e), file=sys.stderr)
                        continue
                    items.append((lineno, text))
            texts = [t for _, t in items]
            try:
                encs = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
            except Exception:  # noqa: BLE001 - find the culprits one by one
                encs = []
                for (lineno, text) in items:
                    try:
                        encs.append(tok.encode(text, add_special_tokens=False).ids)
                    except Exception as e:  # noqa: BLE001
                        encs.append(None)
                        print("  skip %s:%d: encode: %r" % (label, lineno, e), file=sys.stderr)
            for (lineno, text), ids in zip(items, encs):
                if ids is None:
                    skipped += 1
                    continue
                out.write("%s\t%d\t%d\t%s\n" % (label, lineno, len(ids), ids_sha(ids)))
                docs += 1
                tokens += len(ids)
                nbytes += len(text.encode("utf-8"))
    dt = time.time() - t0
    print("corpus: %d documents, %d tokens, %d bytes, %d skipped in %.1f s -> %s"
          % (docs, tokens, nbytes, skipped, dt, out_path), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json")
    ap.add_argument("--name", required=True, help="output file prefix, e.g. llama-3.1")
    ap.add_argument("--hostile", required=True, help="tests/data/tokenizer_hostile_texts.json")
    ap.add_argument("--corpus", required=True, help="folder of plain .jsonl files")
    ap.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    print("tokenizers %s, python %s" % (tokenizers.__version__, sys.version.split()[0]))
    print("tokenizer %s sha256 %s" % (args.tokenizer, file_sha256(args.tokenizer)))
    tok = Tokenizer.from_file(args.tokenizer)
    tok.encode_special_tokens = True
    print("loaded in %.1f s" % (time.time() - t0), flush=True)

    write_hostile(tok, args.hostile, os.path.join(args.out, args.name + ".hostile.jsonl"))
    write_corpus(tok, args.corpus, os.path.join(args.out, args.name + ".corpus.tsv"))
    print("%s: total %.1f s" % (args.name, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
