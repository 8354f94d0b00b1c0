#!/usr/bin/env python3
"""Writes a small synthetic corpus in SlimPajama's layout for demos and tests.

    make_sample_corpus.py --out DIR [--tokens N] [--files K] [--seed S] [--vocab-seed V]

Layout: DIR/chunk1/example_train_0.jsonl.zst, ... (files spread over chunk1 and
chunk2), each line exactly

    {"text": "...", "meta": {"redpajama_set_name": "RedPajamaC4"}}

Lines of the seven sources are interleaved at random across files. Per-source
token shares follow SlimPajama; per-source document lengths (in tokens) are
lognormal around the medians measured by the code of Fu et al. 2024, capped at
400k tokens. Text length assumes ~4 characters per token. Most lines are
written as raw UTF-8, some with \\uXXXX escapes (surrogate pairs included).

The text is pseudo-English: a Zipf-distributed vocabulary of real function
words plus syllable-generated words. The word list depends only on
--vocab-seed (default 0, the same "language" for every --seed), so a tokenizer
trained on one seed's corpus fits another seed's; --seed drives everything
else. Output is deterministic for given arguments.

Python 3 stdlib only, plus the `zstd` command-line tool.
"""

import argparse
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

CHARS_PER_TOKEN = 4.0
MAX_DOC_TOKENS = 400_000
MIN_DOC_TOKENS = 16
LONG_THRESHOLD = 4096  # only for the summary

# name: (token share in SlimPajama, median document tokens, lognormal sigma)
# Medians are those measured by the paper's code. CommonCrawl's sigma puts
# ~31% of its tokens in documents of >= 4096 tokens (analytically
# 1 - Phi((ln(4096/1066) - s^2) / s): s=0.95 -> 32%, s=1.0 -> 36%).
SOURCES = {
    "RedPajamaCommonCrawl": (0.534, 1066, 0.95),
    "RedPajamaC4": (0.266, 315, 1.0),
    "RedPajamaGithub": (0.050, 520, 1.3),
    "RedPajamaArXiv": (0.043, 14565, 0.9),
    "RedPajamaBook": (0.041, 121602, 0.8),
    "RedPajamaWikipedia": (0.034, 409, 1.1),
    "RedPajamaStackExchange": (0.032, 507, 1.1),
}

ENSURE_ASCII_FRACTION = 0.15

FUNCTION_WORDS = (
    "the of and to a in is that for it as was with be by on not he I this are or his "
    "from at which but have an they you were her she there would their we him been has "
    "when who will more no if out so said what up its about into than them can only other "
    "new some could time these two may then do first any my now such like our over man me "
    "even most made after also did many before must through back years where much your way "
    "well down should because each just those people how too little state good very make "
    "world still own see men work long get here between both life being under never day "
    "same another know while last might us great old year off come since against go came "
    "right used take three however without during within system data number part small "
    "large high place end found both around often few until point case group"
).split()

# Low-frequency tokens every source sees: non-ASCII in several scripts, emoji
# (astral plane, so \\u escapes need surrogate pairs), quotes and backslashes
# that JSON must escape, tabs and runs of spaces.
SPRINKLES = [
    "café", "naïve", "über", "Straße", "Müller", "São Paulo", "résumé", "façade",
    "Ørsted", "Łódź", "niño", "αβγ", "λόγος", "Ελλάδα", "Привет", "мир", "中文",
    "数据", "東京", "한국어", "日本語", "😀", "🚀", "👍🏽", "🎉", "𝔘𝔫𝔦", "—", "…", "→",
    "©", "€5", "±3", "“curly”", "‘single’", '"quoted"', '"as is"', "it's",
    "don't", "C:\\Users\\data", "a\\b", "\\n", "\t", "   ", "  ", "(see above)",
    "[1]", "e.g.", "i.e.", "&", "<b>", "50%", "#1",
]
SPRINKLE_MASS = 0.012  # fraction of word slots

