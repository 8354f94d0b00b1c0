#!/usr/bin/env python3
"""Times `lcde build` end to end at several thread counts (Python stdlib only).

    bench_build.py --lcde "build/lcde" --corpus DIR --model MODEL \
        [--threads 1,2,4,8,16] [--repeats 3] [--tokens 150M] [--strategy none] [--seq 80K]

For every thread count it runs the build --repeats times and reports the
median wall time, output tokens/s, input MB/s (decompressed bytes read),
peak RSS of the build process, and the speedup and parallel efficiency
against one thread. Before timing, it checks that every thread count gives
byte-identical shards (the build's own guarantee) against the 1-thread
build. --lcde may hold a prefix (e.g. a dynamic loader and --library-path)
for machines without the Debian libraries.
"""

import argparse
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def run_build(cmd, config, out, threads):
    args = shlex.split(cmd) + ["build", "-q", "--force", "-c", config, "-o", out, "-j", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build failed at -j{threads}:\n{err}")
    return wall, usage.ru_maxrss * 1024


def digest(out):
    h = hashlib.sha256()
    for name in sorted(os.listdir(out)):
        if name.startswith("part-"):
            with open(os.path.join(out, name), "rb") as f:
                h.update(name.encode())
                h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lcde", default="build/lcde")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", default="150M")
    ap.add_argument("--strategy", default="none")
    ap.add_argument("--seq", default="80K")
    ap.add_argument("--json", help="write the results here too")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lcde-bench-")
    config = os.path.join(work, "bench.yaml")
    with open(config, "w") as f:
        f.write(f"seed: 1\ninput: {{paths: [{os.path.abspath(a.corpus)}]}}\n"
                f"tokenizer: {{model: {os.path.abspath(a.model)}}}\n"
                f"mixture: {{total_tokens: {a.tokens}, strategy: {a.strategy}}}\n"
                f"output: {{dir: {work}/out, sequence_length: {a.seq}}}\n")
    threads = [int(t) for t in a.threads.split(",")]
    reference = None
    rows = []
    for t in threads:
        out = os.path.join(work, f"out-{t}")
        walls, rss = [], []
        for _ in range(a.repeats):
            w, r = run_build(a.lcde, config, out, t)
            walls.append(w)
            rss.append(r)
        d = digest(out)
        if reference is None:
            reference = d
        elif d != reference:
            sys.exit(f"-j{t} wrote different shards than -j{threads[0]}")
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        wall = statistics.median(walls)
        rows.append({"threads": t, "wall_s": wall, "walls": walls, "tokens": m["totals"]["tokens"],
                     "input_bytes": m["reading"]["bytes"], "peak_rss_bytes": max(rss)})
    base = rows[0]["wall_s"] * rows[0]["threads"]
    print(f"| threads | median wall (s) | output Mtok/s | input MB/s | speedup | efficiency | peak RSS (MiB) |")
    print(f"|---|---|---|---|---|---|---|")
    for r in rows:
        speedup = base / r["wall_s"]
        r["speedup"] = speedup
        r["efficiency"] = speedup / r["threads"]
        print(f"| {r['threads']} | {r['wall_s']:.2f} | {r['tokens'] / r['wall_s'] / 1e6:.1f} | "
              f"{r['input_bytes'] / r['wall_s'] / 1e6:.0f} | {speedup:.2f} | {r['efficiency']:.2f} | "
              f"{r['peak_rss_bytes'] / 2**20:.0f} |")
    print(f"\nall thread counts wrote byte-identical shards (sha256 {reference[:16]}...)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
