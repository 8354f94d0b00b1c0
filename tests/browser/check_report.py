#!/usr/bin/env python3
"""Checks one `lcde report` page as chromium rendered it (tests/browser/run.sh).

usage: check_report.py PAGE.html DOM.html CHROMIUM.log SCREENSHOT.png STATS.json...
STATS.json: `lcde stats --json` of each dataset, in the report's arm order.
Prints each failed check; exits 1 when any failed.
"""
import json
import re
import sys
from html.parser import HTMLParser

LENGTH_BUCKETS = ["0-4K", "4K-8K", "8K-16K", "16K-32K", "32K-64K", "64K-128K", "128K+"]
DOCS_BUCKETS = ["1", "2-3", "4-7", "8-15", "16-31", "32-63", "64-127", "128-255", "256-511", "512+"]
WINDOWS = 10

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


class Charts(HTMLParser):
    """Every <svg data-chart> with its marks; scripts by type."""

    def __init__(self):
        super().__init__()
        self.charts = []  # dicts: attrs, bars, lines, points, rows, pieces
        self.scripts = []
        self.row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "script":
            self.scripts.append(a.get("type", ""))
        elif tag == "svg" and "data-chart" in a:
            self.charts.append({"attrs": a, "bars": [], "lines": [], "rows": []})
        elif self.charts and tag == "rect" and cls == "bar":
            self.charts[-1]["bars"].append(a)
        elif self.charts and tag == "polyline" and cls == "line":
            self.charts[-1]["lines"].append(a)
        elif self.charts and tag == "g" and cls == "row":
            self.charts[-1]["rows"].append([])
        elif self.charts and tag == "rect" and cls == "piece":
            self.charts[-1]["rows"][-1].append(a)


def charts_of(parsed, chart_id):
    return [c for c in parsed.charts if c["attrs"]["data-chart"] == chart_id]


def bar_values(chart):
    return {(b["data-series"], b["data-category"]): float(b["data-value"]) for b in chart["bars"]}


def reported_sources(stats_list):
    names = []
    for stats in stats_list:
        for name, s in stats["sources"].items():
            if (s["tokens"] > 0 or s["target_share"] > 0) and name not in names:
                names.append(name)
    return names


def check_page_source(page):
    # Nothing fetched, nothing run: the only script block is JSON data.
    check(re.search(r"<script(?![^>]*application/json)", page) is None, "a <script> that is not JSON data")
    check(re.search(r"\bsrc\s*=", page) is None, "a src= attribute (something fetched)")
    check(re.search(r"url\s*\(|@import", page) is None, "a CSS url( or @import")
    check(re.search(r"<link\b", page) is None, "a <link> element")
    for href in re.findall(r'href="([^"]*)"', page):
        check(href.startswith("#"), f"a link out of the page: {href}")