SYLL_ONSETS = ("", "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s",
               "t", "v", "w", "y", "z", "br", "cr", "dr", "fr", "gr", "pr", "tr", "bl", "cl",
               "fl", "gl", "pl", "sl", "st", "sp", "sk", "sm", "sn", "sw", "th", "sh", "ch",
               "wh", "qu", "str", "spr", "sc", "ph")
SYLL_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ea", "ee", "ai", "ou", "oo",
               "ie", "y", "io", "au", "oa")
SYLL_CODAS = ("", "", "", "", "n", "r", "s", "t", "l", "m", "d", "ng", "nt", "st", "rd",
              "ck", "ll", "ss", "th", "sh", "rn", "ct", "mp", "nd", "x", "ft")
SUFFIXES = ("", "", "", "", "", "", "s", "ing", "ed", "tion", "ly", "er", "ment", "ness",
            "able", "al", "ic", "ous", "ity")

MONTHS = ("January February March April May June July August September October "
          "November December").split()

VOCAB_SIZE = 12000
ZIPF_EXPONENT = 1.0


def parse_count(text):
    t = text.strip().upper()
    mult = 1
    if t and t[-1] in "KMBT":
        mult = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[t[-1]]
        t = t[:-1]
    return int(float(t) * mult)


# --------------------------------------------------------------------------
# The language: a fixed word list with Zipf weights.
# --------------------------------------------------------------------------

class Language:
    def __init__(self, vocab_seed):
        r = random.Random(0x1CDE0000 + vocab_seed)
        func = list(dict.fromkeys(FUNCTION_WORDS))
        taken = set(func)
        pseudo = []
        while len(pseudo) < VOCAB_SIZE - len(func):
            n = r.choices((1, 2, 3, 4), weights=(0.28, 0.42, 0.22, 0.08))[0]
            w = "".join(r.choice(SYLL_ONSETS) + r.choice(SYLL_VOWELS) + r.choice(SYLL_CODAS)
                        for _ in range(n)) + r.choice(SUFFIXES)
            if len(w) < 2 or len(w) > 18 or w in taken:
                continue
            taken.add(w)
            pseudo.append(w)
        # Shorter words tend to be more frequent.
        pseudo.sort(key=lambda w: len(w) + r.random() * 6.0)
        # Function words lead, a few pseudo words mixed among them.
        head = func[:40]
        rest = func[40:] + pseudo[:200]
        r.shuffle(rest)
        self.words = head + rest + pseudo[200:]
        self.weights = [1.0 / (i + 2.7) ** ZIPF_EXPONENT for i in range(len(self.words))]
        # Numbers, years, dates for sources that use them.
        self.years = [str(y) for y in range(1500, 2025)]
        self.dates = [f"{d} {m} {y}" for d, m, y in
                      ((r.randint(1, 28), r.choice(MONTHS), r.randint(1700, 2023))
                       for _ in range(400))]
        self.numbers = ([str(r.randint(0, 99)) for _ in range(200)] +
                        [f"{r.randint(100, 999999):,}" for _ in range(200)] +
                        [f"{r.uniform(0, 100):.{r.randint(1, 3)}f}" for _ in range(200)])

    def table(self, extras, extra_mass):
        """Population and cumulative weights: the base vocabulary plus `extras`
        (uniform among themselves) taking `extra_mass` of the draws, plus the
        shared sprinkles."""
        base_total = sum(self.weights)
        pop = list(self.words)
        w = list(self.weights)
        groups = [(SPRINKLES, SPRINKLE_MASS)] + [(e, m) for e, m in zip(extras, extra_mass)]
        free = 1.0 - sum(m for _, m in groups)
        w = [x * free / base_total for x in w]
        for items, mass in groups:
            pop.extend(items)
            w.extend([mass / len(items)] * len(items))
        return pop, list(itertools.accumulate(w))


