#!/usr/bin/env python3
"""The llama.cpp peer of `dytcl bench decode --peer`: the same checkpoint,
converted to GGUF (bench/peers/to_gguf.py), run by llama.cpp through PyPI's
llama-cpp-python (its C API, called through ctypes: no tokenizer, no sampler).

    python3 bench/peers/llama_peer.py --checkpoint CKPT.safetensors --workdir DIR
            --tokens 5,17,... [--ref f32=FILE,f16=FILE,q8_0=FILE] [--types f32,f16,q8_0]
            [--threads N]

On start it converts the checkpoint once per weight type and loads each; then
it checks each model's logits at every position of --tokens (one batch)
against dytcl's (--ref: raw float32 [len(tokens), V] per type) and prints one
JSON line: {"ready": true, "llama_cpp": version, "checks": {type: {"max_abs",
"max_ref", "rel", "tol", "ok", "timed": {...}}}} or {"ready": false, "error":
...}. No type is timed unless its check passed. The check proper runs with
flash attention off: f32 against dytcl's f32 logits within 1e-4 of the
largest |logit| (the same weights and arithmetic up to summation order: a
q/k row order for the other RoPE layout gives 0.4 here), f16 within 2e-2,
and q8_0 within 1e-1 or 1.5x the distance of dytcl's own q8 logits from its
f32 ones, whichever is more: llama.cpp rounds the activations to 8 bits for
Q8_0 products where dytcl keeps them in f32, an error of the same size as
the weights' own on this deliberately sharp model (dytcl's q8 logits lie
0.05 from its f32 ones at d 512 x 4, 0.25 at d 1024 x 8; llama.cpp's Q8_0
0.05 and 0.25 from dytcl's q8). The row layout is what f32 checks. "timed"
is the context that is timed, flash attention as llama.cpp chooses (on CPUs
it rounds to f16 inside: 2e-3 to 1e-2 at f32), within 5e-2 or the check's
tolerance.

Then it answers one line per command on stdin, each a JSON line:
    pp TYPE N   prompt processing: N tokens in one batch from an empty cache,
                the last position's logits read; {"tok_s": N / seconds}
    tg TYPE N   generation: an 8-token prompt (not timed), then N single-token
                steps, each step's token taken from the previous step's logits
                (as dytcl's benchmark does); {"tok_s": N / seconds}
    quit
The KV cache is f32 (dytcl's is), flash attention as llama.cpp chooses;
threads: --threads (default: one per CPU) for both kinds of batch. On CPUs
with AMX, Q8_0 models load without llama.cpp's extra buffer types (AMX, the
repacked layouts): its AMX Q8_0 kernels crash on batches of more than one
token in llama-cpp-python 0.3.36; "notes" in the first line says so.
"""
import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import to_gguf  # noqa: E402

TOL = {"f32": 1e-4, "f16": 2e-2, "q8_0": 1e-1}
Q8_SPREAD = 1.5  # q8_0: within 1.5x the distance of dytcl's q8 logits from its f32 ones, if that is more
TIMED_TOL = 5e-2  # the timed context: flash attention as llama.cpp chooses (f16 inside on CPUs)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Model:
    def __init__(self, ll, path, n_ctx, threads, flash_attn=-1, extra_bufts=True):
        self.ll = ll
        mp = ll.llama_model_default_params()
        mp.use_extra_bufts = extra_bufts  # False: no AMX / repacked weight layouts
        self.model = ll.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        cp = ll.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = cp.n_ubatch = max(512, n_ctx)
        cp.n_threads = cp.n_threads_batch = threads
        cp.type_k = cp.type_v = 0  # GGML_TYPE_F32
        cp.no_perf = True
        cp.flash_attn_type = flash_attn  # -1: llama.cpp's choice, 0: off
        self.ctx = ll.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context for {path}")
        vocab = ll.llama_model_get_vocab(self.model)
        self.n_vocab = ll.llama_vocab_n_tokens(vocab)
        self.batch = ll.llama_batch_init(cp.n_batch, 0, 1)

    def clear(self):
        self.ll.llama_memory_clear(self.ll.llama_get_memory(self.ctx), True)

    def decode(self, tokens, pos0, all_logits=False):
        b = self.batch
        n = len(tokens)
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = pos0 + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1 if (all_logits or i == n - 1) else 0
        b.n_tokens = n
        rc = self.ll.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def logits(self, i):
        p = self.ll.llama_get_logits_ith(self.ctx, i)
        return np.ctypeslib.as_array(p, shape=(self.n_vocab,))

    def close(self):
        self.ll.llama_batch_free(self.batch)
        self.ll.llama_free(self.ctx)
        self.ll.llama_model_free(self.model)


