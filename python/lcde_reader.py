"""Read an lcde dataset (docs/FORMAT.md) from Python: numpy required, torch optional.

    from lcde_reader import LcdeDataset, ChunkSampler
    ds = LcdeDataset("OUT")              # validates manifest.json, every .idx and .seg header
    len(ds)                              # chunks, across all shards
    ds[i]                                # tokens of global chunk i: a read-only view of the .bin memmap
    ds.source_ids(i)                     # int32 per token: index into ds.sources
    ds.cu_seqlens(i)                     # int32 [0, end_1, ..., len(ds[i])]: one entry per piece boundary
    ds.position_ids(i)                   # int32, restarts at 0 at every piece start
    ds.pieces(i)                         # [Piece(start, length, source, input_path, line, ...)]
    ds.sample(i)                         # dict of the four arrays above

    order = ChunkSampler(len(ds), rank=r, world_size=w, seed=0)
    for chunk in order: ...              # this rank's share of one epoch, deterministic

With torch installed, ``LcdeTorchDataset`` wraps both as an IterableDataset.
See the section "Reading from Python" of docs/FORMAT.md.
"""

import hashlib
import json
import os
import struct
from typing import NamedTuple

import numpy as np

__all__ = ["FORMAT_VERSION", "SEG_DTYPE", "LcdeFormatError", "Piece", "LcdeDataset",
           "ChunkSampler", "doc_causal_mask", "collate_chunks"]

FORMAT_VERSION = 1  # manifest.json format_version this reader understands

IDX_MAGIC = b"MMIDIDX\x00\x00"
IDX_VERSION = 1
IDX_HEADER_BYTES = 34
IDX_DTYPES = {8: np.dtype("<u2"), 4: np.dtype("<i4")}  # Megatron DType codes lcde writes

SEG_MAGIC = b"LCDESEG\x00"
SEG_VERSION = 1
SEG_HEADER_BYTES = 16
SEG_FIELDS = [("chunk", "<u4"), ("start", "<u4"), ("length", "<u4"), ("source", "<u4"),
              ("document", "<u8"), ("doc_offset", "<u8"), ("doc_tokens", "<u8")]
SEG_DTYPE = np.dtype(SEG_FIELDS)
assert SEG_DTYPE.itemsize == 40


class LcdeFormatError(ValueError):
    """A dataset file is missing, malformed or of a version this reader does not know."""


class Piece(NamedTuple):
    """One piece of a document inside a chunk (one .seg record, resolved)."""
    start: int        # first token of the piece within the chunk
    length: int       # tokens in the piece
    source_id: int    # index into manifest["sources"]
    source: str       # source name, e.g. "RedPajamaC4"
    input_index: int  # index into manifest["inputs"]
    input_path: str   # the input file the document came from
    line: int         # 1-based physical line of that file (after decompression)
    document: int     # (input_index << 32) | line
    doc_offset: int   # offset of the piece's first token within its document
    doc_tokens: int   # the document's total tokens (BOS/EOS included; before any budget cut)


def _seg_dtype(record_size):
    """SEG_DTYPE with `record_size` as stride (a newer .seg may append fields)."""
    names, formats = zip(*SEG_FIELDS)
    return np.dtype({"names": list(names), "formats": list(formats),
                     "offsets": [SEG_DTYPE.fields[n][1] for n in names], "itemsize": record_size})


