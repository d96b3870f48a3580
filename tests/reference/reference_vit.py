#!/usr/bin/env python3
"""An independent PyTorch implementation of dytcl's ViT-DyT (DYTCL_ARCH_VIT in
models/dytcl_model.h), for tests/test_conformance.c.

    python3 tests/reference/reference_vit.py            # (re)writes the files below
    python3 tests/reference/reference_vit.py --check CKPT IMAGES LOGITS

Generation writes, for each model NAME (vit-dyt-cls, vit-dyt-mean), into this
folder:

    NAME.safetensors         the weights as a dytcl ViT checkpoint (its metadata)
    NAME-io.safetensors      images [B, ch, H, W], labels [B] (as float32; -1 =
                             ignored), logits [B, K], loss [1], and for 10
                             AdamW steps on that same batch the loss before
                             each step and the gradient norm before clipping
                             (losses, grad_norms [10]); metadata: the
                             optimiser's settings
    NAME-grads.safetensors   d loss / d parameter, under the parameters' names
    NAME-step10.safetensors  the parameters after the 10 steps

--check loads a ViT checkpoint that dytcl wrote (dytcl_model_save), runs the forward
on "images" in IMAGES and compares with "logits" [B, K] in LOGITS: exit 0
when the relative error (by norm) is within --tol.

Written from models/dytcl_model.h and the ops' documentation in host/dytcl.h, not
from dytcl's code: float32; image b's patches numbered row by row, each a
vector of ch*p*p values ordered channel, row, column, embedded by a linear
layer; a class token in front (pool "cls": the logits read its row) or none
(pool "mean": the mean of all rows); learned positions; pre-norm blocks with
bidirectional multi-head attention (qkv rows: q's C outputs, then k's, then
v's) and a C -> F -> GELU (tanh form) -> C MLP; DyT (alpha a [1] parameter, y =
weight * tanh(alpha * x) + bias); a final DyT, the head, the mean
cross-entropy over the labelled images; torch.optim.AdamW with weight decay
on the matrices only (patch, qkv, proj, fc1, fc2 and head weights: not the
class token nor the positions) and clip_grad_norm_.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference import DyT, run_main, run_steps, st_read, st_write

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = "dytcl-checkpoint-1"
LEGACY = "dytcl-vit-1"  # the ViT files of earlier versions (the committed ones): dytcl reads both


def patchify(images, p):
    """images [B, ch, H, W] -> [B, N, ch*p*p]: patch n = (n // (W/p), n % (W/p)),
    its values ordered channel, row, column."""
    B, ch, H, W = images.shape
    x = images.reshape(B, ch, H // p, p, W // p, p)  # b, c, gy, i, gx, j
    return x.permute(0, 2, 4, 1, 3, 5).reshape(B, (H // p) * (W // p), ch * p * p)


class Attention(nn.Module):
    """Every query sees every key (no mask)."""

    def __init__(self, C, n_head):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in self.qkv(x).split(C, dim=-1))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
        y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, D]
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, C, Fd):
        super().__init__()
        self.fc1 = nn.Linear(C, Fd)
        self.fc2 = nn.Linear(Fd, C)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg["dim"]
        self.norm1 = DyT(C, cfg["alpha0"])
        self.attn = Attention(C, cfg["heads"])
        self.norm2 = DyT(C, cfg["alpha0"])
        self.mlp = MLP(C, cfg["mlp"])

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Parameter names are dytcl's checkpoint names."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C, p = cfg["dim"], cfg["patch"]
        N = (cfg["height"] // p) * (cfg["width"] // p)
        self.cls_pool = cfg["pool"] == "cls"
        self.patch = nn.Linear(cfg["channels"] * p * p, C)
        if self.cls_pool:
            self.cls = nn.Parameter(torch.zeros(C))
        self.pos = nn.Parameter(torch.zeros(N + self.cls_pool, C))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["layers"]))
        self.norm = DyT(C, cfg["alpha0"])
        self.head = nn.Linear(C, cfg["classes"])

    def forward(self, images):
        x = self.patch(patchify(images, self.cfg["patch"]))  # [B, N, C]
        if self.cls_pool:
            x = torch.cat((self.cls.expand(x.shape[0], 1, -1), x), dim=1)
        x = x + self.pos
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        pooled = x[:, 0] if self.cls_pool else x.mean(dim=1)
        return self.head(pooled)

    def decay_groups(self):
        """Weight decay on the linear layers' weights only."""
        decay = {id(m.weight) for m in self.modules() if isinstance(m, nn.Linear)}
        params = list(self.parameters())
        return [p for p in params if id(p) in decay], [p for p in params if id(p) not in decay]


# --------------------------------------------------------- the test files

CONFIGS = {
    # 8 x 12 two-channel images: 2 x 3 patches of 2*4*4 values, and a class token
    "vit-dyt-cls": dict(height=8, width=12, channels=2, patch=4, pool="cls"),
    # 8 x 8 grey images: 2 x 2 patches, mean pooling
    "vit-dyt-mean": dict(height=8, width=8, channels=1, patch=4, pool="mean"),
}
COMMON = dict(norm="dyt", dim=16, heads=2, layers=2, mlp=32, classes=10, alpha0=0.5, eps=1e-6, seed=1)
B = 3
OPTIM = dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.0, steps=10)
# dytcl's metadata key <- this script's config key
KEYS = {"norm": "norm", "pool": "pool", "image_height": "height", "image_width": "width",
        "image_channels": "channels", "patch": "patch", "d_model": "dim", "n_head": "heads", "n_layer": "layers",
        "d_ff": "mlp", "classes": "classes", "alpha_attn": "alpha0", "alpha_ffn": "alpha0", "alpha_final": "alpha0",
        "norm_eps": "eps"}