# --------------------------------------------------------------------------
# Text generators. Each returns a string of about n_chars characters.
# --------------------------------------------------------------------------

SENT_LENS = list(range(3, 36))
SENT_LEN_CW = list(itertools.accumulate(
    math.exp(-((n - 15) ** 2) / (2 * 7.0 ** 2)) for n in SENT_LENS))
PUNCT = [". ", ". ", ". ", ". ", ". ", ". ", "? ", "! ", "; ", ": ", "... ", ".\t", ".  "]
MID_PUNCT = [",", ",", ",", "", ";", " -", ":"]


class Gen:
    def __init__(self, rng, lang):
        self.rng = rng
        self.lang = lang
        L = lang
        url_words = L.words[40:400]
        self.urls = ["https://www.%s.%s/%s" % (rng.choice(url_words), rng.choice(("com", "org", "net", "de", "io")),
                                               rng.choice(url_words)) for _ in range(200)]
        self.tables = {
            "plain": L.table([], []),
            "cc": L.table([self.urls, ["|", "»", "Home", "Login", "Share", "Click here", "©", "Read more"],
                           L.numbers, L.years], [0.004, 0.01, 0.01, 0.006]),
            "wiki": L.table([L.years, L.dates, L.numbers, ["km", "%", "(born", "ca.", "pp."]],
                            [0.015, 0.01, 0.015, 0.005]),
            "se": L.table([["`%s()`" % w for w in L.words[100:300]] + ["`x`", "`--force`", "`NULL`"],
                           L.numbers, ["e.g.", "I think", "Thanks!", "EDIT:"]], [0.015, 0.01, 0.004]),
            "arxiv": L.table([["$x^2$", "$\\alpha$", "$\\beta_i$", "$O(n \\log n)$", "$\\mathbb{R}^d$",
                               "$f(x)$", "$\\lambda$", "$n$", "$k=1$", "$\\epsilon > 0$", "$\\{a, b\\}$"],
                              ["\\cite{%s%d}" % (w, y) for w in L.words[50:150] for y in (19, 21)],
                              ["\\ref{eq:%d}" % i for i in range(1, 20)] + ["Eq.~\\eqref{eq:main}", "Fig.~\\ref{fig:1}"],
                              L.numbers],
                             [0.03, 0.006, 0.005, 0.01]),
            "book": L.table([["“", "”", "‘", "’", "\u2014"]], [0.01]),
        }
        self.sent_cw = SENT_LEN_CW

    def sentences(self, n_chars, table, para_p=0.2, avg=5.6):
        """Prose: sentences with capitals and punctuation, paragraphs by \\n\\n."""
        rng = self.rng
        pop, cw = table
        n_words = int(n_chars / avg) + 6
        words = rng.choices(pop, cum_weights=cw, k=n_words)
        lens = rng.choices(SENT_LENS, cum_weights=self.sent_cw, k=n_words // 3 + 2)
        puncts = rng.choices(PUNCT, k=len(lens))
        rnd = rng.random
        out = []
        i = 0
        for L, p in zip(lens, puncts):
            if i >= n_words:
                break
            chunk = words[i:i + L]
            i += L
            if len(chunk) > 8 and rnd() < 0.5:  # a comma or similar mid-sentence
                k = len(chunk) // 2
                chunk[k] = chunk[k] + rng.choice(MID_PUNCT)
            s = " ".join(chunk)
            out.append(s[:1].upper() + s[1:])
            out.append("\n\n" if rnd() < para_p else p)
        text = "".join(out)
        if len(text) > n_chars:
            text = text[:n_chars]
        return text.rstrip() + "."

    def words(self, n, table=None):
        pop, cw = table or self.tables["plain"]
        return self.rng.choices(pop, cum_weights=cw, k=n)

    def title(self, lo=2, hi=7):
        ws = self.words(self.rng.randint(lo, hi))
        return " ".join(w[:1].upper() + w[1:] for w in ws).replace("\n", " ")

    def ident(self):
        rng = self.rng
        ws = rng.choices(self.lang.words[40:3000], k=rng.randint(1, 3))
        style = rng.random()
        if style < 0.4:
            s = "_".join(ws)
        elif style < 0.8:
            s = ws[0] + "".join(w.capitalize() for w in ws[1:])
        else:
            s = ws[0][:4] + str(rng.randint(0, 99))
        return s

    # ---- per-source documents ----

    def doc_commoncrawl(self, n):
        rng = self.rng
        parts = []
        if rng.random() < 0.4:
            parts.append(" | ".join(self.title(1, 2) for _ in range(rng.randint(3, 7))) + "\n\n")
        parts.append(self.sentences(n, self.tables["cc"], para_p=0.25))
        if rng.random() < 0.3:
            parts.append("\n\n© %d %s. All rights reserved." % (rng.randint(2005, 2023), self.title(1, 3)))
        return "".join(parts)

    def doc_c4(self, n):
        return self.sentences(n, self.tables["plain"], para_p=0.2)

    def doc_wikipedia(self, n):
        rng = self.rng
        out = [self.title(1, 4), "\n\n"]
        body = self.sentences(n, self.tables["wiki"], para_p=0.25)
        paras = body.split("\n\n")
        for j, p in enumerate(paras):
            if j and rng.random() < 0.3:
                out.append("== %s ==\n\n" % self.title(1, 3))
            out.append(p)
            out.append("\n\n")
        return "".join(out).rstrip()

    def doc_stackexchange(self, n):
        rng = self.rng
        t = self.tables["se"]
        q = max(40, int(n * rng.uniform(0.25, 0.5)))
        out = ["Q: ", self.title(4, 12).rstrip(".") + "?", "\n\n", self.sentences(q, t, para_p=0.3)]
        if rng.random() < 0.4:
            out.append("\n\n    %s = %s(%d)\n    print(%s)" % (self.ident(), self.ident(), rng.randint(0, 99), self.ident()))
        rem = n - q
        n_ans = rng.randint(1, 3)
        for _ in range(n_ans):
            out.append("\n\nA: ")
            out.append(self.sentences(max(30, rem // n_ans), t, para_p=0.25))
        return "".join(out)

    def doc_arxiv(self, n):
        rng = self.rng
        t = self.tables["arxiv"]
        out = ["\\section{Introduction}\n\n"]
        done = 0
        sec = 1
        while done < n:
            part = min(n - done, rng.randint(3000, 20000))
            out.append(self.sentences(part, t, para_p=0.15))
            done += part
            r = rng.random()
            if r < 0.3:
                out.append("\n\n\\begin{equation}\n  %s(x) = \\sum_{i=1}^{%d} %s_i^2 + \\frac{1}{%d}\n"
                           "  \\label{eq:%d}\n\\end{equation}\n\n"
                           % (self.ident(), rng.randint(2, 64), rng.choice("xyzw"), rng.randint(2, 9), sec))
            elif r < 0.6:
                sec += 1
                out.append("\n\n\\section{%s}\n\n" % self.title(1, 4))
            else:
                out.append("\n\n\\subsection{%s}\n\n" % self.title(1, 4))
        return "".join(out).rstrip()

    def doc_book(self, n):
        rng = self.rng
        out = [self.title(2, 6).upper(), "\n\n"]
        done = 0
        ch = 1
        while done < n:
            out.append("Chapter %d\n\n" % ch if rng.random() < 0.7 else "CHAPTER %s\n\n" % roman(ch))
            part = min(n - done, rng.randint(15000, 60000))
            out.append(self.sentences(part, self.tables["book"], para_p=0.15))
            out.append("\n\n")
            done += part
            ch += 1
        return "".join(out).rstrip()

    def doc_github(self, n):
        rng = self.rng
        ri = rng.randint
        pyish = rng.random() < 0.45
        indent_unit = "\t" if rng.random() < 0.3 else " " * rng.choice((2, 4, 4, 8))
        out = []
        size = 0
        if rng.random() < 0.5:
            hdr = ("# " if pyish else "// ") + "Copyright %d %s. %s" % (ri(1995, 2023), self.title(1, 3), self.title(3, 9))
            out.append(hdr)
            size += len(hdr)
        depth = 0
        while size < n:
            ind = indent_unit * depth
            r = rng.random()
            if depth >= 4 and r < 0.18:
                r = 0.5  # no deeper nesting: a plain statement
            a, b = self.ident(), self.ident()
            if pyish:
                if r < 0.08 or depth == 0:
                    line = "%sdef %s(%s, %s=%d):" % (ind, a, b, self.ident(), ri(0, 999))
                    depth += 1
                elif r < 0.18:
                    line = "%sif %s > %d:" % (ind, a, ri(0, 4096))
                    depth += 1
                elif r < 0.25:
                    line = "%sreturn %s" % (ind, a)
                    depth -= 1
                elif r < 0.35:
                    line = "%s# %s" % (ind, " ".join(self.words(ri(3, 10))).replace("\n", " "))
                elif r < 0.42:
                    line = '%s%s = "%s\\n"' % (ind, a, " ".join(self.words(ri(1, 4))).replace('"', "'").replace("\n", " "))
                else:
                    line = "%s%s = %s.%s(%s, %d)" % (ind, a, b, self.ident(), self.ident(), ri(0, 65535))
            else:
                if r < 0.08 or depth == 0:
                    line = "%s%s %s(%s %s) {" % (ind, rng.choice(("int", "void", "static int", "auto", "size_t")),
                                                 a, rng.choice(("int", "const char*", "double")), b)
                    depth += 1
                elif r < 0.16:
                    line = "%sfor (int i = 0; i < %s; ++i) {" % (ind, a)
                    depth += 1
                elif r < 0.26:
                    depth -= 1
                    line = "%s}" % (indent_unit * depth)
                elif r < 0.34:
                    line = "%s// %s" % (ind, " ".join(self.words(ri(3, 10))).replace("\n", " "))
                elif r < 0.40:
                    line = '%sprintf("%s %%d\\n", %s);' % (ind, " ".join(self.words(ri(1, 4))).replace('"', "'").replace("\n", " "), a)
                else:
                    line = "%s%s = %s(%s, 0x%X) + %d;" % (ind, a, b, self.ident(), ri(0, 65535), ri(0, 99))
            if ri(0, 9) == 0:
                line += "\n"  # blank line
            out.append(line)
            size += len(line) + 1
        while depth > 0 and not pyish:
            depth -= 1
            out.append("%s}" % (indent_unit * depth))
        return "\n".join(out)


def roman(n):
    vals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    s = ""
    for v, c in vals:
        while n >= v:
            s += c
            n -= v
    return s


GENERATORS = {
    "RedPajamaCommonCrawl": Gen.doc_commoncrawl,
    "RedPajamaC4": Gen.doc_c4,
    "RedPajamaGithub": Gen.doc_github,
    "RedPajamaArXiv": Gen.doc_arxiv,
    "RedPajamaBook": Gen.doc_book,
    "RedPajamaWikipedia": Gen.doc_wikipedia,
    "RedPajamaStackExchange": Gen.doc_stackexchange,
}


# --------------------------------------------------------------------------

def plan_documents(rng, total_tokens):
    """Per source, draws lognormal lengths until the source's token share is
    reached; the last document is trimmed so shares come out exact."""
    docs = []
    for name, (share, median, sigma) in SOURCES.items():
        target = int(round(share * total_tokens))
        mu = math.log(median)
        got = 0
        while got < target:
            t = int(min(MAX_DOC_TOKENS, max(MIN_DOC_TOKENS, rng.lognormvariate(mu, sigma))))
            t = min(t, max(MIN_DOC_TOKENS, target - got))
            docs.append((name, t))
            got += t
    rng.shuffle(docs)
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (chunk1/, chunk2/ are created)")
    ap.add_argument("--tokens", default="16M",
                    help="approx total tokens (suffixes K M B); 16M gives configs/demo.yaml (1M, per_source) >= 2x each budget")
    ap.add_argument("--files", type=int, default=8, help="output files, spread over chunk1/ and chunk2/")
    ap.add_argument("--seed", type=int, default=1, help="drives lengths, order and text")
    ap.add_argument("--vocab-seed", type=int, default=0, help="seed of the word list (the 'language')")
    ap.add_argument("--zstd-level", type=int, default=3, help="zstd compression level")
    args = ap.parse_args()

    total = parse_count(args.tokens)
    if total <= 0 or args.files <= 0:
        ap.error("--tokens and --files must be positive")
    zstd = shutil.which("zstd") or "/usr/bin/zstd"
    t0 = time.time()

    rng = random.Random(args.seed)
    lang = Language(args.vocab_seed)
    gen = Gen(rng, lang)
    docs = plan_documents(rng, total)

    n_chunks = 2 if args.files > 1 else 1
    paths = []
    per_chunk = (args.files + n_chunks - 1) // n_chunks
    for i in range(args.files):
        c = i // per_chunk + 1
        paths.append(os.path.join(args.out, "chunk%d" % c, "example_train_%d.jsonl.zst" % (i - (c - 1) * per_chunk)))
    for p in paths:
        os.makedirs(os.path.dirname(p), exist_ok=True)

    procs = [subprocess.Popen([zstd, "-q", "-f", "-%d" % args.zstd_level, "-o", p], stdin=subprocess.PIPE)
             for p in paths]

    stats = {name: [0, 0, 0, set()] for name in SOURCES}  # docs, chars, chars in long docs, files
    long_chars = LONG_THRESHOLD * CHARS_PER_TOKEN
    for name, tokens in docs:
        f = rng.randrange(args.files)
        ascii_only = rng.random() < ENSURE_ASCII_FRACTION
        text = GENERATORS[name](gen, int(tokens * CHARS_PER_TOKEN))
        line = json.dumps({"text": text, "meta": {"redpajama_set_name": name}}, ensure_ascii=ascii_only)
        procs[f].stdin.write(line.encode("utf-8"))
        procs[f].stdin.write(b"\n")
        s = stats[name]
        s[0] += 1
        s[1] += len(text)
        if len(text) >= long_chars:
            s[2] += len(text)
        s[3].add(f)

    bad = 0
    for p in procs:
        p.stdin.close()
        bad |= p.wait()
    if bad:
        sys.exit("zstd failed")

    dt = time.time() - t0
    w = sys.stderr.write
    w("%-24s %8s %12s %7s %6s %s\n" % ("source", "docs", "~tokens", "share", "long%", "files"))
    tot_docs = sum(s[0] for s in stats.values())
    tot_chars = sum(s[1] for s in stats.values())
    for name, (nd, nc, lc, fs) in stats.items():
        w("%-24s %8d %12d %7.3f %6.1f %d\n" % (name, nd, nc / CHARS_PER_TOKEN, nc / max(1, tot_chars),
                                              100.0 * lc / max(1, nc), len(fs)))
    w("%-24s %8d %12d   (~%.1f MB text, %d files, %.1fs)\n" % ("total", tot_docs, tot_chars / CHARS_PER_TOKEN,
                                                              tot_chars / 1e6, args.files, dt))
    w("long%% = share of the source's tokens in documents >= %d tokens (tokens ~ chars/%g)\n"
      % (LONG_THRESHOLD, CHARS_PER_TOKEN))


if __name__ == "__main__":
    main()
