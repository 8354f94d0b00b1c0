"""ChunkSampler ordering (numpy only), the torch Dataset (when torch imports) and scripts/train_gpu.py."""

import itertools
import json
import os
import py_compile
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from lcde_testutil import REPO, built
from lcde_reader import ChunkSampler, LcdeDataset, collate_chunks, doc_causal_mask

try:
    import torch
    from lcde_reader import LcdeTorchDataset
except ImportError:
    torch = None


class SamplerTest(unittest.TestCase):
    def test_ranks_disjoint_and_cover(self):
        for n, w in [(58, 1), (58, 2), (58, 4), (58, 5), (7, 7), (10, 3), (1000, 8)]:
            for epoch in (0, 3):
                order = ChunkSampler(n, 0, w, seed=9).epoch_order(epoch)
                parts = [ChunkSampler(n, r, w, seed=9).indices(epoch) for r in range(w)]
                self.assertEqual({len(p) for p in parts}, {n // w})
                got = np.concatenate(parts)
                self.assertEqual(len(set(got.tolist())), len(got), "ranks overlap")
                # the dropped remainder is the tail of this epoch's permutation
                self.assertEqual(sorted(got.tolist()), sorted(order[:n // w * w].tolist()))
                # step s of all ranks consumes order[s*w:(s+1)*w]
                self.assertEqual(np.stack(parts, 1).reshape(-1).tolist(), order[:n // w * w].tolist())
                padded = [ChunkSampler(n, r, w, seed=9, drop_remainder=False).indices(epoch)
                          for r in range(w)]
                self.assertEqual({len(p) for p in padded}, {-(-n // w)})
                self.assertEqual(set(np.concatenate(padded).tolist()), set(range(n)))

    def test_shuffle_per_epoch(self):
        a, b = ChunkSampler(100, seed=1), ChunkSampler(100, seed=1)
        self.assertEqual(a.indices(0).tolist(), b.indices(0).tolist())
        self.assertEqual(a.indices(5).tolist(), b.indices(5).tolist())
        self.assertNotEqual(a.indices(0).tolist(), a.indices(1).tolist())
        self.assertNotEqual(a.indices(0).tolist(), ChunkSampler(100, seed=2).indices(0).tolist())
        self.assertEqual(sorted(a.indices(1).tolist()), list(range(100)))
        self.assertEqual(ChunkSampler(10, shuffle=False).indices(4).tolist(), list(range(10)))
        # documented permutation, so other tools can reproduce it
        self.assertEqual(a.epoch_order(3).tolist(),
                         np.random.default_rng([1, 3]).permutation(100).tolist())

    def test_iteration_and_resume(self):
        s = ChunkSampler(23, rank=1, world_size=3, seed=4)
        full = list(itertools.chain(s.indices(0), s.indices(1), s.indices(2)))
        stream = []
        for _ in range(3):
            stream.extend(iter(s))
        self.assertEqual(stream, full)
        self.assertEqual(s.state_dict()["epoch"], 3)
        for k in (0, 1, 6, 7, 8, 13, 20):
            r = ChunkSampler(23, rank=1, world_size=3, seed=4)
            r.seek(k)
            rest = list(iter(r))
            while len(rest) < len(full) - k:
                rest.extend(iter(r))
            self.assertEqual(rest, full[k:], f"resume at {k}")
        # state_dict mid-epoch, then a fresh sampler continues identically
        a = ChunkSampler(23, rank=1, world_size=3, seed=4)
        it = iter(a)
        head = [next(it) for _ in range(4)]
        b = ChunkSampler(23, rank=1, world_size=3, seed=4)
        b.load_state_dict(json.loads(json.dumps(a.state_dict())))
        self.assertEqual(head + list(iter(b)), full[:7])
        with self.assertRaises(ValueError):
            ChunkSampler(23, world_size=2).load_state_dict(a.state_dict())

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            ChunkSampler(10, rank=2, world_size=2)
        with self.assertRaises(ValueError):
            ChunkSampler(3, rank=0, world_size=4)


class MaskTest(unittest.TestCase):
    def test_doc_causal_mask_brute_force(self):
        rng = np.random.default_rng(0)
        for _ in range(20):
            batch, n = int(rng.integers(1, 4)), int(rng.integers(1, 40))
            samples = []
            for _ in range(batch):
                cuts = np.sort(rng.choice(np.arange(1, n), size=int(rng.integers(0, min(n, 6))),
                                          replace=False)) if n > 1 else np.array([], int)
                cu = np.concatenate(([0], cuts, [n])).astype(np.int32)
                pos = np.concatenate([np.arange(b - a) for a, b in zip(cu, cu[1:])])
                samples.append({"input_ids": np.zeros(n, np.uint16), "position_ids": pos,
                                "source_ids": np.zeros(n, np.int32), "cu_seqlens": cu})
            b = collate_chunks(samples)
            mask = doc_causal_mask(b["cu_seqlens"], np.arange(batch * n), batch=batch)
            self.assertEqual(mask.shape, (batch, n, n))
            for k, s in enumerate(samples):
                piece = np.searchsorted(s["cu_seqlens"], np.arange(n), side="right")
                want = np.array([[piece[i] == piece[j] and j <= i for j in range(n)]
                                 for i in range(n)]).reshape(n, n)
                self.assertTrue(np.array_equal(mask[k], want))
                self.assertTrue(np.array_equal(mask[k].sum(1), s["position_ids"] + 1))


@unittest.skipIf(torch is None, "torch is not installed")
class TorchDatasetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out, _ = built("main")
        cls.data = LcdeDataset(cls.out)

    def stream(self, ds, workers, limit=None):
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
        return list(itertools.islice(loader, limit))

    def test_items_and_order(self):
        for workers in (0, 2):
            ds = LcdeTorchDataset(self.out, rank=1, world_size=3, seed=5)
            items = self.stream(ds, workers)
            want = ChunkSampler(len(self.data), 1, 3, seed=5).indices(0).tolist()
            self.assertEqual([int(x["chunk"]) for x in items], want)
            self.assertEqual([int(x["index"]) for x in items], list(range(len(want))))
            x = items[0]
            self.assertEqual(x["input_ids"].dtype, torch.long)
            self.assertEqual(x["cu_seqlens"].dtype, torch.int32)
            ref = self.data.sample(want[0])
            self.assertEqual(x["input_ids"].tolist(), ref["input_ids"].tolist())
            self.assertEqual(x["position_ids"].tolist(), ref["position_ids"].tolist())
            self.assertEqual(x["cu_seqlens"].tolist(), ref["cu_seqlens"].tolist())
            self.assertEqual(x["source_ids"].tolist(), ref["source_ids"].tolist())
            self.assertEqual(x["max_seqlen"], int(np.diff(ref["cu_seqlens"]).max()))

    def test_ranks_disjoint(self):
        seen = []
        for r in range(4):
            seen += [int(x["chunk"]) for x in self.stream(LcdeTorchDataset(self.data, r, 4, 2), 0)]
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(len(seen), len(self.data) // 4 * 4)

    def test_batches_and_resume(self):
        ds = LcdeTorchDataset(self.data, 0, 2, seed=1, batch_size=3, epochs=2)
        full = self.stream(ds, 2)
        order = ChunkSampler(len(self.data), 0, 2, seed=1)
        per = len(order) // 3 * 3
        want = order.indices(0)[:per].tolist() + order.indices(1)[:per].tolist()
        self.assertEqual([c for b in full for c in b["chunk"]], want)
        self.assertEqual(full[0]["input_ids"].shape, (3, 2048))
        self.assertEqual(full[0]["cu_seqlens"][-1], 3 * 2048)
        for k in (1, 4, len(full) // 2 + 1):
            state = LcdeTorchDataset.state_after(full[k - 1])
            again = LcdeTorchDataset(self.data, 0, 2, seed=1, batch_size=3, epochs=None)
            again.load_state_dict(state)
            rest = self.stream(again, 2, limit=len(full) - k)
            self.assertEqual([b["chunk"] for b in rest], [b["chunk"] for b in full[k:]],
                             f"resume after {k}")

    def test_in_process_state(self):
        ds = LcdeTorchDataset(self.data, seed=3)
        it = iter(ds)
        first = [int(next(it)["chunk"]) for _ in range(5)]
        state = ds.state_dict()
        self.assertEqual((state["epoch"], state["index"]), (0, 5))
        ds2 = LcdeTorchDataset(self.data, seed=3)
        ds2.load_state_dict(state)
        self.assertEqual(first + [int(x["chunk"]) for x in ds2],
                         ChunkSampler(len(self.data), seed=3).indices(0).tolist())


class TrainScriptTest(unittest.TestCase):
    script = REPO / "scripts" / "train_gpu.py"

    def test_compiles(self):
        py_compile.compile(str(self.script), doraise=True)

    @unittest.skipIf(torch is None, "torch is not installed")
    def test_cpu_smoke(self):
        out, _ = built("main")
        with tempfile.TemporaryDirectory() as tmp:
            summary = os.path.join(tmp, "s.json")
            r = subprocess.run([sys.executable, str(self.script), str(out), "--device", "cpu",
                                "--tiny", "--steps", "4", "--log-every", "2", "--num-workers", "1",
                                "--attn", "sdpa", "--out", summary],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            s = json.load(open(summary))
        self.assertGreater(s["loader_tokens_per_s"], 0)
        for mode in ("causal", "doc"):
            self.assertEqual(len(s["modes"][mode]["loss"]), 4)
            self.assertTrue(all(np.isfinite(s["modes"][mode]["loss"])))
        self.assertEqual(s["modes"]["doc"]["attention"], "sdpa-mask")


if __name__ == "__main__":
    unittest.main()
