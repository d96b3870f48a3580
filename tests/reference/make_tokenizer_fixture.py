#!/usr/bin/env python3
"""Writes the byte-level BPE fixtures of test_tokenizer (run by hand; the
tests only read what it wrote):

  bpe-tokenizer.json   a GPT-2-style byte-level BPE (ByteLevel pre-tokenizer
                       and decoder, about 400 merges, <|endoftext|> as an
                       added special token) trained by Hugging Face's
                       `tokenizers` (pip install tokenizers) on the fortunes
                       text and the cases below
  bpe-expected.json    [[text, [ids]], ...]: `tokenizers`' own encoding
                       (no special tokens added) of a few hundred varied texts

usage: python3 tests/reference/make_tokenizer_fixture.py [FORTUNES_DIR]
"""
import json
import os
import random
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
FORTUNES = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/games/fortunes"

# Hand-written cases: scripts, accents, emoji, digits, whitespace of every
# kind, contractions, punctuation runs, the added token inside text.
CASES = [
    "", " ", "  ", "\t", "\n", "\n\n", " \n ", "a", "hello world", "Hello, World!",
    "don't stop: it's what we'd do, we'll see, you're right, they've gone, I'm here",
    "DON'T SHOUT'S 'quoted' ''double'' 's 't 're 've 'm 'll 'd",
    "naïve café — résumé, Ångström, façade, jalapeño, Zürich, Øresund",
    "αβγ δέλτα Ελληνικά, русский текст, עברית, العربية",
    "日本語のテキストと漢字、中文字符和标点。한국어 문장도 있습니다.",
    "emoji 🙂🙃 👍🏽 👨‍👩‍👧 🇫🇷 flags and ZWJ sequences",
    "digits 0123456789 1,234.56 3.14159 2026-12-07 ½ ¾ ² ³ Ⅻ ٣٤٥ १२३",
    "runs    of     spaces", "trailing spaces   ", "   leading spaces", "tabs\tand\t\ttabs\t",
    "line one\nline two\n\nline four after an empty line\n",
    "mixed \t \n\t whitespace \r\n windows line\r\n",
    "symbols !!! ??? ... --- +++ === @#$%^&*() [] {} <> ~`|\\/",
    "code: for (int i = 0; i < n; i++) { x[i] += y[i] * 2; }",
    "an <|endoftext|> in the middle<|endoftext|>and at the end<|endoftext|>",
    "<|endoftext|>", "non-breaking\u00a0space and\u2003em space and\u3000ideographic",
    "e\u0301 combining acute, n\u0303, a\u030a", "math ∑∫√∞≈≠≤≥ and arrows ←↑→↓",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
    "x" * 300, " " * 50 + "word", "\n" * 7, "ab" * 40 + " " + "ba" * 40,
]


def fortunes_text():
    parts = []
    for name in sorted(os.listdir(FORTUNES)):
        path = os.path.join(FORTUNES, name)
        if "." in name or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            parts.append(f.read())
    return "".join(parts)


def main():
    text = fortunes_text()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + 400 + 1, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text] + CASES * 3, trainer=trainer)
    tok.save(os.path.join(HERE, "bpe-tokenizer.json"))

    # the cases, then lines and groups of lines drawn from the fortunes
    rng = random.Random(7)
    lines = [l for l in text.split("\n") if len(l) < 200]
    cases = list(CASES)
    cases += [rng.choice(lines) for _ in range(200)]
    for _ in range(60):
        at = rng.randrange(len(lines) - 6)
        cases.append("\n".join(lines[at:at + rng.randrange(2, 6)]) + rng.choice(["", "\n", "\n\n", "  "]))
    out = []
    for c in cases:
        ids = tok.encode(c, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == c, c
        out.append([c, ids])
    with open(os.path.join(HERE, "bpe-expected.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(o, ensure_ascii=False) for o in out) + "\n]\n")
    print(f"{len(out)} cases, vocabulary {tok.get_vocab_size()}")


if __name__ == "__main__":
    main()
