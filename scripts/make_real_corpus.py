#!/usr/bin/env python3
"""Writes a benchmark corpus of real text in SlimPajama's layout.

    make_real_corpus.py --out DIR [--tokens N] [--files K] [--seed S]

Same layout, sources, token shares and per-source length distributions as
make_sample_corpus.py (whose plan it reuses), but the text is real: what
Debian packages install on this machine, stitched into documents of the
planned lengths.

  man      man pages in every installed language (roff, macros stripped)
  doc      /usr/share/doc: READMEs, NEWS, changelogs, text and Markdown
  c        C headers under /usr/include
  py       the Python standard library (/usr/lib/python3*)
  perl     Perl modules and POD (/usr/share/perl*)

Each source draws from its own mix of these (CommonCrawl: docs and man
pages; Github: C, Python, Perl; Wikipedia: mostly man pages in other
languages; ...). A document takes the next text of its pool, crossing file
boundaries; a pool that runs out starts over (the summary says when: then
the corpus repeats text and flatters any cache). Output is deterministic for
given arguments on a given set of installed packages.

A machine without these packages (the device) can take pools from elsewhere:
`--write-pack PACK.jsonl.zst --pack-pools man,doc` stores those pools' texts
(one JSON line per file, roff already stripped); `--pack PACK.jsonl.zst` adds a
pack's texts to its pools, and `--glob KIND=PATTERN` (repeatable) adds files.

Python 3 stdlib only, plus the `zstd` command-line tool.
"""

import argparse
import glob
import gzip
import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("sample", os.path.join(HERE, "make_sample_corpus.py"))
sample = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sample)

CHARS_PER_TOKEN = 3.6  # LLaMA-2 on this kind of text

POOLS = {
    "man": ["/usr/share/man/**/*.gz"],
    "doc": ["/usr/share/doc/**/README*", "/usr/share/doc/**/NEWS*", "/usr/share/doc/**/changelog*",
            "/usr/share/doc/**/*.txt", "/usr/share/doc/**/*.md", "/usr/share/doc/**/*.rst"],
    "c": ["/usr/include/**/*.h"],
    "py": ["/usr/lib/python3*/**/*.py"],
    "perl": ["/usr/share/perl*/**/*.pm", "/usr/share/perl*/**/*.pod"],
}

MIX = {
    "RedPajamaCommonCrawl": {"doc": 0.5, "man": 0.5},
    "RedPajamaC4": {"doc": 0.6, "man": 0.4},
    "RedPajamaGithub": {"c": 0.5, "py": 0.4, "perl": 0.1},
    "RedPajamaArXiv": {"man": 0.3, "doc": 0.3, "py": 0.2, "perl": 0.2},
    "RedPajamaBook": {"doc": 0.5, "man": 0.5},
    "RedPajamaWikipedia": {"man": 0.7, "doc": 0.3},
    "RedPajamaStackExchange": {"doc": 0.5, "py": 0.25, "c": 0.25},
}

ROFF_ESCAPES = re.compile(r"\\f[BIRP1-4]|\\f\(..|\\\*\(..|\\\*.|\\\(..|\\s[+-]?\d|\\[&|^%c]")


def strip_roff(text):
    out = []
    for line in text.split("\n"):
        if line.startswith((".\\\"", "'\\\"")):
            continue  # comment
        if line.startswith((".", "'")):
            # A macro: keep the words of headings and font macros, drop the rest.
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[0] in (".SH", ".SS", ".B", ".I", ".BR", ".IR", ".BI", ".IP", ".TP", ".Nm",
                                                ".Nd", ".Sh", ".Ar", ".Fl", ".It"):
                out.append(parts[1].replace('"', ""))
            continue
        out.append(line)
    text = "\n".join(out)
    text = ROFF_ESCAPES.sub("", text).replace("\\-", "-").replace("\\e", "\\")
    return text


def read_text(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError):
        return ""
    if b"\0" in raw[:4096]:
        return ""  # binary
    text = raw.decode("utf-8", errors="replace")
    if "/man/" in path:
        text = strip_roff(text)
    return text


