"""make_gpt2_small.py -- a GPT-2-small-shaped model (vocab 50257, 12 layers,
768 wide, 12 heads, 1024 positions: 124 M parameters) with random weights,
made locally by transformers (nothing downloaded), and a byte-level BPE
tokenizer.json of the same 50257 ids (the 256 byte tokens, 50000 merges of
made-up pairs, <|endoftext|>), for measuring dytcl at that scale:

    python3 bench/peers/make_gpt2_small.py OUT_DIR
    dytcl generate --model OUT_DIR --prompt "..." --tokens 32
    dytcl train --init OUT_DIR --data text.txt --batch 1 --seq 256 --steps 2 ...
"""
import json
import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def byte_chars():
    """GPT-2's byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def tokenizer_json(vocab_size):
    chars = byte_chars()
    vocab = {c: i for i, c in enumerate(chars)}
    merges = []
    letters = [chars[b] for b in b"etaoinshrdlucmfwypvbgkjqxz"]
    level = list(letters)  # the tokens of one length; the next length appends a letter
    while len(vocab) < vocab_size - 1:  # the last id is <|endoftext|>
        longer = []
        for a in level:
            for b in letters:
                if len(vocab) == vocab_size - 1:
                    break
                vocab[a + b] = len(vocab)
                merges.append(a + " " + b)
                longer.append(a + b)
        level = longer
    eot = vocab_size - 1
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": merges},
    }


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
    model = GPT2LMHeadModel(cfg)
    model.save_pretrained(out, safe_serialization=True)
    with open(f"{out}/tokenizer.json", "w") as f:
        json.dump(tokenizer_json(cfg.vocab_size), f, ensure_ascii=False)
    print(f"{out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")


if __name__ == "__main__":
    main()
