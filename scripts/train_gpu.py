#!/usr/bin/env python3
"""Train a small LLaMA-style decoder on an lcde dataset: the loader's end-to-end check.

    scripts/train_gpu.py DATASET_DIR [--mode causal|doc|both] [--steps 300] [--out summary.json]
    scripts/train_gpu.py DATASET_DIR --device cpu --tiny --steps 5      # CPU smoke test

Model: token embedding, N blocks of (RMSNorm, multi-head attention with RoPE,
RMSNorm, SwiGLU MLP), final RMSNorm, untied LM head; torch only.

Modes (each trains a fresh model from the same initial weights on the same chunk order):
  causal  plain causal attention over the whole chunk, position ids 0..L-1
          (SDPA is_causal=True, flash backend on GPU);
  doc     document masking: a token attends only to earlier tokens of its own
          piece (block-diagonal causal mask from the .seg cu_seqlens) and RoPE
          uses the loader's position_ids, which restart at 0 at every piece.
          flash_attn_varlen_func when flash-attn imports (--attn auto|flash),
          else SDPA with a boolean [B, 1, L, L] mask (--attn sdpa).
The loss of both modes ignores targets that start a piece (a token whose
position id is 0): predicting the first token of a document from the previous
one is noise in doc mode, and ignoring the same targets in causal mode keeps
the two loss curves comparable.

Throughput: `loader_tokens_per_s` iterates the DataLoader alone (no model) for
--loader-seconds; `train_tokens_per_s` is the tokens the training loop consumes
per second after --timing-warmup steps (forward, backward, optimizer, data wait).
The JSON summary (--out) holds both, the loss curves, the config and the device.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from lcde_reader import LcdeDataset, doc_causal_mask  # noqa: E402

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # keeps the module importable (and compilable) without torch
    torch = None

    class nn:  # noqa: N801 - placeholder so the class statements below still define
        Module = object

try:
    from flash_attn import flash_attn_varlen_func
except Exception:  # not installed, or built for another torch
    flash_attn_varlen_func = None


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(var + self.eps)).type_as(x) * self.weight


def rope_cos_sin(position_ids, head_dim, base=10000.0):
    """cos, sin of shape [B, 1, L, head_dim] for rotate-half RoPE at the given positions."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=position_ids.device,
                                       dtype=torch.float32) / head_dim))
    ang = position_ids.float()[:, :, None] * inv[None, None, :]  # [B, L, D/2]
    emb = torch.cat([ang, ang], dim=-1)[:, None]
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    rot = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rot.float() * sin).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin, attn):
        b, l, d = x.shape
        q, k, v = self.wqkv(x).view(b, l, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # [B, H, L, Dh]
        if attn["kind"] == "causal":
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif attn["kind"] == "mask":
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn["mask"])
        else:  # flash-attn varlen over the flattened batch
            flat = lambda t: t.transpose(1, 2).reshape(b * l, self.heads, self.head_dim)  # noqa: E731
            o = flash_attn_varlen_func(flat(q), flat(k), flat(v), attn["cu_seqlens"],
                                       attn["cu_seqlens"], attn["max_seqlen"], attn["max_seqlen"],
                                       causal=True)
            o = o.view(b, l, self.heads, self.head_dim).transpose(1, 2)
        return self.wo(o.transpose(1, 2).reshape(b, l, d))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        hidden = 64 * math.ceil(8 * dim / 3 / 64)
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.w13 = nn.Linear(dim, 2 * hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x, cos, sin, attn):
        x = x + self.attn(self.norm1(x), cos, sin, attn)
        gate, up = self.w13(self.norm2(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(gate) * up)


class Decoder(nn.Module):
    def __init__(self, vocab, dim, layers, heads):
        super().__init__()
        self.head_dim = dim // heads
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids, position_ids, attn):
        cos, sin = rope_cos_sin(position_ids, self.head_dim)
        x = self.embed(input_ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, attn)
        return self.lm_head(self.norm(x))