def read_idx(path):
    """Parses a Megatron MMIDIDX index: (token dtype, lengths int32[N], pointers int64[N], doc_idx)."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise LcdeFormatError(f"{path}: cannot read index: {e}") from e
    if len(buf) < IDX_HEADER_BYTES or buf[:9] != IDX_MAGIC:
        raise LcdeFormatError(f"{path}: not a Megatron MMIDIDX index (bad magic)")
    version, = struct.unpack_from("<Q", buf, 9)
    if version != IDX_VERSION:
        raise LcdeFormatError(f"{path}: index version {version}, this reader knows {IDX_VERSION}")
    code = buf[17]
    if code not in IDX_DTYPES:
        raise LcdeFormatError(f"{path}: token dtype code {code} is not one lcde writes (8, 4)")
    n_seq, n_doc = struct.unpack_from("<QQ", buf, 18)
    want = IDX_HEADER_BYTES + 4 * n_seq + 8 * n_seq + 8 * n_doc
    if len(buf) != want:
        raise LcdeFormatError(f"{path}: {len(buf)} bytes, expected {want} for "
                              f"{n_seq} sequences and {n_doc} document indices")
    off = IDX_HEADER_BYTES
    lengths = np.frombuffer(buf, "<i4", n_seq, off)
    off += 4 * n_seq
    pointers = np.frombuffer(buf, "<i8", n_seq, off)
    off += 8 * n_seq
    doc_idx = np.frombuffer(buf, "<i8", n_doc, off)
    return IDX_DTYPES[code], lengths, pointers, doc_idx


def read_seg_header(path):
    """Checks a .seg header; returns (version, record_size, record_count)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            hdr = f.read(SEG_HEADER_BYTES)
    except OSError as e:
        raise LcdeFormatError(f"{path}: cannot read segment file: {e}") from e
    if len(hdr) < SEG_HEADER_BYTES or hdr[:8] != SEG_MAGIC:
        raise LcdeFormatError(f"{path}: not an lcde segment file (bad magic)")
    version, rec = struct.unpack_from("<II", hdr, 8)
    # FORMAT.md: a newer version may only append fields (a larger record); read those by stride.
    if version < SEG_VERSION or rec < SEG_DTYPE.itemsize or (version == SEG_VERSION and rec != 40):
        raise LcdeFormatError(f"{path}: segment version {version} with {rec}-byte records; "
                              f"this reader knows version {SEG_VERSION} with 40-byte records")
    if (size - SEG_HEADER_BYTES) % rec:
        raise LcdeFormatError(f"{path}: {size - SEG_HEADER_BYTES} bytes of records are not "
                              f"a multiple of the record size {rec} (truncated?)")
    return version, rec, (size - SEG_HEADER_BYTES) // rec


class _Shard:
    """One part-NNNNN: the .idx in memory, the .bin and .seg memory-mapped on first use."""

    def __init__(self, directory, info, dtype):
        self.name = info["name"]
        self.prefix = os.path.join(directory, self.name)
        self.dtype = dtype
        idx = self.prefix + ".idx"
        idx_dtype, self.lengths, self.pointers, doc_idx = read_idx(idx)
        if idx_dtype != dtype:
            raise LcdeFormatError(f"{idx}: token dtype {idx_dtype} but the manifest says {dtype}")
        n = len(self.lengths)
        if n != info["chunks"]:
            raise LcdeFormatError(f"{idx}: {n} chunks but the manifest says {info['chunks']}")
        if len(doc_idx) == 0 or doc_idx[-1] != n:
            raise LcdeFormatError(f"{idx}: document_indices does not end at sequence_count {n}")
        self.chunks = n
        self.tokens = int(self.lengths.sum(dtype=np.int64))
        expect = np.concatenate(([0], np.cumsum(self.lengths[:-1], dtype=np.int64))) * dtype.itemsize
        if n and not np.array_equal(self.pointers, expect):
            raise LcdeFormatError(f"{idx}: sequence_pointers are not the running sum of the lengths")
        bin_path = self.prefix + ".bin"
        if not os.path.exists(bin_path):
            raise LcdeFormatError(f"{bin_path}: missing")
        if os.path.getsize(bin_path) != self.tokens * dtype.itemsize:
            raise LcdeFormatError(f"{bin_path}: {os.path.getsize(bin_path)} bytes, expected "
                                  f"{self.tokens * dtype.itemsize} ({self.tokens} tokens)")
        _, self.seg_record, self.segments = read_seg_header(self.prefix + ".seg")
        if "segments" in info and info["segments"] != self.segments:
            raise LcdeFormatError(f"{self.prefix}.seg: {self.segments} records but the manifest "
                                  f"says {info['segments']}")
        self._bin = self._seg = self._seg_offsets = None

    def __getstate__(self):  # pickling (DataLoader workers) must not copy the mapped files
        state = dict(self.__dict__)
        state["_bin"] = state["_seg"] = state["_seg_offsets"] = None
        return state

    @property
    def bin(self):
        if self._bin is None:
            self._bin = np.memmap(self.prefix + ".bin", dtype=self.dtype, mode="r")
        return self._bin

    @property
    def seg(self):
        if self._seg is None:
            if self.segments == 0:
                self._seg = np.zeros(0, SEG_DTYPE)
            else:
                self._seg = np.memmap(self.prefix + ".seg", dtype=_seg_dtype(self.seg_record),
                                      mode="r", offset=SEG_HEADER_BYTES, shape=(self.segments,))
        return self._seg

    @property
    def seg_offsets(self):
        """Records of chunk c are seg[seg_offsets[c]:seg_offsets[c+1]] (one searchsorted per shard)."""
        if self._seg_offsets is None:
            col = self.seg["chunk"]
            if len(col) > 1 and np.any(col[1:] < col[:-1]):
                raise LcdeFormatError(f"{self.prefix}.seg: records are not sorted by chunk")
            self._seg_offsets = np.searchsorted(col, np.arange(self.chunks + 1, dtype=col.dtype),
                                                side="left").astype(np.int64)
        return self._seg_offsets

    def tokens_of(self, c):
        start = int(self.pointers[c]) // self.dtype.itemsize
        return self.bin[start:start + int(self.lengths[c])]

    def segs_of(self, c):
        o = self.seg_offsets
        return self.seg[o[c]:o[c + 1]]