def check_charts(parsed, arms, stats_list, scan_series):
    n = len(arms)
    sources = reported_sources(stats_list)

    share = charts_of(parsed, "share")
    check(len(share) == 1, f"share charts: {len(share)}, want 1")
    if share:
        c = share[0]
        check(c["attrs"]["data-series"] == str(n), f"share chart series {c['attrs']['data-series']}, want {n}")
        check(len(c["bars"]) == n * len(sources), f"share bars {len(c['bars'])}, want {n * len(sources)}")
        values = bar_values(c)
        for arm, stats in zip(arms, stats_list):
            for s in sources:
                want = stats["sources"].get(s, {}).get("share", 0)
                check(values.get((arm, s)) == want, f"share {arm}/{s}: {values.get((arm, s))} != stats {want}")

    length = charts_of(parsed, "length")
    if length:
        c = length[0]
        want_series = n + scan_series
        check(c["attrs"]["data-series"] == str(want_series), f"length chart series {c['attrs']['data-series']}, "
              f"want {want_series}")
        check(len(c["bars"]) == want_series * len(LENGTH_BUCKETS), f"length bars {len(c['bars'])}")
        values = bar_values(c)
        for arm, stats in zip(arms, stats_list):
            for b in LENGTH_BUCKETS:
                check(values.get((arm, b)) == stats["length_buckets"][b], f"length {arm}/{b}")
    per_source_charts = charts_of(parsed, "length-source")
    check(len(per_source_charts) == len(sources), f"per-source length charts {len(per_source_charts)}, "
          f"want {len(sources)}")
    for c, s in zip(per_source_charts, sources):
        values = bar_values(c)
        for arm, stats in zip(arms, stats_list):
            for b in LENGTH_BUCKETS:
                want = stats["sources"].get(s, {}).get("length_buckets", {}).get(b, 0)
                check(values.get((arm, b)) == want, f"length {s} {arm}/{b}: {values.get((arm, b))} != {want}")

    docs = charts_of(parsed, "docs-per-chunk")
    check(len(docs) == 1, "no docs-per-chunk chart")
    if docs:
        check(len(docs[0]["bars"]) == n * len(DOCS_BUCKETS), f"docs-per-chunk bars {len(docs[0]['bars'])}")
        values = bar_values(docs[0])
        for arm, stats in zip(arms, stats_list):
            for b in DOCS_BUCKETS:
                check(values.get((arm, b)) == stats["docs_per_chunk_histogram"][b], f"docs-per-chunk {arm}/{b}")

    kept = charts_of(parsed, "kept-documents")
    check(len(kept) == 1 and len(kept[0]["bars"]) == n * len(sources), "kept-documents chart or its bars")

    strips = charts_of(parsed, "first-chunks")
    check(len(strips) == n, f"first-chunks strips {len(strips)}, want {n}")
    for strip, arm, stats in zip(strips, arms, stats_list):
        want = [[[p[0], float(p[1])] for p in chunk] for chunk in stats["first_chunks"]]
        got = [[[p["data-category"], float(p["data-value"])] for p in row] for row in strip["rows"]]
        check(got == want, f"first-chunks of {arm} differ from stats first_chunks")

    along = charts_of(parsed, "along-dataset")
    check(len(along) == n, f"along-dataset charts {len(along)}, want {n}")
    for chart, arm, stats in zip(along, arms, stats_list):
        check(len(chart["lines"]) == len(sources), f"along-dataset {arm}: {len(chart['lines'])} lines, "
              f"want {len(sources)}")
        for line in chart["lines"]:
            s = line["data-series"]
            got = [float(v) for v in line["data-values"].split()]
            want = stats["sources"].get(s, {}).get("along_dataset", {}).get("window_shares", [0] * WINDOWS)
            check(got == want, f"along-dataset {arm}/{s}: {got} != {want}")


def main():
    page_path, dom_path, log_path, png_path, *stats_paths = sys.argv[1:]
    page = open(page_path, encoding="utf-8").read()
    dom = open(dom_path, encoding="utf-8").read()
    log = open(log_path, encoding="utf-8", errors="replace").read()
    stats_list = [json.load(open(p)) for p in stats_paths]

    console = [l for l in log.splitlines() if "CONSOLE" in l]
    check(not console, "console messages: " + " | ".join(console[:5]))
    check_page_source(page)

    png = open(png_path, "rb").read()
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000, f"screenshot {png_path} missing or blank")

    parsed = Charts()
    parsed.feed(dom)
    check(len(parsed.charts) > 0, "no charts in the rendered DOM")
    check(set(parsed.scripts) <= {"application/json"}, f"scripts in the DOM: {parsed.scripts}")
    data = json.loads(re.search(r'<script type="application/json" id="lcde-report-data">(.*?)</script>', page,
                                re.S).group(1))
    arms = [a["name"] for a in data["arms"]]
    check(len(arms) == len(stats_list), f"{len(arms)} arms in the page, {len(stats_list)} datasets")
    for arm, stats in zip(data["arms"], stats_list):
        check(arm["stats"] == stats, f"embedded stats of {arm['name']} differ from lcde stats --json")
    scans = [json.dumps(a["scan"], sort_keys=True) for a in data["arms"] if a["scan"] is not None]
    scan_series = len(set(scans)) if len(set(scans)) <= 1 else len(scans)
    check_charts(parsed, arms, stats_list, scan_series)

    charts = len(parsed.charts)
    if failures:
        for f in failures:
            print("FAILED:", f)
        sys.exit(1)
    print(f"ok: {len(arms)} arm(s), {charts} charts, values equal to lcde stats --json, no console messages")


if __name__ == "__main__":
    main()
