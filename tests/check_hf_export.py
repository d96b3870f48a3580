"""check_hf_export.py DIR EXPECTED -- a dytcl Hugging Face export read by
transformers.

DIR was written by `dytcl export --format hf` (dytcl_model_export_hf);
EXPECTED is a .safetensors file with "tokens" [T] and "logits" [T, V], dytcl's
own logits for that prompt. The export is loaded with from_pretrained in
float32; an RMSNorm LLaMA or LayerNorm GPT-2 as it is, a DyT/Derf export
("dytcl_norm" in config.json) with its norms replaced by the modules of
docs/huggingface.md (the same code). Its logits must match dytcl's within
1e-4. Prints one line; exits 1 on a mismatch. Run by tests/test_hf.c when
transformers is importable, or by hand:

    python3 tests/check_hf_export.py build/tests/hf-work/export-llama-dyt \\
        build/tests/hf-work/export-llama-dyt.expected.safetensors
"""
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM

TOL = 1e-4


# ---- the code of docs/huggingface.md ---------------------------------------
class DynamicTanh(torch.nn.Module):
    """DyT: y = weight * tanh(alpha * x) + bias (Derf: erf(alpha * x + shift))."""

    def __init__(self, C, bias, derf=False):
        super().__init__()
        self.derf = derf
        self.alpha = torch.nn.Parameter(torch.ones(1))
        self.shift = torch.nn.Parameter(torch.zeros(1)) if derf else None
        self.weight = torch.nn.Parameter(torch.ones(C))
        self.bias = torch.nn.Parameter(torch.zeros(C)) if bias else None

    def forward(self, x):
        y = torch.erf(self.alpha * x + self.shift) if self.derf else torch.tanh(self.alpha * x)
        y = self.weight * y
        return y + self.bias if self.bias is not None else y


class ScaledEmbedding(torch.nn.Module):
    """A LLaMA-DyT's embedding times its learned scalar model.embed_scale."""

    def __init__(self, emb):
        super().__init__()
        self.emb = emb
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, ids):
        return self.emb(ids) * self.scale


def load_dytcl(path):
    """from_pretrained; or, when config.json says "dytcl_norm", the model
    built from its config with DyT/Derf in place of every norm, then the
    tensors of model.safetensors loaded into it."""
    config = AutoConfig.from_pretrained(path)
    kind = getattr(config, "dytcl_norm", None)
    if kind is None:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    derf, gpt = kind == "derf", model.config.model_type == "gpt2"
    C = model.config.hidden_size
    for name, module in list(model.named_modules()):
        if isinstance(module, (torch.nn.LayerNorm,)) or type(module).__name__.endswith("RMSNorm"):
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent), attr, DynamicTanh(C, bias=gpt, derf=derf))
    state = load_file(os.path.join(path, "model.safetensors"))
    if "model.embed_scale" in state:
        model.model.embed_tokens = ScaledEmbedding(model.model.embed_tokens)
        state["model.embed_tokens.scale"] = state.pop("model.embed_scale")
        state["model.embed_tokens.emb.weight"] = state.pop("model.embed_tokens.weight")
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing, unexpected)
    if gpt:
        model.tie_weights()
    return model.eval()
# -----------------------------------------------------------------------------


def main():
    path, expected = sys.argv[1], sys.argv[2]
    ref = load_file(expected)
    tokens = ref["tokens"].long().unsqueeze(0)
    model = load_dytcl(path)
    with torch.no_grad():
        logits = model(tokens).logits[0]
    diff = (logits - ref["logits"]).abs().max().item()
    ok = diff <= TOL
    print(f"check_hf_export: {os.path.basename(path.rstrip('/'))}: {type(model).__name__}, "
          f"max |logit diff| vs dytcl {diff:.3g} over {tuple(logits.shape)}: {'ok' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
