#!/usr/bin/env python3
"""The PyTorch peer of `dytcl bench train`: the same LLaMA-style model, step
and decoding, in PyTorch eager or torch.compile on the CPU (or CUDA/ROCm with
--device cuda), timed the same way.

    python3 bench/peers/train_peer.py --norm dyt [--layers 4 --dim 256 --heads 4
            --batch 8 --seq 128 --steps 10 --gen 64 --threads N --compile]

--compile runs the training step's forward and backward through
torch.compile (inductor, default mode; the optimizer stays eager); compiling
happens in the warm-up steps and is reported as compile_s, not timed.
Decoding is eager in both modes (its shapes change every step).

prints one JSON object: step_ms (median wall time of a whole training step),
step_ms_min (the fastest), cpu_ms_per_step (the process's CPU time per step,
every thread), train_tokens_per_s, generate_tokens_per_s and the versions used.
`dytcl bench train --peer` runs it beside dytcl and prints the ratios.

What is the same as dytcl's model (models/model.h): vocab 256; pre-norm
blocks; a norm is DyT (alpha [1], weight; y = weight * tanh(alpha x)),
RMSNorm (weight) or LayerNorm (weight, no bias), eps 1e-5; the embedding
times emb_scale (a learnable scalar, sqrt(C) at init) with DyT; attention
with interleaved RoPE (theta 10000) and a causal softmax; SwiGLU MLP with
d_ff = 8C/3 rounded up to 32 (gate the first d_ff outputs of mlp.gate_up);
an untied lm_head; mean cross-entropy. A step: zero the gradients, forward,
backward, clip the gradient norm to 1.0, AdamW (lr 1e-4, betas 0.9/0.95,
eps 1e-8, weight decay 0.1 on embeddings and linear weights), read the loss.
Decoding: batch 1, a KV cache, a prompt of 8 tokens, then one token at a
time, every step's logits on the host; the first single-token step is not
timed (dytcl compiles there).
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class DyT(nn.Module):
    def __init__(self, dim, alpha):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((1,), alpha))
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * torch.tanh(self.alpha * x)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def make_norm(kind, dim, alpha):
    if kind == "dyt":
        return DyT(dim, alpha)
    if kind == "rmsnorm":
        return RMSNorm(dim)
    try:  # LLaMA's LayerNorm has no bias (torch >= 2.1 can leave it out)
        return nn.LayerNorm(dim, eps=1e-5, bias=False)
    except TypeError:
        return nn.LayerNorm(dim, eps=1e-5)


def rope_tables(max_seq, D, theta=10000.0):
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    ang = torch.outer(torch.arange(max_seq, dtype=torch.float32), inv)  # [T, D/2]
    return torch.cos(ang), torch.sin(ang)


def rope(x, cos, sin):
    """x [B, H, T, D]; cos, sin [T, D/2]: interleaved pairs (x[2i], x[2i+1])."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, C, H, Fd, norm, alpha):
        super().__init__()
        self.H, self.Fd = H, Fd
        self.norm1, self.norm2 = make_norm(norm, C, alpha), make_norm(norm, C, alpha)
        self.qkv = nn.Linear(C, 3 * C, bias=False)
        self.proj = nn.Linear(C, C, bias=False)
        self.gate_up = nn.Linear(C, 2 * Fd, bias=False)
        self.down = nn.Linear(Fd, C, bias=False)

    def forward(self, x, cos, sin, cache=None, pos=0):
        B, T, C = x.shape
        H, D = self.H, C // self.H
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in self.qkv(self.norm1(x)).split(C, dim=-1))
        q, k = rope(q, cos[pos:pos + T], sin[pos:pos + T]), rope(k, cos[pos:pos + T], sin[pos:pos + T])
        if cache is not None:  # decoding: keys and values of positions < pos + T
            cache[0][:, :, pos:pos + T] = k
            cache[1][:, :, pos:pos + T] = v
            k, v = cache[0][:, :, :pos + T], cache[1][:, :, :pos + T]
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
        mask = torch.ones(T, pos + T, dtype=torch.bool).tril(diagonal=pos)
        y = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        gate, up = self.gate_up(self.norm2(x)).split(self.Fd, dim=-1)
        return x + self.down(F.silu(gate) * up)


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        V, C = 256, a.dim
        Fd = (8 * C // 3 + 31) // 32 * 32
        self.norm = a.norm
        self.wte = nn.Parameter(torch.randn(V, C) * 0.02)
        self.emb_scale = nn.Parameter(torch.full((1,), math.sqrt(C))) if a.norm == "dyt" else None
        self.h = nn.ModuleList(Block(C, a.heads, Fd, a.norm, 1.0) for _ in range(a.layers))
        self.normf = make_norm(a.norm, C, 1.0)
        self.lm_head = nn.Linear(C, V, bias=False)
        cos, sin = rope_tables(a.seq, C // a.heads)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def forward(self, tok, caches=None, pos=0):
        x = self.wte[tok]
        if self.emb_scale is not None:
            x = self.emb_scale * x
        for i, b in enumerate(self.h):
            x = b(x, self.cos, self.sin, caches[i] if caches else None, pos)
        return self.lm_head(self.normf(x))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--norm", default="dyt", choices=["dyt", "rmsnorm", "layernorm"])
    for name, v in (("layers", 4), ("dim", 256), ("heads", 4), ("batch", 8), ("seq", 128), ("steps", 10),
                    ("gen", 64), ("threads", 0)):
        p.add_argument("--" + name, type=int, default=v)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step's model")
    a = p.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    m = Model(a).to(dev)
    decay = [p for n, p in m.named_parameters() if p.ndim == 2]
    other = [p for n, p in m.named_parameters() if p.ndim != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(12345)
    tok = torch.randint(0, 256, (a.batch, a.seq), generator=g).to(dev)
    tgt = torch.randint(0, 256, (a.batch, a.seq), generator=g).to(dev)

    fwd = torch.compile(m) if a.compile else m

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(tok).view(-1, 256), tgt.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    for _ in range(2):  # warm-up (and compiling)
        step()
    warm_s = time.perf_counter() - t0
    ms = []
    c0 = time.process_time()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1e3)
    cpu_ms = (time.process_time() - c0) * 1e3 / a.steps
    step_ms = statistics.median(ms)

    # decoding: batch 1, KV cache, prompt of 8, then one token at a time
    C, H = a.dim, a.heads
    n = min(a.gen, a.seq - 8)
    with torch.no_grad():
        caches = [(torch.zeros(1, H, a.seq, C // H, device=dev), torch.zeros(1, H, a.seq, C // H, device=dev))
                  for _ in range(a.layers)]
        logits = m(tok[:1, :8], caches, 0)[0, -1].cpu()
        t0 = 0.0
        for i in range(n):
            if i == 1:
                sync()
                t0 = time.perf_counter()
            logits = m(tok[:1, 8 + i:9 + i], caches, 8 + i)[0, -1].cpu()
        gen_tok_s = (n - 1) / (time.perf_counter() - t0) if n > 1 else 0.0
    assert torch.isfinite(logits).all()
    print(json.dumps({"peer": "pytorch-compile" if a.compile else "pytorch-eager", "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "device": str(dev), "norm": a.norm, "step_ms": step_ms,
                      "compile_s": warm_s if a.compile else 0.0,
                      "train_tokens_per_s": a.batch * a.seq / (step_ms / 1e3), "step_ms_all": ms,
                      "step_ms_min": min(ms), "cpu_ms_per_step": cpu_ms,
                      "generate_tokens_per_s": gen_tok_s}))


if __name__ == "__main__":
    main()
