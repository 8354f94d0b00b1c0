"""Shared fixtures of the Python tests: fresh datasets built once per test session by the real binary.

The tests are unittest.TestCase classes so they run under pytest
(`python3 -m pytest tests/python`) and, where pytest is missing, under
`python3 -m unittest discover -s tests/python`. built() caches each dataset
for the whole process (a session fixture that works with both runners).

LCDE_BINARY names the lcde binary (default build/lcde). When it is unset and
build/lcde does not exist, the tests that need a dataset are skipped; when it
is set and missing, they fail.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

_TMP = None
_BUILT = {}

# name: (corpus args, config overrides)
DATASETS = {
    # 9 shards (8 x 7 chunks + 2), 2K-token chunks, documents split across chunks and shards
    "main": (["--tokens", "1500000", "--files", "3", "--seed", "5"],
             {"seed": 11, "strategy": "per_source", "total_tokens": "120K",
              "sequence_length": "2K", "chunks_per_shard": 7, "keep_partial_chunk": "false"}),
    # every source runs out: the last chunk is partial and kept
    "partial": (["--tokens", "60000", "--files", "2", "--seed", "6"],
                {"seed": 3, "strategy": "none", "total_tokens": "1M",
                 "sequence_length": "4K", "chunks_per_shard": 4, "keep_partial_chunk": "true"}),
    # Llama-3.1's tokenizer.json (128,256 ids): int32 shards, <|end_of_text|> between documents
    "llama3": (["--tokens", "400000", "--files", "2", "--seed", "8"],
               {"seed": 5, "strategy": "per_source", "total_tokens": "64K",
                "sequence_length": "8K", "chunks_per_shard": 3, "keep_partial_chunk": "false",
                "model": "llama-3.1-tokenizer.json", "separator": "<|end_of_text|>"}),
}


def shared_tokenizer(name):
    """../shared/tokenizers/NAME (or under $LCDE_SHARED_DIR), or None."""
    for base in [os.environ.get("LCDE_SHARED_DIR"), REPO.parent / "shared"]:
        if base and (Path(base) / "tokenizers" / name).is_file():
            return (Path(base) / "tokenizers" / name).resolve()
    return None


def tmp_root():
    global _TMP
    if _TMP is None:
        _TMP = tempfile.mkdtemp(prefix="lcde-pytest-")
        if not os.environ.get("LCDE_KEEP_TMP"):
            atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
    return Path(_TMP)


def lcde_binary():
    env = os.environ.get("LCDE_BINARY")
    path = Path(env) if env else REPO / "build" / "lcde"
    if not (path.is_file() and os.access(path, os.X_OK)):
        if env:
            raise RuntimeError(f"LCDE_BINARY={env}: no executable there")
        raise unittest.SkipTest(f"no lcde binary at {path} (run scripts/build.sh or set LCDE_BINARY)")
    return path.resolve()


def built(name="main"):
    """(dataset dir, corpus dir) of DATASETS[name], built on first use."""
    if name in _BUILT:
        return _BUILT[name]
    binary = lcde_binary()
    corpus_args, cfg = DATASETS[name]
    model = REPO / "models" / "demo.model"
    if "model" in cfg:
        model = shared_tokenizer(cfg["model"])
        if model is None:
            raise unittest.SkipTest(f"../shared/tokenizers/{cfg['model']} not present")
    root = tmp_root() / name
    corpus, out = root / "corpus", root / "out"
    root.mkdir(parents=True)
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_corpus.py"),
                    "--out", str(corpus), *corpus_args],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    config = root / "config.yaml"
    config.write_text(f"""seed: {cfg['seed']}
input:
  paths: [{corpus}]
tokenizer:
  model: {model}
  separator: "{cfg.get('separator', -1)}"
mixture:
  total_tokens: {cfg['total_tokens']}
  strategy: {cfg['strategy']}
output:
  dir: {out}
  sequence_length: {cfg['sequence_length']}
  chunks_per_shard: {cfg['chunks_per_shard']}
  keep_partial_chunk: {cfg['keep_partial_chunk']}
""")
    r = subprocess.run([str(binary), "build", "-c", str(config)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"lcde build failed ({r.returncode}):\n{r.stderr}")
    _BUILT[name] = (out, corpus)
    return _BUILT[name]


def copy_dataset(name="main"):
    """A private copy of a built dataset, for tests that corrupt files."""
    src, _ = built(name)
    dst = Path(tempfile.mkdtemp(dir=tmp_root(), prefix="copy-"))
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst
