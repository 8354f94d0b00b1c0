"""LcdeDataset against datasets the real binary builds, checked with readers written here from the spec."""

import json
import pickle
import re
import shutil
import struct
import subprocess
import unittest
from pathlib import Path

import numpy as np

from lcde_testutil import built, copy_dataset
from lcde_reader import (LcdeDataset, LcdeFormatError, collate_chunks, doc_causal_mask)

# ---- independent readers, from docs/FORMAT.md and Megatron-LM's indexed_dataset.py ----------

MEGATRON_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64,
                   6: np.float64, 7: np.float32, 8: np.uint16}


def megatron_sequences(prefix):
    """The sequences of a Megatron MMIDIDX prefix, read with plain file I/O (no memmap)."""
    with open(f"{prefix}.idx", "rb") as f:
        buf = f.read()
    assert buf[:9] == b"MMIDIDX\x00\x00", "magic"
    version, = struct.unpack("<Q", buf[9:17])
    assert version == 1, "version"
    dtype = np.dtype(MEGATRON_DTYPES[buf[17]])
    sequence_count, document_count = struct.unpack("<QQ", buf[18:34])
    off = 34
    lengths = np.frombuffer(buf, np.int32, sequence_count, off)
    off += lengths.nbytes
    pointers = np.frombuffer(buf, np.int64, sequence_count, off)
    off += pointers.nbytes
    document_indices = np.frombuffer(buf, np.int64, document_count, off)
    off += document_indices.nbytes
    assert off == len(buf), "trailing bytes"
    assert document_indices[-1] == sequence_count  # IndexedDataset.__init__'s assert
    out = []
    with open(f"{prefix}.bin", "rb") as f:
        for n, p in zip(lengths, pointers):
            f.seek(int(p))
            out.append(np.frombuffer(f.read(int(n) * dtype.itemsize), dtype))
    return out


def seg_records(path):
    """The .seg records as dicts, parsed with struct from FORMAT.md's table."""
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:8] == b"LCDESEG\x00"
    version, size = struct.unpack("<II", buf[8:16])
    assert (version, size) == (1, 40)
    names = ("chunk", "start", "length", "source", "document", "doc_offset", "doc_tokens")
    return [dict(zip(names, r)) for r in struct.iter_unpack("<IIIIQQQ", buf[16:])]


def dataset_segments(out):
    """[(global chunk, record)] over all shards in manifest order."""
    manifest = json.loads((out / "manifest.json").read_text())
    result, base = [], 0
    for sh in manifest["shards"]:
        for r in seg_records(out / f"{sh['name']}.seg"):
            result.append((base + r["chunk"], r))
        base += sh["chunks"]
    return result


class ReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out, cls.corpus = built("main")
        cls.ds = LcdeDataset(cls.out)
        cls.manifest = json.loads((cls.out / "manifest.json").read_text())

    def test_shape(self):
        ds, m = self.ds, self.manifest
        self.assertEqual(len(ds), m["totals"]["chunks"])
        self.assertGreater(len(ds.shards), 2)  # the fixture spans several shards
        self.assertEqual(ds.sequence_length, 2048)
        self.assertEqual(ds.dtype, np.dtype("<u2"))
        for i in range(len(ds)):
            self.assertEqual(ds[i].shape, (2048,))
        self.assertTrue(np.array_equal(ds[-1], ds[len(ds) - 1]))
        with self.assertRaises(IndexError):
            ds[len(ds)]
        self.assertFalse(ds[0].flags.writeable)

    def test_tokens_equal_bin_files(self):
        raw = np.concatenate([np.fromfile(self.out / f"{s['name']}.bin", dtype="<u2")
                              for s in self.manifest["shards"]])
        mine = np.concatenate([self.ds[i] for i in range(len(self.ds))])
        self.assertTrue(np.array_equal(raw, mine))
        self.assertEqual(len(raw), self.manifest["totals"]["tokens"])

    def test_megatron_layout_reader_agrees(self):
        i = 0
        for s in self.manifest["shards"]:
            seqs = megatron_sequences(self.out / s["name"])
            self.assertEqual(len(seqs), s["chunks"])
            for seq in seqs:
                self.assertTrue(np.array_equal(seq, self.ds[i]), f"chunk {i}")
                i += 1
        self.assertEqual(i, len(self.ds))

    def test_segments_agree_with_seg_files(self):
        by_chunk = {}
        for g, r in dataset_segments(self.out):
            by_chunk.setdefault(g, []).append(r)
        self.assertEqual(sorted(by_chunk), list(range(len(self.ds))))
        for g, recs in by_chunk.items():
            cu, pos, src = [0], [], []
            for r in recs:
                self.assertEqual(r["start"], cu[-1])
                cu.append(r["start"] + r["length"])
                pos.extend(range(r["length"]))
                src.extend([r["source"]] * r["length"])
            self.assertEqual(cu[-1], 2048)
            got_cu = self.ds.cu_seqlens(g)
            self.assertEqual(got_cu.dtype, np.int32)
            self.assertEqual(got_cu.tolist(), cu)
            self.assertEqual(self.ds.position_ids(g).tolist(), pos)
            self.assertEqual(self.ds.source_ids(g).tolist(), src)
            smp = self.ds.sample(g)
            self.assertEqual(smp["cu_seqlens"].tolist(), cu)
            self.assertEqual(smp["position_ids"].tolist(), pos)
            self.assertTrue(np.array_equal(smp["input_ids"], self.ds[g]))
            pieces = self.ds.pieces(g)
            self.assertEqual([(p.start, p.length, p.doc_offset, p.doc_tokens, p.document)
                              for p in pieces],
                             [(r["start"], r["length"], r["doc_offset"], r["doc_tokens"],
                               r["document"]) for r in recs])
            for p in pieces:
                self.assertEqual(self.ds.piece_at(g, p.start + p.length - 1), p)

    def test_continuations(self):
        """A piece with doc_offset > 0 continues its document's previous piece, which ended at the
        end of its chunk (pieces are cut only there; interleaving may put other material between
        them); its position ids still start at 0 (documented choice)."""
        segs = dataset_segments(self.out)
        previous = {}
        crossings = shard_crossings = 0
        for g, b in segs:
            if b["doc_offset"] > 0:
                g0, a = previous[b["document"]]
                self.assertEqual(b["doc_offset"], a["doc_offset"] + a["length"])
                self.assertEqual(a["start"] + a["length"], len(self.ds[g0]))
                self.assertGreater(g, g0)
                crossings += 1
                shard_crossings += self.ds.locate(g0)[0] != self.ds.locate(g)[0]
                pos = self.ds.position_ids(g)
                self.assertEqual(pos[b["start"]], 0)
                self.assertEqual(self.ds.position_ids(g, continue_documents=True)[b["start"]],
                                 b["doc_offset"])
            previous[b["document"]] = (g, b)
        self.assertGreater(crossings, 0)

    def test_provenance(self):
        """Each piece's (file, line) is a real JSON line of the corpus with the piece's source."""
        source_key = self.manifest["config"]["input"]["source_key"].split(".")
        text_key = self.manifest["config"]["input"]["text_key"]
        if shutil.which("zstd") is None:
            self.skipTest("no zstd CLI")
        files, docs = {}, {}
        for g in range(len(self.ds)):
            for p in self.ds.pieces(g):
                self.assertTrue(Path(p.input_path).is_relative_to(self.corpus), p.input_path)
                if p.input_path not in files:
                    raw = subprocess.run(["zstd", "-dc", p.input_path], check=True,
                                         capture_output=True).stdout
                    files[p.input_path] = raw.split(b"\n")  # physical lines, as lcde counts them
                lines = files[p.input_path]
                self.assertLessEqual(p.line, len(lines))
                rec = json.loads(lines[p.line - 1])
                value = rec
                for k in source_key:
                    value = value[k]
                self.assertEqual(value, p.source, f"{p.input_path}:{p.line}")
                self.assertTrue(rec[text_key])
                # the same document always resolves to the same source and length
                self.assertEqual(docs.setdefault(p.document, (p.source, p.doc_tokens)),
                                 (p.source, p.doc_tokens))
                # pseudo-English, ~4 chars a token; a loose bound catches a wrong line
                chars = len(rec[text_key])
                self.assertTrue(0.5 < chars / p.doc_tokens < 20, (chars, p.doc_tokens))
        self.assertGreater(len(docs), 10)

    def test_check_and_checksums(self):
        self.ds.check()
        self.ds.verify_checksums()

    def test_pickle_is_small(self):
        blob = pickle.dumps(self.ds)
        self.assertLess(len(blob), self.manifest["shards"][0]["bin_bytes"])
        again = pickle.loads(blob)
        self.assertTrue(np.array_equal(again[5], self.ds[5]))
        self.assertEqual(again.cu_seqlens(5).tolist(), self.ds.cu_seqlens(5).tolist())

    def test_mask_matches_positions(self):
        for g in range(0, len(self.ds), 7):
            cu, pos = self.ds.cu_seqlens(g), self.ds.position_ids(g)
            mask = doc_causal_mask(cu, np.arange(len(pos)))[0]
            # each query sees exactly the tokens of its piece up to itself
            self.assertTrue(np.array_equal(mask.sum(1), pos + 1))