LEGACY_KEYS = ("norm", "pool", "height", "width", "channels", "patch", "dim", "heads", "layers", "mlp", "classes",
               "alpha0", "eps")


def checkpoint_metadata(cfg):
    md = {"format": FORMAT, "arch": "vit"}
    md.update({k: cfg[v] for k, v in KEYS.items()})
    md["keys"] = ",".join(md)
    return md


@torch.no_grad()
def init_weights(model, g):
    """Rougher than a training init, so that every term counts: attention
    scores of order 1, tanh partly saturated, norm parameters and biases
    away from 1 and 0."""
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if name in ("cls", "pos"):
            p.normal_(0.0, 0.5, generator=g)
        elif leaf == "alpha":
            p.mul_(torch.empty(1).uniform_(0.6, 1.4, generator=g))
        elif p.ndim == 2:  # linear weights
            p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]), generator=g)
        elif ".norm" in name or name.startswith("norm."):
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g) if leaf == "weight"
                    else 0.1 * torch.randn(p.shape, generator=g))
        elif leaf == "bias":
            p.normal_(0.0, 0.1, generator=g)
        else:
            raise AssertionError(name)


def generate(name, seed):
    cfg = dict(CONFIGS[name], **COMMON)
    g = torch.Generator().manual_seed(seed)
    model = ViT(cfg)
    init_weights(model, g)
    images = torch.randn(B, cfg["channels"], cfg["height"], cfg["width"], generator=g)
    labels = torch.randint(0, cfg["classes"], (B,), generator=g)
    if cfg["pool"] == "mean":
        labels[1] = -1  # an ignored image: the mean is over the other two

    st_write(os.path.join(HERE, f"{name}.safetensors"), dict(model.named_parameters()), checkpoint_metadata(cfg))

    def forward():
        logits = model(images)
        return logits, F.cross_entropy(logits, labels, ignore_index=-1)

    run_steps(name, model, forward, B, {"images": images, "labels": labels.float()}, dict(OPTIM, B=B))


# ------------------------------------------------------------ check mode


def config_from_metadata(meta, path):
    legacy = meta.get("format") == LEGACY
    if not legacy and (meta.get("format") != FORMAT or meta.get("arch") != "vit"):
        sys.exit(f"{path}: not a dytcl ViT checkpoint (format {meta.get('format')!r}, arch {meta.get('arch')!r})")
    if meta.get("norm") != "dyt" or meta.get("pool") not in ("cls", "mean"):
        sys.exit(f"{path}: this reference has DyT with pool cls or mean only "
                 f"(norm {meta.get('norm')}, pool {meta.get('pool')})")
    keys = {k: k for k in LEGACY_KEYS} if legacy else {v: k for k, v in KEYS.items()}
    if not legacy and len({meta[k] for k in ("alpha_attn", "alpha_ffn", "alpha_final")}) != 1:
        sys.exit(f"{path}: this reference has one alpha0 at every norm")
    cfg = {"norm": "dyt", "pool": meta["pool"]}
    for k in ("height", "width", "channels", "patch", "dim", "heads", "layers", "mlp", "classes"):
        cfg[k] = int(meta[keys[k]])
    cfg["alpha0"], cfg["eps"] = float(meta[keys["alpha0"]]), float(meta[keys["eps"]])
    return cfg


if __name__ == "__main__":
    sys.exit(run_main(__doc__, "images", lambda meta, path: ViT(config_from_metadata(meta, path)),
                      generate, [("vit-dyt-cls", 4321), ("vit-dyt-mean", 8765)]))
