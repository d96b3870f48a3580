#!/usr/bin/env python3
"""An independent PyTorch implementation of dytcl's tiny GPT-DyT and LLaMA-DyT,
for tests/test_conformance.c.

    python3 tests/reference/reference.py            # (re)writes the files below
    python3 tests/reference/reference.py --check CKPT TOKENS LOGITS

Generation writes, for each model NAME (gpt-dyt, llama-dyt), into this folder:

    NAME.safetensors         the weights as a dytcl checkpoint (its metadata)
    NAME-io.safetensors      tokens and targets [B, T] (as float32; -1 = ignored),
                             logits [B*T, V], loss [1], and for 10 AdamW steps
                             on that same batch the loss before each step and
                             the gradient norm before clipping (losses, grad_norms
                             [10]); metadata: the optimiser's settings
    NAME-grads.safetensors   d loss / d parameter, under the parameters' names
    NAME-step10.safetensors  the parameters after the 10 steps

--check loads a checkpoint that dytcl wrote (`dytcl train`, or ckpt_save),
runs the forward on the tokens in TOKENS (a safetensors file with "tokens"
[B, T]) and compares with "logits" [B*T, V] in LOGITS: exit 0 when the
relative error (by norm) is within --tol.

Everything here is written from the model's documentation (models/model.h,
host/dytcl.h), not from dytcl's code: float32, pre-norm blocks, DyT as in the
DyT paper's code (alpha a [1] parameter, y = weight * tanh(alpha * x) + bias),
GPT-2's tanh GELU, SwiGLU silu(gate) * up with gate the first d_ff outputs of
mlp.gate_up, interleaved RoPE, torch.optim.AdamW and clip_grad_norm_.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = "dytcl-checkpoint-1"

# ------------------------------------------------------------- safetensors
# 8-byte little-endian header length, a JSON header, then the tensors' bytes.


def st_write(path, tensors, metadata=None):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        values = t.detach().to(torch.float32).flatten().tolist()
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data area starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def st_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {e['dtype']}, not F32")
        b, end = e["data_offsets"]
        count = (end - b) // 4
        values = struct.unpack(f"<{count}f", data[b:end])
        tensors[name] = torch.tensor(values, dtype=torch.float32).reshape(e["shape"])
    return tensors, meta


# ------------------------------------------------------------------- model


class DyT(nn.Module):
    """Dynamic Tanh: weight * tanh(alpha * x) + bias (no bias in LLaMA)."""

    def __init__(self, dim, alpha_init, bias=True):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1) * alpha_init)
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x):
        x = torch.tanh(self.alpha * x)
        x = x * self.weight
        return x + self.bias if self.bias is not None else x


def rope(x, theta):
    """x [B, H, T, D]: the pair (x[2i], x[2i+1]) at position t turns by the
    angle t * theta^(-2i/D), computed in float32."""
    T, D = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    angle = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)  # [T, D/2]
    cos, sin = torch.cos(angle), torch.sin(angle)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, bias = cfg["d_model"], cfg["arch"] == "gpt"
        self.n_head = cfg["n_head"]
        self.theta = cfg["rope_theta"] if cfg["arch"] == "llama" else None
        self.qkv = nn.Linear(C, 3 * C, bias=bias)
        self.proj = nn.Linear(C, C, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
        # rows of qkv.weight: q's C outputs, then k's, then v's; head h is D of each
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in self.qkv(x).split(C, dim=-1))
        if self.theta is not None:
            q, k = rope(q, self.theta), rope(k, self.theta)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, D]
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class GeluMLP(nn.Module):
    def __init__(self, C, Fd):
        super().__init__()
        self.fc = nn.Linear(C, Fd)
        self.proj = nn.Linear(Fd, C)

    def forward(self, x):
        h = self.fc(x)
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h ** 3)))
        return self.proj(h)


class SwiGluMLP(nn.Module):
    def __init__(self, C, Fd):
        super().__init__()
        self.d_ff = Fd
        self.gate_up = nn.Linear(C, 2 * Fd, bias=False)
        self.down = nn.Linear(Fd, C, bias=False)

    def forward(self, x):
        gate, up = self.gate_up(x).split(self.d_ff, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, gpt = cfg["d_model"], cfg["arch"] == "gpt"
        self.norm1 = DyT(C, cfg["alpha_attn"], bias=gpt)
        self.attn = Attention(cfg)
        self.norm2 = DyT(C, cfg["alpha_ffn"], bias=gpt)
        self.mlp = GeluMLP(C, cfg["d_ff"]) if gpt else SwiGluMLP(C, cfg["d_ff"])

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """GPT: learned positions, tied lm head (= wte). LLaMA: RoPE, untied
    lm_head, no biases, the embedding times a learnable scalar emb_scale.
    Parameter names are dytcl's checkpoint names."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        V, C = cfg["vocab"], cfg["d_model"]
        self.gpt = cfg["arch"] == "gpt"
        self.wte = nn.Parameter(torch.zeros(V, C))
        if self.gpt:
            self.wpe = nn.Parameter(torch.zeros(cfg["max_seq"], C))
        else:
            self.emb_scale = nn.Parameter(torch.ones(1))
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.normf = DyT(C, cfg["alpha_final"], bias=self.gpt)
        if not self.gpt:
            self.lm_head = nn.Linear(C, V, bias=False)

    def forward(self, tokens):
        T = tokens.shape[1]
        if self.gpt:
            x = self.wte[tokens] + self.wpe[:T]
        else:
            x = self.emb_scale * self.wte[tokens]
        for block in self.h:
            x = block(x)
        x = self.normf(x)
        return x @ self.wte.t() if self.gpt else self.lm_head(x)

    def decay_groups(self):
        """Weight decay on embeddings and linear layers' weights only."""
        decay = {id(self.wte)} | ({id(self.wpe)} if self.gpt else set())
        decay |= {id(m.weight) for m in self.modules() if isinstance(m, nn.Linear)}
        params = list(self.parameters())
        return [p for p in params if id(p) in decay], [p for p in params if id(p) not in decay]


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


