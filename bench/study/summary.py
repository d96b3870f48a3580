#!/usr/bin/env python3
"""summary.py -- the norm study's table: for each setting (text, arch, width,
depth, lr, batch) the validation loss of each norm, averaged over the seeds,
divided by RMSNorm's.

    bench/study/summary.py OUTDIR/runs.csv [--json OUT.json] [--md OUT.md]

Prints a Markdown table (to stdout, or --md) and writes the same numbers as
JSON (--json). A ratio above 1.02 (more than 2 % behind RMSNorm) is marked
with '!'; on the Markov text RMSNorm's loss above the chain's entropy rate
(markov-entropy.txt beside runs.csv) is given too. Standard library only."""
import csv
import json
import math
import os
import sys
from collections import defaultdict


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    path, out_json, out_md = argv[1], None, None
    i = 2
    while i < len(argv):
        if argv[i] in ("--json", "--md") and i + 1 < len(argv):
            if argv[i] == "--json":
                out_json = argv[i + 1]
            else:
                out_md = argv[i + 1]
            i += 2
        else:
            sys.stderr.write("summary.py: unknown argument %s\n" % argv[i])
            return 2
    for out in (out_json, out_md):
        if out and os.path.exists(out) and os.path.samefile(out, path):
            sys.stderr.write("summary.py: %s is the input: refused\n" % out)
            return 1
    entropy = None
    ent_path = os.path.join(os.path.dirname(os.path.abspath(path)), "markov-entropy.txt")
    if os.path.exists(ent_path):
        for line in open(ent_path):
            k, v = line.split()
            if k == "entropy_rate":
                entropy = float(v)

    loss = defaultdict(list)  # (setting, norm) -> [val per seed]
    warned = defaultdict(int)
    settings = []
    with open(path) as f:
        for r in csv.DictReader(f):
            s = (r["data"], r["arch"], int(r["width"]), int(r["depth"]), r["lr"], int(r["batch"]))
            if s not in settings:
                settings.append(s)
            v = float(r["val_loss"])
            loss[(s, r["norm"])].append(v)
            warned[(s, r["norm"])] += int(r["warned"])

    def mean(xs):
        return sum(xs) / len(xs) if xs else float("nan")

    rows = []
    for s in settings:
        rms = mean(loss[(s, "rmsnorm")])
        row = {"data": s[0], "arch": s[1], "width": s[2], "depth": s[3], "lr": s[4], "batch": s[5],
               "seeds": len(loss[(s, "rmsnorm")]), "rmsnorm": rms}
        for n in ("dyt", "derf", "layernorm"):
            m = mean(loss[(s, n)])
            row[n] = m
            row[n + "_ratio"] = m / rms if rms > 0 and not math.isnan(m) else float("nan")
            row[n + "_seed_losses"] = loss[(s, n)]
            row[n + "_saturation_warnings"] = warned[(s, n)]
        row["rmsnorm_seed_losses"] = loss[(s, "rmsnorm")]
        if s[0] == "markov" and entropy is not None:
            row["entropy_rate"] = entropy
        rows.append(row)

    def cell(x):
        if math.isnan(x):
            return "n/a"
        return "%.3f%s" % (x, " !" if x > 1.02 else "")

    lines = ["| text | arch | width | depth | lr | batch | RMSNorm loss | DyT ÷ RMSNorm | Derf ÷ RMSNorm | "
             "LayerNorm ÷ RMSNorm | DyT warned |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = "%.3f" % r["rmsnorm"]
        if "entropy_rate" in r:
            base += " (H %.3f)" % r["entropy_rate"]
        lines.append("| %s | %s | %d | %d | %s | %d | %s | %s | %s | %s | %d/%d |" % (
            r["data"], r["arch"], r["width"], r["depth"], r["lr"], r["batch"], base, cell(r["dyt_ratio"]),
            cell(r["derf_ratio"]), cell(r["layernorm_ratio"]), r["dyt_saturation_warnings"],
            len(r["dyt_seed_losses"])))
    md = "\n".join(lines) + "\n"
    if out_md:
        open(out_md, "w").write(md)
    else:
        sys.stdout.write(md)
    if out_json:
        with open(out_json, "w") as f:
            json.dump({"runs_csv": os.path.basename(path), "entropy_rate_markov": entropy, "settings": rows}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