def attention_spec(mode, impl, batch, device):
    """How the blocks attend for this batch: plain causal, SDPA with a mask, or flash varlen."""
    if mode == "causal":
        return {"kind": "causal"}
    cu = batch["cu_seqlens"].to(device, non_blocking=True)
    if impl == "flash":
        return {"kind": "varlen", "cu_seqlens": cu, "max_seqlen": int(batch["max_seqlen"])}
    b, l = batch["input_ids"].shape
    positions = torch.arange(b * l, device=device)
    return {"kind": "mask", "mask": doc_causal_mask(cu, positions, batch=b)[:, None]}


def make_loader(data, args, epochs):
    from lcde_reader import LcdeTorchDataset
    ds = LcdeTorchDataset(data, rank=0, world_size=1, seed=args.seed, batch_size=args.batch_size,
                          epochs=epochs)
    return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=args.num_workers,
                                       pin_memory=args.device.startswith("cuda"),
                                       persistent_workers=False,
                                       prefetch_factor=4 if args.num_workers else None)


def crop(batch, n):
    """First n tokens of every chunk (CPU smoke tests); cu_seqlens is rebuilt per chunk."""
    b, l = batch["input_ids"].shape
    if n is None or n >= l:
        return batch
    cu = batch["cu_seqlens"]
    new = [torch.zeros(1, dtype=torch.int32)]
    for i in range(b):
        c = cu[(cu > i * l) & (cu < i * l + n)] - i * l
        new.append(torch.cat([c, torch.tensor([n], dtype=torch.int32)]) + i * n)
    out = dict(batch)
    for k in ("input_ids", "position_ids", "source_ids"):
        out[k] = batch[k][:, :n]
    out["cu_seqlens"] = torch.cat(new).to(torch.int32)
    out["max_seqlen"] = int(out["cu_seqlens"].diff().max())
    return out


def measure_loader(data, args):
    """Tokens/s of the DataLoader alone: iterate for args.loader_seconds, no model, no GPU."""
    loader = iter(make_loader(data, args, epochs=None))
    next(loader)  # worker start-up is not throughput
    tokens, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.loader_seconds:
        tokens += next(loader)["input_ids"].numel()
    return tokens / (time.perf_counter() - t0)