class PartialChunkTest(unittest.TestCase):
    def test_partial_last_chunk(self):
        out, _ = built("partial")
        ds = LcdeDataset(out)
        ds.check()
        lengths = [len(ds[i]) for i in range(len(ds))]
        self.assertTrue(all(n == 4096 for n in lengths[:-1]))
        self.assertLess(lengths[-1], 4096)
        last = len(ds) - 1
        self.assertEqual(ds.cu_seqlens(last)[-1], lengths[-1])
        self.assertEqual(len(ds.position_ids(last)), lengths[-1])
        self.assertEqual(len(ds.source_ids(last)), lengths[-1])
        m = json.loads((out / "manifest.json").read_text())
        seqs = [s for sh in m["shards"] for s in megatron_sequences(out / sh["name"])]
        self.assertEqual(len(seqs), len(ds))
        for i, s in enumerate(seqs):
            self.assertTrue(np.array_equal(s, ds[i]))
        with self.assertRaises(ValueError):  # cannot stack a short chunk with full ones
            collate_chunks([ds.sample(0), ds.sample(last)])


class TokenizerJsonDatasetTest(unittest.TestCase):
    """A dataset built with Llama-3.1's tokenizer.json: int32 shards, read by LcdeDataset and Megatron's layout."""

    def test_int32_dataset_from_a_tokenizer_json(self):
        out, _ = built("llama3")
        m = json.loads((out / "manifest.json").read_text())
        self.assertEqual((m["dtype"], m["dtype_code"]), ("int32", 4))
        self.assertEqual(m["tokenizer"]["kind"], "tokenizer.json")
        self.assertEqual(m["tokenizer"]["vocab_size"], 128256)
        self.assertEqual((m["tokenizer"]["add_bos"], m["tokenizer"]["bos_id"]), (True, 128000))
        self.assertEqual(m["tokenizer"]["separator"], 128001)
        ds = LcdeDataset(out)
        ds.check()
        self.assertEqual(ds.dtype, np.dtype("<i4"))
        all_tokens = np.concatenate([ds[i] for i in range(len(ds))])
        self.assertGreater(int(all_tokens.max()), 65535)  # ids a uint16 could not hold
        bos, sep = int((all_tokens == 128000).sum()), int((all_tokens == 128001).sum())
        self.assertGreater(bos, 2)
        # A BOS opens every document, a separator closes it, except where a
        # document was cut to fit its source's budget (or the last chunk).
        self.assertIn(bos - sep - m["sampling"]["truncated"], (0, 1))
        self.assertEqual(int(all_tokens[0]), 128000)
        first = m["shards"][0]["name"]
        self.assertEqual(megatron_sequences(out / first)[0].tolist(), ds[0].tolist())


