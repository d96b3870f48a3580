"""check_hf_export.py DIR EXPECTED [DIR EXPECTED ...] -- dytcl Hugging Face
exports read by transformers.

DIR was written by `dytcl export --format hf` (dytcl_model_export_hf);
EXPECTED is a .safetensors file with "tokens" [T] and "logits" [T, V], dytcl's
own logits for that prompt. The export is loaded with from_pretrained in
float32; an RMSNorm LLaMA or LayerNorm GPT-2 as it is, a DyT/Derf export
("dytcl_norm" in config.json) by the PyTorch code of docs/huggingface.md,
run as it stands there. Its logits must match dytcl's within
1e-4. Prints one line per export; exits 1 on any mismatch. Run by tests/test_hf.c when
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


DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "huggingface.md")


def load_dytcl(path):
    """from_pretrained; or, when config.json says "dytcl_norm", the PyTorch
    code of docs/huggingface.md itself (its python block, run with its
    `path` set to this export): the model built from its config with DyT or
    Derf in place of every norm, then model.safetensors loaded into it."""
    config = AutoConfig.from_pretrained(path)
    if getattr(config, "dytcl_norm", None) is None:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with open(DOC) as f:
        code = f.read().split("```python\n", 1)[1].split("```", 1)[0]
    assert 'path = "out-dir"\n' in code, "docs/huggingface.md: the example no longer sets path"
    scope = {}
    exec(code.replace('path = "out-dir"\n', f"path = {path!r}\n"), scope)
    return scope["model"]


def check(path, expected):
    ref = load_file(expected)
    tokens = ref["tokens"].long().unsqueeze(0)
    model = load_dytcl(path)
    with torch.no_grad():
        logits = model(tokens).logits[0]
    diff = (logits - ref["logits"]).abs().max().item()
    ok = diff <= TOL
    print(f"check_hf_export: {os.path.basename(path.rstrip('/'))}: {type(model).__name__}, "
          f"max |logit diff| vs dytcl {diff:.3g} over {tuple(logits.shape)}: {'ok' if ok else 'FAIL'}")
    return ok


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit("usage: check_hf_export.py DIR EXPECTED [DIR EXPECTED ...]")
    results = [check(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