class LcdeDataset:
    """Random access to the chunks of an lcde output directory.

    Opening reads manifest.json and every shard's .idx and .seg header (small)
    and checks them against the manifest; .bin and .seg are memory-mapped the
    first time a shard is used. Indexing is by global chunk number: shards in
    manifest order, chunks in shard order. Pickles cheaply (maps are reopened).
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        mpath = os.path.join(self.path, "manifest.json")
        try:
            with open(mpath, "rb") as f:
                m = json.load(f)
        except FileNotFoundError:
            raise LcdeFormatError(f"{mpath}: missing (not an lcde dataset, or an incomplete one)")
        except (OSError, ValueError) as e:
            raise LcdeFormatError(f"{mpath}: cannot read: {e}") from e
        if not isinstance(m, dict) or m.get("format") != "lcde-dataset":
            raise LcdeFormatError(f"{mpath}: not an lcde manifest (format != 'lcde-dataset')")
        if m.get("format_version") != FORMAT_VERSION:
            raise LcdeFormatError(f"{mpath}: format_version {m.get('format_version')!r}, "
                                  f"this reader knows {FORMAT_VERSION}")
        code = m.get("dtype_code")
        if code not in IDX_DTYPES:
            raise LcdeFormatError(f"{mpath}: dtype_code {code!r} is not 8 (uint16) or 4 (int32)")
        self.manifest = m
        self.dtype = IDX_DTYPES[code]
        self.sequence_length = int(m["sequence_length"])
        self.sources = [s["name"] for s in sorted(m["sources"], key=lambda s: s["id"])]
        self.inputs = [i["path"] for i in sorted(m["inputs"], key=lambda i: i["index"])]
        self.vocab_size = m.get("tokenizer", {}).get("vocab_size")
        self.shards = [_Shard(self.path, info, self.dtype) for info in m["shards"]]
        counts = [s.chunks for s in self.shards]
        self._first = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))  # global index of shard starts
        self.num_tokens = sum(s.tokens for s in self.shards)
        total = m.get("totals", {})
        if total and (total.get("chunks") != len(self) or total.get("tokens") != self.num_tokens):
            raise LcdeFormatError(f"{mpath}: totals {total} disagree with the shards "
                                  f"({len(self)} chunks, {self.num_tokens} tokens)")

    # ---- chunks -------------------------------------------------------------

    def __len__(self):
        return int(self._first[-1])

    def locate(self, i):
        """Global chunk index -> (shard number, chunk index within that shard)."""
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"chunk {i} out of range for {n} chunks")
        s = int(np.searchsorted(self._first, i, side="right")) - 1
        return s, i - int(self._first[s])

    def __getitem__(self, i):
        """Tokens of chunk i (a read-only memmap view; np.array() it to copy)."""
        s, c = self.locate(i)
        return self.shards[s].tokens_of(c)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def chunk_length(self, i):
        s, c = self.locate(i)
        return int(self.shards[s].lengths[c])

    # ---- segments -----------------------------------------------------------

    def segments(self, i):
        """The .seg records of chunk i, a structured array of SEG_DTYPE fields, in `start` order."""
        s, c = self.locate(i)
        return self.shards[s].segs_of(c)

    def _layout(self, i):
        """(tokens, records, starts, lengths) of chunk i, the pieces checked to tile the chunk."""
        s, c = self.locate(i)
        sh = self.shards[s]
        tokens, segs = sh.tokens_of(c), sh.segs_of(c)
        starts = segs["start"].astype(np.int64)
        lengths = segs["length"].astype(np.int64)
        if (len(segs) == 0 or starts[0] != 0 or np.any(starts[1:] != (starts + lengths)[:-1])
                or starts[-1] + lengths[-1] != len(tokens)):
            raise LcdeFormatError(f"{sh.prefix}.seg: pieces of chunk {c} do not tile "
                                  f"its {len(tokens)} tokens")
        return tokens, segs, starts, lengths

    @staticmethod
    def _cu(starts, lengths):
        return np.append(starts, starts[-1] + lengths[-1]).astype(np.int32)

    @staticmethod
    def _pos(segs, starts, lengths, continue_documents):
        base = starts - segs["doc_offset"].astype(np.int64) if continue_documents else starts
        pos = np.arange(int(starts[-1] + lengths[-1]), dtype=np.int64) - np.repeat(base, lengths)
        return pos.astype(np.int64 if continue_documents else np.int32)

    def cu_seqlens(self, i):
        """int32 piece boundaries of chunk i: [0, end of piece 0, ..., chunk length].

        The layout FlashAttention's varlen functions take (with a batch of one
        chunk). The last entry is sequence_length, or less for a partial last chunk.
        """
        _, _, starts, lengths = self._layout(i)
        return self._cu(starts, lengths)

    def source_ids(self, i):
        """int32 per token of chunk i: the source id (index into self.sources)."""
        _, segs, _, lengths = self._layout(i)
        return np.repeat(segs["source"].astype(np.int32), lengths)

    def position_ids(self, i, continue_documents=False):
        """int32 per token of chunk i: 0 at every piece start, counting up within the piece.

        A piece that continues a document cut at the end of an earlier chunk
        also starts at 0 (the default): with document masking the piece cannot
        attend to its earlier part, and positions stay below sequence_length
        whatever the document's length. continue_documents=True numbers a piece
        from its doc_offset instead (int64; positions can then exceed sequence_length).
        """
        _, segs, starts, lengths = self._layout(i)
        return self._pos(segs, starts, lengths, continue_documents)

    def pieces(self, i):
        """Chunk i's pieces with their provenance, as Piece tuples in order."""
        return [self._piece(r) for r in self.segments(i)]

    def piece_at(self, i, token):
        """The Piece holding token position `token` of chunk i (O(log pieces))."""
        if not 0 <= token < self.chunk_length(i):
            raise IndexError(f"token {token} out of range for chunk {i}")
        segs = self.segments(i)
        return self._piece(segs[int(np.searchsorted(segs["start"], token, side="right")) - 1])

    def _piece(self, r):
        doc, src = int(r["document"]), int(r["source"])
        return Piece(int(r["start"]), int(r["length"]), src, self.sources[src], doc >> 32,
                     self.inputs[doc >> 32], doc & 0xFFFFFFFF, doc, int(r["doc_offset"]),
                     int(r["doc_tokens"]))

    def sample(self, i):
        """dict(input_ids, position_ids, cu_seqlens, source_ids) of chunk i (numpy; input_ids copied)."""
        tokens, segs, starts, lengths = self._layout(i)
        return {"input_ids": np.array(tokens), "position_ids": self._pos(segs, starts, lengths, False),
                "cu_seqlens": self._cu(starts, lengths),
                "source_ids": np.repeat(segs["source"].astype(np.int32), lengths)}

    # ---- whole-dataset checks -------------------------------------------------

    def check(self):
        """Checks every .seg against FORMAT.md's rules (vectorized); raises LcdeFormatError."""
        for sh in self.shards:
            seg, where = sh.seg, sh.prefix + ".seg"
            off = sh.seg_offsets
            if off[-1] != len(seg):
                raise LcdeFormatError(f"{where}: records name chunks past the shard's {sh.chunks}")
            counts = np.diff(off)
            if np.any(counts == 0):
                raise LcdeFormatError(f"{where}: chunk {int(np.argmin(counts))} has no pieces")
            start = seg["start"].astype(np.int64)
            length = seg["length"].astype(np.int64)
            end = start + length
            expect_start = np.concatenate(([0], end[:-1]))
            expect_start[off[:-1]] = 0
            bad = (length == 0) | (start != expect_start)
            bad_chunks = np.flatnonzero(end[off[1:] - 1] != sh.lengths)
            if np.any(bad) or len(bad_chunks):
                found = [int(bad_chunks[0])] if len(bad_chunks) else []
                if np.any(bad):
                    found.append(int(seg["chunk"][np.argmax(bad)]))
                c = min(found)
                raise LcdeFormatError(f"{where}: pieces of chunk {c} do not tile its "
                                      f"{int(sh.lengths[c])} tokens")
            if np.any(seg["doc_offset"] + seg["length"] > seg["doc_tokens"]):
                raise LcdeFormatError(f"{where}: a piece lies outside its document")
            if np.any(seg["source"] >= len(self.sources)) or \
                    np.any((seg["document"] >> np.uint64(32)) >= len(self.inputs)):
                raise LcdeFormatError(f"{where}: a source or input index is out of range")

    def verify_checksums(self):
        """Recomputes each shard file's SHA-256 and compares it with the manifest."""
        for info in self.manifest["shards"]:
            for ext in ("bin", "idx", "seg"):
                path = os.path.join(self.path, f"{info['name']}.{ext}")
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                if h.hexdigest() != info[f"{ext}_sha256"]:
                    raise LcdeFormatError(f"{path}: sha256 differs from the manifest")