def pool_files(patterns):
    files = set()
    for p in patterns:
        files.update(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
    return sorted(files)


def read_pack(path):
    """{pool: [text, ...]} from a pack written by --write-pack."""
    texts = {}
    with subprocess.Popen([shutil.which("zstd") or "/usr/bin/zstd", "-dcq", "--long=31", path], stdout=subprocess.PIPE) as proc:
        for line in proc.stdout:
            item = json.loads(line)
            texts.setdefault(item["pool"], []).append(item["text"])
    if proc.returncode:
        sys.exit("reading %s failed" % path)
    return texts


def write_pack(path, kinds, zstd_level):
    with subprocess.Popen([shutil.which("zstd") or "/usr/bin/zstd", "-q", "-f", "--long=30", "-T0",
                           "-%d" % zstd_level, "-o", path], stdin=subprocess.PIPE) as proc:
        for kind in kinds:
            for f in pool_files(POOLS[kind]):
                text = read_text(f)
                if text:
                    proc.stdin.write(json.dumps({"pool": kind, "text": text}, ensure_ascii=False).encode("utf-8"))
                    proc.stdin.write(b"\n")
    if proc.returncode:
        sys.exit("writing %s failed" % path)


class Pool:
    """The text of one kind of file, in a seeded order, read on demand.
    Items are file paths, or texts taken from a pack."""

    def __init__(self, name, items, rng):
        self.name = name
        self.files = list(items)
        rng.shuffle(self.files)
        self.rng = rng
        self.index = 0
        self.buffer = ""
        self.offset = 0  # into buffer: slicing a long text per document would copy it each time
        self.passes = 0
        self.chars_read = 0

    def take(self, n):
        parts, need = [], n
        while need > 0:
            if self.offset == len(self.buffer):
                if not self.files:
                    raise SystemExit("no files for pool %s" % self.name)
                if self.index == len(self.files):
                    self.index = 0
                    self.passes += 1
                    self.rng.shuffle(self.files)
                item = self.files[self.index]
                self.buffer = read_text(item[1]) if item[0] == "path" else item[1]
                self.offset = 0
                self.chars_read += len(self.buffer)
                self.index += 1
                continue
            piece = self.buffer[self.offset:self.offset + need]
            self.offset += len(piece)
            parts.append(piece)
            need -= len(piece)
        return "\n\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--out", help="output directory (chunk1/, chunk2/ are created); required unless --write-pack")
    ap.add_argument("--tokens", default="30M", help="approx total tokens (suffixes K M B)")
    ap.add_argument("--files", type=int, default=8, help="output files, spread over chunk1/ and chunk2/")
    ap.add_argument("--seed", type=int, default=1, help="drives lengths, order and which text goes where")
    ap.add_argument("--zstd-level", type=int, default=3, help="zstd compression level")
    ap.add_argument("--glob", action="append", default=[], metavar="KIND=PATTERN",
                    help="also take files matching PATTERN into pool KIND")
    ap.add_argument("--pack", action="append", default=[], help="also take the texts of a pack (--write-pack)")
    ap.add_argument("--write-pack", metavar="PACK", help="write the texts of --pack-pools to PACK and stop")
    ap.add_argument("--pack-pools", default="man,doc", help="pools --write-pack stores")
    args = ap.parse_args()
    if args.write_pack:
        write_pack(args.write_pack, args.pack_pools.split(","), 19)
        return
    if not args.out:
        ap.error("--out is required (unless --write-pack)")
    total = sample.parse_count(args.tokens)
    if total <= 0 or args.files <= 0:
        ap.error("--tokens and --files must be positive")
    zstd = shutil.which("zstd") or "/usr/bin/zstd"
    t0 = time.time()
    rng = random.Random(args.seed)
    items = {name: [("path", f) for f in pool_files(patterns)] for name, patterns in POOLS.items()}
    for g in args.glob:
        kind, _, pattern = g.partition("=")
        if kind not in POOLS:
            ap.error("--glob: no pool %r (pools: %s)" % (kind, ", ".join(sorted(POOLS))))
        known = {f for _, f in items[kind]}
        items[kind] += [("path", f) for f in pool_files([pattern]) if f not in known]
    for pack in args.pack:
        for kind, texts in read_pack(pack).items():
            items[kind] += [("text", t) for t in texts]
    pools = {name: Pool(name, items[name], random.Random(args.seed * 1000 + i))
             for i, name in enumerate(sorted(POOLS))}
    docs = sample.plan_documents(rng, total)

    n_chunks = 2 if args.files > 1 else 1
    per_chunk = (args.files + n_chunks - 1) // n_chunks
    paths = []
    for i in range(args.files):
        c = i // per_chunk + 1
        paths.append(os.path.join(args.out, "chunk%d" % c, "example_train_%d.jsonl.zst" % (i - (c - 1) * per_chunk)))
    for p in paths:
        os.makedirs(os.path.dirname(p), exist_ok=True)
    procs = [subprocess.Popen([zstd, "-q", "-f", "-%d" % args.zstd_level, "-o", p], stdin=subprocess.PIPE)
             for p in paths]
    stats = {name: [0, 0] for name in sample.SOURCES}
    for name, tokens in docs:
        mix = MIX[name]
        kind = rng.choices(sorted(mix), weights=[mix[k] for k in sorted(mix)])[0]
        text = pools[kind].take(max(1, int(tokens * CHARS_PER_TOKEN)))
        line = json.dumps({"text": text, "meta": {"redpajama_set_name": name}}, ensure_ascii=False)
        f = rng.randrange(args.files)
        procs[f].stdin.write(line.encode("utf-8"))
        procs[f].stdin.write(b"\n")
        stats[name][0] += 1
        stats[name][1] += len(text)
    bad = 0
    for p in procs:
        p.stdin.close()
        bad |= p.wait()
    if bad:
        sys.exit("zstd failed")
    w = sys.stderr.write
    w("%-24s %8s %14s\n" % ("source", "docs", "characters"))
    for name, (nd, nc) in stats.items():
        w("%-24s %8d %14d\n" % (name, nd, nc))
    w("%-24s %8d %14d   (%d files, %.1fs)\n" % ("total", sum(s[0] for s in stats.values()),
                                               sum(s[1] for s in stats.values()), args.files, time.time() - t0))
    for name, pool in sorted(pools.items()):
        w("pool %-5s %7d files, %12d characters read%s\n" % (
            name, len(pool.files), pool.chars_read,
            ", started over %d times: text repeats" % pool.passes if pool.passes else ""))


if __name__ == "__main__":
    main()
