"""check_half_export.py F32 HALF DTYPE -- a dytcl export read without dytcl.

Reads both .safetensors files with json and struct only (the format: an
8-byte little-endian header length, the JSON header, the little-endian data)
and checks HALF against F32: the same tensors and shapes, no AdamW state,
2-D tensors stored as DTYPE (F16 or BF16) with 2-byte elements, each the
float32 value rounded to nearest even (struct's 'e' for F16; for BF16 the
top 16 bits after rounding), 1-D tensors F32 and equal. When the Python
safetensors package (with torch) is importable, it must open HALF with the
same dtypes and shapes, and torch's own rounding must give the same values.
Prints one line per finding; exits 1 on any failure."""
import json
import math
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


def values(entry, data):
    b, e = entry["data_offsets"]
    chunk = data[b:e]
    dt = entry["dtype"]
    if dt == "F32":
        return list(struct.unpack("<%df" % (len(chunk) // 4), chunk))
    words = struct.unpack("<%dH" % (len(chunk) // 2), chunk)
    if dt == "BF16":
        return [struct.unpack("<f", struct.pack("<I", w << 16))[0] for w in words]
    return [struct.unpack("<e", struct.pack("<H", w))[0] for w in words]


def bf16_round(x):
    (u,) = struct.unpack("<I", struct.pack("<f", x))
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFFFFFF
    return struct.unpack("<f", struct.pack("<I", u & 0xFFFF0000))[0]


def f16_round(x):
    try:
        return struct.unpack("<e", struct.pack("<e", x))[0]  # IEEE round to nearest even
    except OverflowError:
        return math.copysign(math.inf, x)


def main():
    ref_path, half_path, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
    fails = 0
    ref, ref_data = read(ref_path)
    half, half_data = read(half_path)
    names = sorted(k for k in ref if k != "__metadata__" and not k.startswith("opt."))
    got = sorted(k for k in half if k != "__metadata__")
    if names != got:
        print("FAIL: tensors differ: %s" % sorted(set(names) ^ set(got)))
        return 1
    rnd = bf16_round if dtype == "BF16" else f16_round
    for k in names:
        r, h = ref[k], half[k]
        want_dt = dtype if len(r["shape"]) == 2 else "F32"
        size = 2 if want_dt != "F32" else 4
        b, e = h["data_offsets"]
        if h["dtype"] != want_dt or h["shape"] != r["shape"] or e - b != size * math.prod(r["shape"]):
            print("FAIL: %s is %s %s (%d bytes), expected %s %s" % (k, h["dtype"], h["shape"], e - b, want_dt, r["shape"]))
            fails += 1
            continue
        want = values(r, ref_data)
        if want_dt != "F32":
            want = [rnd(x) for x in want]
        if values(h, half_data) != want:
            print("FAIL: %s: values are not the rounded float32 ones" % k)
            fails += 1
    meta = half.get("__metadata__", {})
    if meta.get("dtype") != dtype.lower():
        print("FAIL: metadata dtype is %r" % meta.get("dtype"))
        fails += 1
    print("json/struct reader: %d tensors checked, %d failures" % (len(names), fails))
    try:
        import torch
        from safetensors.torch import load_file
    except ImportError:
        print("the safetensors Python package is not installed: checked with json/struct only")
        return 1 if fails else 0
    t, r = load_file(half_path), load_file(ref_path)
    tdt = torch.bfloat16 if dtype == "BF16" else torch.float16
    for k in names:
        want = r[k].to(tdt) if r[k].dim() == 2 else r[k]
        if t[k].dtype != want.dtype or t[k].shape != want.shape or not torch.equal(t[k], want):
            print("FAIL: safetensors/torch: %s is %s %s" % (k, t[k].dtype, tuple(t[k].shape)))
            fails += 1
    print("safetensors %s: opened, dtypes, shapes and torch's rounding agree" % __import__("safetensors").__version__)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