def check(m, tokens, ref, tol):
    m.clear()
    m.decode(tokens, 0, all_logits=True)
    got = np.stack([m.logits(i).copy() for i in range(len(tokens))])
    max_abs = float(np.max(np.abs(got - ref)))
    max_ref = float(np.max(np.abs(ref)))
    rel = max_abs / max_ref if max_ref > 0 else float("inf")
    return {"max_abs": max_abs, "max_ref": max_ref, "rel": rel, "tol": tol, "ok": bool(rel <= tol)}


def pp(m, n, V):
    toks = [(7 * i + 3) % V for i in range(n)]
    m.clear()
    t0 = time.perf_counter()
    m.decode(toks, 0)
    float(m.logits(n - 1)[0])
    return n / (time.perf_counter() - t0)


def tg(m, n, V):
    m.clear()
    m.decode([ord("a") + i for i in range(8)], 0)
    lg = m.logits(7)
    t0 = time.perf_counter()
    for i in range(n):
        tok = int(abs(float(lg[i % V]) * 1e3)) % V  # depends on the last step
        m.decode([tok], 8 + i)
        lg = m.logits(0)
    return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--tokens", required=True, help="comma-separated token ids of the logits check")
    p.add_argument("--ref", default="", help="TYPE=FILE,... dytcl's logits [len(tokens), V] float32")
    p.add_argument("--types", default="f32,f16,q8_0")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--ctx", type=int, default=1024)
    a = p.parse_args()
    try:
        import llama_cpp as ll
    except ImportError as e:
        say({"ready": False, "error": f"llama-cpp-python is not installed ({e})"})
        return 3
    threads = a.threads or os.cpu_count() or 1
    tokens = [int(x) for x in a.tokens.split(",") if x]
    refs = dict(kv.split("=", 1) for kv in a.ref.split(",") if kv)
    types = [t for t in a.types.split(",") if t]
    quiet = ll.llama_log_callback(lambda level, text, user: None)  # kept alive while llama.cpp runs
    ll.llama_log_set(quiet, ctypes.c_void_p(0))
    ll.llama_backend_init()
    models, checks = {}, {}
    # llama.cpp's AMX kernels (CPUs with AMX_INT8) crash on Q8_0 products of
    # more than one row (ggml_backend_amx_mul_mat, llama-cpp-python 0.3.36):
    # there Q8_0 loads without the extra buffer types, on ggml's own CPU kernels
    system = ll.llama_print_system_info().decode(errors="replace").strip()
    amx = "AMX_INT8 = 1" in system
    extra = {t: not (amx and t == "q8_0") for t in types}
    notes = [f"{t}: without AMX (its Q8_0 path crashes on batches here)" for t in types if not extra[t]]
    try:
        for t in types:
            path = os.path.join(a.workdir, f"model-{t}.gguf")
            to_gguf.convert(a.checkpoint, path, t)
            models[t] = Model(ll, path, a.ctx, threads, extra_bufts=extra[t])
            V = models[t].n_vocab
            if t in refs:
                ref = np.fromfile(refs[t], dtype=np.float32).reshape(len(tokens), V)
                tol = TOL[t]
                if t == "q8_0" and "f32" in refs:  # the quantization's own effect on dytcl's logits
                    f32 = np.fromfile(refs["f32"], dtype=np.float32).reshape(len(tokens), V)
                    tol = max(tol, Q8_SPREAD * float(np.max(np.abs(ref - f32)) / np.max(np.abs(f32))))
                exact = Model(ll, path, a.ctx, threads, flash_attn=0, extra_bufts=extra[t])
                checks[t] = check(exact, tokens, ref, tol)
                exact.close()
                checks[t]["timed"] = check(models[t], tokens, ref, max(TIMED_TOL, tol))
                checks[t]["ok"] = checks[t]["ok"] and checks[t]["timed"]["ok"]
    except (to_gguf.Unsupported, RuntimeError, KeyError, ValueError) as e:
        say({"ready": False, "error": str(e)})
        return 2
    bad = [t for t in types if t not in checks or not checks[t]["ok"]]
    say({"ready": not bad, "llama_cpp": getattr(ll, "__version__", "?"), "threads": threads,
         "system": system, "checks": checks, "notes": notes,
         **({"error": "logits differ from dytcl's (or were not checked): " + ",".join(bad)} if bad else {})})
    if bad:
        return 2
    for line in sys.stdin:
        w = line.split()
        if not w or w[0] == "quit":
            break
        try:
            m = models[w[1]]
            rate = pp(m, int(w[2]), m.n_vocab) if w[0] == "pp" else tg(m, int(w[2]), m.n_vocab)
            say({"tok_s": rate})
        except (KeyError, IndexError, ValueError, RuntimeError) as e:
            say({"error": f"{line.strip()}: {e}"})
    for m in models.values():
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