class ChunkSampler:
    """The chunk order of one rank: deterministic shuffle per epoch, strided over ranks.

    Epoch e uses the permutation np.random.default_rng([seed, e]).permutation(n)
    (or 0..n-1 with shuffle=False), the same on every rank. Rank r takes
    positions r, r + world_size, r + 2*world_size, ... of it, so the ranks read
    disjoint chunks and together consume the permutation front to back.

    Remainder (n % world_size chunks): with drop_remainder=True (default) the
    last n % world_size chunks of each epoch's permutation are skipped, so
    every rank gets n // world_size chunks and no chunk is read twice; a
    different set is skipped each epoch (the permutation changes). With
    drop_remainder=False the permutation is padded by wrapping around to its
    start so every rank gets ceil(n / world_size) chunks (the padding repeats
    a few chunks within the epoch, as torch's DistributedSampler does).

    Position: (epoch, index) where index counts this rank's samples consumed
    in the epoch. Iterating yields the rest of the current epoch and then moves
    to the next; state_dict()/load_state_dict() save and restore the position.
    """

    def __init__(self, num_chunks, rank=0, world_size=1, seed=0, shuffle=True,
                 drop_remainder=True):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world_size {world_size}")
        if num_chunks < (world_size if drop_remainder else 1):
            raise ValueError(f"{num_chunks} chunks cannot feed {world_size} ranks")
        self.num_chunks, self.rank, self.world_size = int(num_chunks), rank, world_size
        self.seed, self.shuffle, self.drop_remainder = int(seed), shuffle, drop_remainder
        self.epoch = 0
        self.index = 0

    def __len__(self):
        """Samples per epoch for this rank."""
        n, w = self.num_chunks, self.world_size
        return n // w if self.drop_remainder else -(-n // w)

    def epoch_order(self, epoch):
        """The global chunk permutation of `epoch` (identical on every rank)."""
        if not self.shuffle:
            return np.arange(self.num_chunks, dtype=np.int64)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.num_chunks)

    def indices(self, epoch):
        """This rank's chunk indices for `epoch`, in order."""
        order = self.epoch_order(epoch)
        total = len(self) * self.world_size
        if total > len(order):
            order = np.resize(order, total)  # wraps around
        return order[self.rank:total:self.world_size]

    def set_epoch(self, epoch, index=0):
        self.epoch, self.index = int(epoch), int(index)

    def state_dict(self):
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed,
                "num_chunks": self.num_chunks, "world_size": self.world_size}

    def load_state_dict(self, state):
        for k in ("seed", "num_chunks", "world_size"):
            if k in state and state[k] != getattr(self, k):
                raise ValueError(f"state has {k}={state[k]}, sampler has {getattr(self, k)}")
        self.set_epoch(state["epoch"], state["index"])

    def global_position(self):
        """Samples this rank consumed since epoch 0: epoch * len(self) + index."""
        return self.epoch * len(self) + self.index

    def seek(self, sample):
        """Position at this rank's `sample`-th sample counted from epoch 0, index 0."""
        self.set_epoch(*divmod(int(sample), len(self)))

    def __iter__(self):
        """Yields the chunk indices left in the current epoch, then advances to the next epoch."""
        if self.index >= len(self):  # a finished epoch: continue with the next
            self.set_epoch(self.epoch + 1)
        idx = self.indices(self.epoch)
        while self.index < len(idx):
            i = int(idx[self.index])
            self.index += 1
            yield i
        self.set_epoch(self.epoch + 1)