# --------------------------------------------------------- the test files

CONFIGS = {
    "gpt-dyt": dict(arch="gpt", norm="dyt", vocab=256, max_seq=16, n_layer=2, n_head=2, d_model=32, d_ff=128),
    "llama-dyt": dict(arch="llama", norm="dyt", vocab=256, max_seq=16, n_layer=2, n_head=2, d_model=32, d_ff=96),
}
COMMON = dict(alpha_attn=1.0, alpha_ffn=1.0, alpha_final=1.0, norm_eps=1e-5, rope_theta=10000.0)
B, T = 2, 16
OPTIM = dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.0, steps=10)


def checkpoint_metadata(cfg):
    md = {"format": FORMAT, "folded": "0"}
    for k in ("arch", "norm", "vocab", "max_seq", "n_layer", "n_head", "d_model", "d_ff",
              "alpha_attn", "alpha_ffn", "alpha_final", "norm_eps", "rope_theta"):
        md[k] = cfg[k]
    md["keys"] = ",".join(md)
    return md


@torch.no_grad()
def init_weights(model, g):
    """Rougher than a training init, so that every term counts: attention
    scores of order 1, tanh partly saturated, norm parameters and biases
    away from 1 and 0."""
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if name in ("wte", "wpe"):
            p.normal_(0.0, 0.5 if model.gpt else 1.0 / math.sqrt(p.shape[1]), generator=g)
        elif name == "emb_scale":
            p.fill_(math.sqrt(model.cfg["d_model"]) * 0.9)
        elif leaf == "alpha":
            p.mul_(torch.empty(1).uniform_(0.6, 1.4, generator=g))
        elif p.ndim == 2:  # linear weights
            p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]), generator=g)
        elif leaf == "weight":  # norm weights
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        elif leaf == "bias":
            p.normal_(0.0, 0.1, generator=g)
        else:
            raise AssertionError(name)


def generate(name, seed):
    cfg = dict(CONFIGS[name], **COMMON)
    g = torch.Generator().manual_seed(seed)
    model = Transformer(cfg)
    init_weights(model, g)
    V = cfg["vocab"]
    seq = torch.randint(0, V, (B, T + 1), generator=g)
    tokens, targets = seq[:, :T].clone(), seq[:, 1:].clone()
    targets[0, 3] = targets[1, T - 1] = -1  # ignored rows: the mean is over the others

    st_write(os.path.join(HERE, f"{name}.safetensors"), dict(model.named_parameters()), checkpoint_metadata(cfg))

    def forward():
        logits = model(tokens)
        return logits, loss_of(logits, targets)

    run_steps(name, model, forward, B * T, {"tokens": tokens.float(), "targets": targets.float()},
              dict(OPTIM, B=B, T=T))


