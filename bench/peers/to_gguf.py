#!/usr/bin/env python3
"""A dytcl checkpoint (LLaMA, RMSNorm) as a GGUF file for llama.cpp, with
PyPI's `gguf` package; used by the llama.cpp peer of `dytcl bench decode`
(bench/peers/llama_peer.py), not by dytcl itself.

    python3 bench/peers/to_gguf.py CHECKPOINT.safetensors OUT.gguf [--type f32|f16|q8_0]

The checkpoint is read as a plain safetensors file (an 8-byte header length,
a JSON header with "__metadata__" and the tensors' dtype, shape and offsets,
then the data); F32, F16 and BF16 tensors are widened to float32 first.

The mapping (dytcl -> llama.cpp's LLAMA architecture):
    wte [V, C]                 -> token_embd.weight
    h.L.norm1.weight           -> blk.L.attn_norm.weight
    h.L.attn.qkv.weight [3C,C] -> blk.L.attn_q / attn_k / attn_v.weight (rows 0..C, C..2C, 2C..3C;
                                  with n_kv_head in the metadata, k and v have n_kv_head * D rows)
    h.L.attn.proj.weight       -> blk.L.attn_output.weight
    h.L.norm2.weight           -> blk.L.ffn_norm.weight
    h.L.mlp.gate_up [2F, C]    -> blk.L.ffn_gate.weight (rows 0..F), ffn_up.weight (F..2F)
    h.L.mlp.down.weight        -> blk.L.ffn_down.weight
    normf.weight               -> output_norm.weight
    lm_head.weight             -> output.weight
No row is permuted: dytcl's RoPE rotates interleaved pairs (x[2i], x[2i+1]),
which is llama.cpp's rope type for LLAMA ("normal"); the Hugging Face layout
(rotate_half) is the one that needs q and k permuted, and that is not this.
llama_peer.py checks the logits against dytcl's before it times anything.

DyT (and Derf) have no llama.cpp op: such a checkpoint is refused, as are GPT
and ViT checkpoints. A weight type of f16 or q8_0 applies to the linear
layers' matrices; the norm vectors stay f32 (as llama.cpp's own converter
does), and so does the token embedding table, as dytcl keeps it whatever
its weight dtype (a lookup reads one row per token: no speed to gain).
"""
import argparse
import json
import struct
import sys

import numpy as np

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


class Unsupported(Exception):
    pass


def read_safetensors(path):
    """(metadata dict, {name: float32 ndarray})"""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop("__metadata__", {}) or {}
        tensors = {}
        for name, t in header.items():
            if t["dtype"] not in ST_DTYPES:
                raise Unsupported(f"{name}: dtype {t['dtype']} is not read here")
            a, b = t["data_offsets"]
            f.seek(base + a)
            raw = np.frombuffer(f.read(b - a), dtype=ST_DTYPES[t["dtype"]])
            if t["dtype"] == "BF16":
                raw = (raw.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = raw.astype(np.float32).reshape(t["shape"])
    return meta, tensors


def convert(ckpt, out, wtype="f32"):
    import gguf  # imported here so that --help works without it

    meta, t = read_safetensors(ckpt)
    if meta.get("format") != "dytcl-checkpoint-1":
        raise Unsupported(f"{ckpt}: not a dytcl checkpoint (format {meta.get('format')!r})")
    if meta.get("arch") != "llama":
        raise Unsupported(f"arch {meta.get('arch')!r}: only llama maps onto llama.cpp's LLAMA")
    if meta.get("norm") != "rmsnorm":
        raise Unsupported(f"norm {meta.get('norm')!r}: llama.cpp has RMSNorm only (no DyT or Derf op)")
    if meta.get("folded", "0") != "0":
        raise Unsupported("a folded checkpoint")
    if meta.get("dtype", "f32") not in ("f32", "f16", "bf16"):
        raise Unsupported(f"weights stored as {meta.get('dtype')}: export f32 for the converter")
    L, H, C = int(meta["n_layer"]), int(meta["n_head"]), int(meta["d_model"])
    Hkv = int(meta.get("n_kv_head", H))
    V, Fd, T = int(meta["vocab"]), int(meta["d_ff"]), int(meta["max_seq"])
    D = C // H
    qt = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
          "q8_0": gguf.GGMLQuantizationType.Q8_0}[wtype]
    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[wtype]

    w = gguf.GGUFWriter(out, "llama")
    w.add_name("dytcl-" + meta.get("norm", ""))
    w.add_context_length(T)
    w.add_embedding_length(C)
    w.add_block_count(L)
    w.add_feed_forward_length(Fd)
    w.add_head_count(H)
    w.add_head_count_kv(Hkv)
    w.add_rope_dimension_count(D)
    w.add_rope_freq_base(float(meta["rope_theta"]))
    w.add_layer_norm_rms_eps(float(meta["norm_eps"]))
    w.add_vocab_size(V)
    w.add_file_type(ftype)
    w.add_tokenizer_model("none")  # dytcl's byte tokens: the benchmark feeds token ids

    def matrix(name, a):
        a = np.ascontiguousarray(a, dtype=np.float32)
        if qt == gguf.GGMLQuantizationType.F32:
            w.add_tensor(name, a)
        elif qt == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, a.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(a, qt), raw_dtype=qt)

    def vector(name, a):
        w.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))

    vector("token_embd.weight", t["wte"])  # f32 whatever the type: dytcl's table is (a row read per token)
    for l in range(L):
        qkv = t[f"h.{l}.attn.qkv.weight"]
        if qkv.shape != (C + 2 * Hkv * D, C):
            raise Unsupported(f"h.{l}.attn.qkv.weight has shape {qkv.shape}")
        gu = t[f"h.{l}.mlp.gate_up.weight"]
        vector(f"blk.{l}.attn_norm.weight", t[f"h.{l}.norm1.weight"])
        matrix(f"blk.{l}.attn_q.weight", qkv[:C])
        matrix(f"blk.{l}.attn_k.weight", qkv[C:C + Hkv * D])
        matrix(f"blk.{l}.attn_v.weight", qkv[C + Hkv * D:])
        matrix(f"blk.{l}.attn_output.weight", t[f"h.{l}.attn.proj.weight"])
        vector(f"blk.{l}.ffn_norm.weight", t[f"h.{l}.norm2.weight"])
        matrix(f"blk.{l}.ffn_gate.weight", gu[:Fd])
        matrix(f"blk.{l}.ffn_up.weight", gu[Fd:])
        matrix(f"blk.{l}.ffn_down.weight", t[f"h.{l}.mlp.down.weight"])
    vector("output_norm.weight", t["normf.weight"])
    matrix("output.weight", t["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--type", default="f32", choices=["f32", "f16", "q8_0"])
    a = p.parse_args()
    try:
        convert(a.checkpoint, a.out, a.type)
    except Unsupported as e:
        print(f"to_gguf: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
