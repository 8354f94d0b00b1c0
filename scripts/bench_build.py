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

--ceiling 1,8,16 first measures what the machine itself allows: K
independent single-thread builds at once, build i reading DIR/part<i+1>
(--ceiling-tokens each), against one such build alone. K x (solo wall) /
(wall of the K together) is the speedup K perfectly independent workers
reach here: the ceiling for -jK on shared cores (SMT, caches, memory).
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


def write_config(path, corpus, model, tokens, strategy, seq, out):
    with open(path, "w") as f:
        f.write(f"seed: 1\ninput: {{paths: [{os.path.abspath(corpus)}]}}\n"
                f"tokenizer: {{model: {os.path.abspath(model)}}}\n"
                f"mixture: {{total_tokens: {tokens}, strategy: {strategy}}}\n"
                f"output: {{dir: {out}, sequence_length: {seq}}}\n")


def ceiling(a, work, counts):
    """K single-thread builds on separate inputs at once; returns rows."""
    rows = []
    for k in counts:
        procs = []
        t0 = time.perf_counter()
        for i in range(k):
            config = os.path.join(work, f"ceiling-{i}.yaml")
            out = os.path.join(work, f"ceiling-out-{i}")
            write_config(config, os.path.join(a.corpus, f"part{i + 1}"), a.model, a.ceiling_tokens,
                         a.strategy, a.seq, out)
            args = shlex.split(a.lcde) + ["build", "-q", "--force", "-c", config, "-j", "1"]
            procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for p in procs:
            if p.wait() != 0:
                sys.exit(f"ceiling build failed: {p.stderr.read().decode(errors='replace')}")
        rows.append({"processes": k, "wall_s": time.perf_counter() - t0})
    solo = rows[0]["wall_s"]
    print("| independent 1-thread builds | wall (s) | speedup over one | per-process efficiency |")
    print("|---|---|---|---|")
    for r in rows:
        r["speedup"] = r["processes"] * solo / r["wall_s"]
        print(f"| {r['processes']} | {r['wall_s']:.2f} | {r['speedup']:.2f} | {r['speedup'] / r['processes']:.2f} |")
    print()
    return rows


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
    ap.add_argument("--ceiling", help="e.g. 1,8,16: independent 1-thread builds at once (DIR/partN each)")
    ap.add_argument("--ceiling-tokens", default="20M")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lcde-bench-")
    ceiling_rows = []
    if a.ceiling:
        ceiling_rows = ceiling(a, work, [int(k) for k in a.ceiling.split(",")])
    config = os.path.join(work, "bench.yaml")
    write_config(config, a.corpus, a.model, a.tokens, a.strategy, a.seq, f"{work}/out")
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
    cores = len(os.sched_getaffinity(0))
    for r in rows:
        speedup = base / r["wall_s"]
        r["speedup"] = speedup
        # -j 0 is lcde's default; efficiency is counted against all cores this process may use.
        r["efficiency"] = speedup / (r["threads"] or cores)
        label = r["threads"] or f"default ({cores} cores)"
        print(f"| {label} | {r['wall_s']:.2f} | {r['tokens'] / r['wall_s'] / 1e6:.1f} | "
              f"{r['input_bytes'] / r['wall_s'] / 1e6:.0f} | {speedup:.2f} | {r['efficiency']:.2f} | "
              f"{r['peak_rss_bytes'] / 2**20:.0f} |")
    print(f"\nall thread counts wrote byte-identical shards (sha256 {reference[:16]}...)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"scaling": rows, "ceiling": ceiling_rows}, f, indent=1)


if __name__ == "__main__":
    main()