def run_steps(name, model, forward, rows, inputs, io_meta):
    """OPTIM["steps"] AdamW steps of model on one batch (forward() returns
    the logits and the loss), weight decay on model.decay_groups()'s
    first group, the gradient norm clipped; writes NAME-io (inputs, the first
    logits [rows, -1] and loss, every step's loss and gradient norm), NAME-grads
    (the first step's) and NAME-step10 (the parameters after the steps)."""
    decay, no_decay = model.decay_groups()
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPTIM["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["eps"])
    losses, norms = [], []
    for step in range(OPTIM["steps"]):
        opt.zero_grad(set_to_none=True)
        logits, loss = forward()
        loss.backward()
        if step == 0:
            first_logits, first_loss = logits.detach().clone().reshape(rows, -1), loss.detach().reshape(1)
            grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIM["clip"])))
        losses.append(float(loss.detach()))
        opt.step()

    io = dict(inputs, logits=first_logits, loss=first_loss, losses=torch.tensor(losses),
              grad_norms=torch.tensor(norms))
    st_write(os.path.join(HERE, f"{name}-io.safetensors"), io, io_meta)
    st_write(os.path.join(HERE, f"{name}-grads.safetensors"), grads)
    st_write(os.path.join(HERE, f"{name}-step10.safetensors"), dict(model.named_parameters()))
    print(f"{name}: loss {losses[0]:.6f} -> {losses[-1]:.6f} after {OPTIM['steps']} steps, "
          f"grad norms {norms[0]:.4f} .. {norms[-1]:.4f} (clip {OPTIM['clip']})")


# ------------------------------------------------------------ check mode


def config_from_metadata(meta, path):
    if meta.get("format") != FORMAT:
        sys.exit(f"{path}: not a dytcl checkpoint (format {meta.get('format')!r})")
    if meta.get("norm") != "dyt" or meta.get("arch") not in ("gpt", "llama") or meta.get("folded", "0") != "0":
        sys.exit(f"{path}: this reference has gpt/llama with unfolded DyT only "
                 f"(arch {meta.get('arch')}, norm {meta.get('norm')}, folded {meta.get('folded')})")
    cfg = {"arch": meta["arch"], "norm": "dyt"}
    for k in ("vocab", "max_seq", "n_layer", "n_head", "d_model", "d_ff"):
        cfg[k] = int(meta[k])
    for k in ("alpha_attn", "alpha_ffn", "alpha_final", "norm_eps", "rope_theta"):
        cfg[k] = float(meta[k])
    return cfg


def check_logits(script, make_model, ckpt, inputs_path, input_name, logits_path, tol):
    """Loads a dytcl checkpoint into make_model(metadata, path), runs it on
    the tensor input_name of inputs_path and compares with "logits" in
    logits_path: 0 when the relative error (by norm) is within tol."""
    tensors, meta = st_read(ckpt)
    model = make_model(meta, ckpt)
    weights = {k: v for k, v in tensors.items() if not k.startswith("opt.")}  # AdamW state: not needed
    model.load_state_dict(weights, strict=True)
    inputs = st_read(inputs_path)[0][input_name]
    want = st_read(logits_path)[0]["logits"]
    with torch.no_grad():
        got = model(inputs.long() if input_name == "tokens" else inputs).reshape(want.shape)
    err = float((got - want).norm() / want.norm())
    ok = err <= tol
    print(f"{script} --check {os.path.basename(ckpt)}: logits [{tuple(want.shape)}] relative error "
          f"{err:.3g} ({'ok' if ok else 'FAIL'}, tolerance {tol:g})")
    return 0 if ok else 1


def run_main(doc, input_name, make_model, generate_one, models):
    """The command line both reference scripts share: --check CKPT INPUTS
    LOGITS, or (re)write the files of each (name, seed) in models."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--check", nargs=3, metavar=("CKPT", input_name.upper(), "LOGITS"),
                    help="compare dytcl's logits with this implementation's on a dytcl checkpoint")
    ap.add_argument("--tol", type=float, default=1e-5, help="relative error allowed by --check")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check:
        ckpt, inputs, logits = args.check
        return check_logits(os.path.basename(sys.argv[0]), make_model, ckpt, inputs, input_name, logits, args.tol)
    for name, seed in models:
        generate_one(name, seed)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(__doc__, "tokens", lambda meta, path: Transformer(config_from_metadata(meta, path)),
                      generate, [("gpt-dyt", 1234), ("llama-dyt", 5678)]))