def doc_causal_mask(cu_seqlens, positions, batch=1):
    """Boolean [batch, L, L] mask, True where query i may attend key j: same piece and j <= i.

    cu_seqlens: piece boundaries over the batch*L tokens (as LcdeDataset.cu_seqlens,
    or collate_chunks for a batch); positions: arange(batch * L). Written with
    operators numpy and torch share, so the training script builds its mask
    with this very function on torch tensors, and the tests check it in numpy.
    """
    doc = (positions[:, None] >= cu_seqlens[None, 1:-1]).sum(1).reshape(batch, -1)  # piece number
    local = positions[:doc.shape[1]]
    return (doc[:, :, None] == doc[:, None, :]) & (local[None, :] <= local[:, None])[None]


def collate_chunks(samples):
    """Stacks per-chunk numpy samples into a batch: [B, L] arrays, cu_seqlens over the flattened batch.

    All chunks must have the same length (true except for a partial last chunk).
    cu_seqlens becomes one int32 vector for the B*L tokens (FlashAttention varlen layout).
    """
    if len({len(s["input_ids"]) for s in samples}) != 1:
        raise ValueError("cannot stack chunks of different lengths")
    out = {k: np.stack([s[k] for s in samples]) for k in ("input_ids", "position_ids", "source_ids")}
    cu, base = [np.zeros(1, np.int32)], 0
    for s in samples:
        cu.append(s["cu_seqlens"][1:] + base)
        base += len(s["input_ids"])
    out["cu_seqlens"] = np.concatenate(cu).astype(np.int32)
    for k in ("chunk", "epoch", "index"):
        if k in samples[0]:
            out[k] = [int(s[k]) for s in samples]
    return out