def train(mode, data, args, device, vocab, init_state):
    torch.manual_seed(args.seed)
    model = Decoder(vocab, args.dim, args.layers, args.heads).to(device)
    model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    warm = max(1, min(args.warmup, args.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, args.steps))))))
    fwd = torch.compile(model) if args.compile else model
    impl = args.attn
    if mode == "doc" and impl == "auto":
        impl = "flash" if flash_attn_varlen_func is not None and device.type == "cuda" else "sdpa"
    if impl == "flash" and flash_attn_varlen_func is None:
        raise SystemExit("--attn flash: flash_attn is not importable")
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    loader = iter(make_loader(data, args, epochs=None))
    losses, log, tokens_timed, wait = [], [], 0, 0.0
    t_start = None
    for step in range(args.steps):
        if step == args.timing_warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_start, tokens_timed, wait = time.perf_counter(), 0, 0.0
        t0 = time.perf_counter()
        batch = crop(next(loader), args.crop)
        wait += time.perf_counter() - t0
        ids = batch["input_ids"].to(device, non_blocking=True)
        pos = batch["position_ids"].to(device, non_blocking=True)
        if mode == "causal":
            pos = torch.arange(ids.shape[1], device=device).expand_as(ids)
        attn = attention_spec(mode, impl, batch, device)
        with amp:
            logits = fwd(ids, pos, attn)
        # target t+1 is ignored where it starts a piece (position id 0), in both modes
        labels = ids[:, 1:].masked_fill(batch["position_ids"][:, 1:].to(device) == 0, -100)
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                               labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.detach())
        tokens_timed += ids.numel()
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            value = float(losses[-1])
            rate = (tokens_timed / (time.perf_counter() - t_start)) if t_start else float("nan")
            log.append({"step": step + 1, "loss": value, "lr": sched.get_last_lr()[0]})
            print(f"[{mode}] step {step + 1:5d}  loss {value:.4f}  train {rate:,.0f} tok/s",
                  flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t_start if t_start else float("nan")
    curve = [float(x) for x in torch.stack(losses).cpu()]
    return {"attention": {"causal": "sdpa-causal", "sdpa": "sdpa-mask", "flash": "flash-attn-varlen"}[
                "causal" if mode == "causal" else impl],
            "loss": curve, "log": log, "final_loss": curve[-1],
            "mean_loss_last_10pct": sum(curve[-max(1, len(curve) // 10):]) / max(1, len(curve) // 10),
            "train_tokens_per_s": tokens_timed / elapsed if t_start else None,
            "timed_steps": args.steps - args.timing_warmup, "data_wait_s": wait,
            "peak_memory_gib": (torch.cuda.max_memory_allocated() / 2**30
                                if device.type == "cuda" else None)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="lcde output directory (with manifest.json)")
    ap.add_argument("--mode", choices=["causal", "doc", "both"], default="both")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=1, help="chunks per step")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30, help="linear LR warm-up steps")
    ap.add_argument("--seed", type=int, default=0, help="model init and chunk order")
    ap.add_argument("--num-workers", type=int, default=0,
                    help="DataLoader workers (0: load in the training process, the fastest "
                         "from page cache; workers pay ~1 ms of IPC per chunk)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--attn", choices=["auto", "sdpa", "flash"], default="auto",
                    help="doc mode's kernel: flash-attn varlen or SDPA with a mask (auto: flash if importable)")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in fp32")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--crop", type=int, default=None, help="train on the first N tokens of each chunk")
    ap.add_argument("--loader-seconds", type=float, default=10.0)
    ap.add_argument("--timing-warmup", type=int, default=5, help="steps excluded from train tokens/s")
    ap.add_argument("--tiny", action="store_true",
                    help="CPU smoke config: dim 64, 2 layers, 4 heads, crop 1024, 1 s loader timing")
    ap.add_argument("--out", default=None, help="write the JSON summary here")
    args = ap.parse_args(argv)
    if torch is None:
        raise SystemExit("train_gpu.py needs torch (pip install torch)")
    if args.tiny:
        args.dim, args.layers, args.heads = 64, 2, 4
        args.crop = args.crop or 1024
        args.loader_seconds = min(args.loader_seconds, 1.0)
    if args.device == "cpu":
        args.bf16 = False  # bf16 autocast on CPU is slow and not what a GPU run does anyway
    args.timing_warmup = min(args.timing_warmup, max(0, args.steps - 1))
    device = torch.device(args.device)
    data = LcdeDataset(args.data)
    print(f"dataset {args.data}: {len(data)} chunks x {data.sequence_length} tokens, "
          f"vocab {data.vocab_size}, {len(data.shards)} shards", flush=True)

    loader_rate = measure_loader(data, args)
    print(f"loader alone: {loader_rate:,.0f} tokens/s ({args.num_workers} workers)", flush=True)

    torch.manual_seed(args.seed)
    vocab = int(data.vocab_size or (max(int(data[i].max()) for i in range(len(data))) + 1))
    init = Decoder(vocab, args.dim, args.layers, args.heads).state_dict()
    modes = ["causal", "doc"] if args.mode == "both" else [args.mode]
    results = {m: train(m, data, args, device, vocab, init) for m in modes}

    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else (platform.processor() or platform.machine()))
    summary = {
        "device": name, "torch": torch.__version__,
        "flash_attn": flash_attn_varlen_func is not None,
        "dataset": {"path": os.path.abspath(args.data), "chunks": len(data),
                    "sequence_length": data.sequence_length, "vocab_size": vocab},
        "config": {k: v for k, v in vars(args).items() if k not in ("data", "out")},
        "params": sum(p.numel() for p in init.values()),
        "loader_tokens_per_s": loader_rate,
        "modes": results,
    }
    for m, r in results.items():
        print(f"[{m}] final loss {r['final_loss']:.4f}, train {r['train_tokens_per_s'] or 0:,.0f} "
              f"tok/s vs loader {loader_rate:,.0f} tok/s ({r['attention']})", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"wrote {args.out}")
    return summary


if __name__ == "__main__":
    main()