class VariantTest(unittest.TestCase):
    """int32 tokens and a future .seg version, made by rewriting a copy of a built dataset."""

    def test_int32_tokens(self):
        out = copy_dataset()
        m = json.loads((out / "manifest.json").read_text())
        for sh in m["shards"]:
            prefix = out / sh["name"]
            toks = np.fromfile(f"{prefix}.bin", "<u2").astype("<i4") + 70000  # ids past uint16
            toks.tofile(f"{prefix}.bin")
            buf = bytearray(Path(f"{prefix}.idx").read_bytes())
            buf[17] = 4
            n = struct.unpack_from("<Q", buf, 18)[0]
            ptr = np.frombuffer(bytes(buf), "<i8", n, 34 + 4 * n) * 2
            buf[34 + 4 * n:34 + 12 * n] = ptr.tobytes()
            Path(f"{prefix}.idx").write_bytes(bytes(buf))
            sh["bin_bytes"] *= 2
        m["dtype"], m["dtype_code"] = "int32", 4
        (out / "manifest.json").write_text(json.dumps(m))
        ds, ref = LcdeDataset(out), LcdeDataset(built("main")[0])
        self.assertEqual(ds.dtype, np.dtype("<i4"))
        for i in range(len(ds)):
            self.assertTrue(np.array_equal(ds[i], ref[i].astype(np.int64) + 70000))
        self.assertEqual(megatron_sequences(out / "part-00001")[0].tolist(), ds[7].tolist())

    def test_seg_with_longer_records(self):
        out = copy_dataset()
        ref = LcdeDataset(built("main")[0])
        for p in out.glob("*.seg"):
            buf = p.read_bytes()
            recs = np.frombuffer(buf[16:], np.uint8).reshape(-1, 40)
            wide = np.concatenate([recs, np.full((len(recs), 8), 0xAB, np.uint8)], axis=1)
            p.write_bytes(b"LCDESEG\x00" + struct.pack("<II", 2, 48) + wide.tobytes())
        ds = LcdeDataset(out)
        ds.check()
        for i in range(len(ds)):
            self.assertEqual(ds.cu_seqlens(i).tolist(), ref.cu_seqlens(i).tolist())
            self.assertEqual(ds.pieces(i), ref.pieces(i))


class ErrorTest(unittest.TestCase):
    """Every malformed file is refused with an LcdeFormatError naming it."""

    def expect_error(self, mutate, file, pattern="", action=None):
        out = copy_dataset()
        path = out / file
        mutate(path)
        with self.assertRaisesRegex(LcdeFormatError, re.escape(str(path)) + ".*" + pattern):
            ds = LcdeDataset(out)
            if action:
                action(ds)

    @staticmethod
    def patch(offset, data):
        def f(path):
            buf = bytearray(path.read_bytes())
            buf[offset:offset + len(data)] = data
            path.write_bytes(bytes(buf))
        return f

    @staticmethod
    def manifest_set(key, value):
        def f(path):
            m = json.loads(path.read_text())
            m[key] = value
            path.write_text(json.dumps(m))
        return f

    def test_manifest(self):
        self.expect_error(lambda p: p.unlink(), "manifest.json", "missing")
        self.expect_error(lambda p: p.write_text("{"), "manifest.json", "cannot read")
        self.expect_error(self.manifest_set("format_version", 2), "manifest.json", "format_version 2")
        self.expect_error(self.manifest_set("format", "x"), "manifest.json", "not an lcde")
        self.expect_error(self.manifest_set("dtype_code", 5), "manifest.json", "dtype_code")

    def test_seg(self):
        self.expect_error(self.patch(0, b"XXXX"), "part-00001.seg", "bad magic")
        self.expect_error(self.patch(8, struct.pack("<I", 0)), "part-00001.seg", "version 0")
        self.expect_error(self.patch(12, struct.pack("<I", 48)), "part-00001.seg", "48-byte")
        self.expect_error(lambda p: p.write_bytes(p.read_bytes()[:-3]), "part-00001.seg",
                          "truncated")
        self.expect_error(lambda p: p.write_bytes(p.read_bytes()[:-40]), "part-00001.seg",
                          "manifest says")
        # a record that breaks the tiling: found by check() and by the chunk's accessors
        bad_length = self.patch(16 + 8, struct.pack("<I", 1))
        self.expect_error(bad_length, "part-00001.seg", "tile", lambda ds: ds.check())
        self.expect_error(bad_length, "part-00001.seg", "tile", lambda ds: ds.cu_seqlens(7))

    def test_idx_and_bin(self):
        self.expect_error(self.patch(0, b"NOTMMIDIDX"), "part-00002.idx", "bad magic")
        self.expect_error(self.patch(9, struct.pack("<Q", 2)), "part-00002.idx", "version 2")
        self.expect_error(self.patch(17, b"\x04"), "part-00002.idx", "dtype")
        self.expect_error(lambda p: p.write_bytes(p.read_bytes()[:-8]), "part-00002.idx", "bytes")
        self.expect_error(lambda p: p.unlink(), "part-00002.idx", "cannot read")
        self.expect_error(lambda p: p.unlink(), "part-00002.bin", "missing")
        self.expect_error(lambda p: p.write_bytes(p.read_bytes()[:-2]), "part-00002.bin", "bytes")

    def test_checksum(self):
        self.expect_error(self.patch(100, b"\x01\x02"), "part-00000.bin", "sha256",
                          lambda ds: ds.verify_checksums())


if __name__ == "__main__":
    unittest.main()