try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # numpy-only use
    torch = None

if torch is not None:
    __all__.append("LcdeTorchDataset")

    class LcdeTorchDataset(IterableDataset):
        """One rank's stream of chunks (or batches) for a DataLoader.

        Items are dicts: input_ids (long [L]), position_ids (long [L]),
        cu_seqlens (int32 [pieces + 1]), source_ids (int32 [L]), max_seqlen
        (int), and chunk / epoch / index (ints, lists of ints for a batch: the
        global chunk number, the epoch, and the rank's sample index within the
        epoch of this item).

        Ordering, rank sharding and resumption come from a ChunkSampler (see
        its docstring). batch_size=None yields single chunks; batch_size=B
        yields batches collated by collate_chunks ([B, L] tensors, cu_seqlens
        over the B*L tokens); the last incomplete batch of an epoch is dropped.
        Use DataLoader(ds, batch_size=None, num_workers=k): each worker takes
        every k-th item and the DataLoader returns them round-robin, so the
        stream order is the sampler's whatever k is.

        One iteration runs to the end of the current epoch (epochs=1) or over
        `epochs` epochs (None: forever). To resume, save
        {"epoch": item["epoch"][-1], "index": item["index"][-1] + 1} of the
        last item consumed (state_after(item) does that) and pass it to
        load_state_dict() before iterating again. Without workers,
        state_dict() reports the same thing itself.
        """

        def __init__(self, path_or_dataset, rank=0, world_size=1, seed=0, shuffle=True,
                     drop_remainder=True, batch_size=None, epochs=1):
            super().__init__()
            self.data = (path_or_dataset if isinstance(path_or_dataset, LcdeDataset)
                         else LcdeDataset(path_or_dataset))
            self.sampler = ChunkSampler(len(self.data), rank, world_size, seed, shuffle,
                                        drop_remainder)
            self.batch_size, self.epochs = batch_size, epochs

        def __len__(self):  # items per epoch
            n = len(self.sampler)
            return n if self.batch_size is None else n // self.batch_size

        def state_dict(self):
            return self.sampler.state_dict()

        def load_state_dict(self, state):
            self.sampler.load_state_dict(state)

        def set_epoch(self, epoch, index=0):
            self.sampler.set_epoch(epoch, index)

        @staticmethod
        def state_after(item):
            """The resume state that follows a consumed item (chunk or batch)."""
            e, i = item["epoch"], item["index"]
            if isinstance(e, list):
                e, i = e[-1], i[-1]
            return {"epoch": int(e), "index": int(i) + 1}

        def _to_torch(self, s):
            out = {"input_ids": torch.from_numpy(s["input_ids"].astype(np.int64)),
                   "position_ids": torch.from_numpy(s["position_ids"].astype(np.int64)),
                   "cu_seqlens": torch.from_numpy(s["cu_seqlens"]),
                   "source_ids": torch.from_numpy(s["source_ids"]),
                   "max_seqlen": int(np.diff(s["cu_seqlens"]).max())}
            for k in ("chunk", "epoch", "index"):  # plain ints: no shared-memory tensor each
                out[k] = s[k]
            return out

        def _items(self):
            """(epoch, [(index, chunk), ...]) groups from the sampler position onward."""
            s = self.sampler
            epoch, start, done = s.epoch, s.index, 0
            b = self.batch_size or 1
            if start + b > len(s):  # a finished epoch: continue with the next
                epoch, start = epoch + 1, 0
            while self.epochs is None or done < self.epochs:
                idx = s.indices(epoch)
                # batches are aligned to the epoch start, so a resumed index
                # must be a multiple of the batch size
                if start % b:
                    raise ValueError(f"resume index {start} is not a multiple of batch_size {b}")
                for k in range(start, len(idx) - b + 1, b):
                    yield epoch, [(j, int(idx[j])) for j in range(k, k + b)]
                epoch, start, done = epoch + 1, 0, done + 1

        def __iter__(self):
            info = get_worker_info()
            wid, nw = (info.id, info.num_workers) if info else (0, 1)
            for n, (epoch, group) in enumerate(self._items()):
                if n % nw != wid:
                    continue
                samples = []
                for j, chunk in group:
                    smp = self.data.sample(chunk)
                    smp.update(chunk=chunk, epoch=epoch, index=j)
                    samples.append(smp)
                item = samples[0] if self.batch_size is None else collate_chunks(samples)
                if info is None:  # in-process: keep the sampler's position current
                    self.sampler.set_epoch(epoch, j + 1)
                yield self._to_torch(item)
