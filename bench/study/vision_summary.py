#!/usr/bin/env python3
"""vision_summary.py -- the vision study's tables (bench/study/vision.sh).

    bench/study/vision_summary.py OUTDIR [--md OUT.md] [--csv OUT.csv]

Reads OUTDIR/runs/*.csv (one per-epoch log per run, named
BUDGET-NORM-lrLR-aALPHA0-sSEED.csv) and prints, per budget, each norm at
its best grid point (the highest mean test accuracy over the seeds that
finished), with mean, sample standard deviation and range over the seeds
and the distance to LayerNorm's best; then every grid point's mean.
--csv writes one row per finished run. Standard library only."""
import csv
import glob
import math
import os
import re
import sys
from collections import defaultdict

NORMS = ("layernorm", "rmsnorm", "dyt", "derf")
NAMES = {"layernorm": "LayerNorm", "rmsnorm": "RMSNorm", "dyt": "DyT", "derf": "Derf"}
BUDGETS = {"short": "short (the demo's: 10 000 images x 4 epochs, 625 steps)",
           "long": "long (60 000 images x 4 epochs, 3 750 steps)"}
KEY = re.compile(r"^(short|long)-(\w+)-lr([0-9.e+-]+)-a([0-9.]+|-)-s(\d+)\.csv$")


def runs(outdir):
    """(budget, norm, lr, alpha0, seed, accuracy %, test loss, train loss) of every finished run"""
    out = []
    for path in sorted(glob.glob(os.path.join(outdir, "runs", "*.csv"))):
        m = KEY.match(os.path.basename(path))
        if not m:
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or rows[-1]["epoch"] != "4":
            continue
        last = rows[-1]
        out.append((m[1], m[2], m[3], m[4], int(m[5]), 100 * float(last["test_accuracy"]),
                    float(last["test_loss"]), float(last["train_loss"])))
    return out


def stats(xs):
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
    return mean, sd, min(xs), max(xs)


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    outdir, md, csv_out = argv[1], None, None
    args = argv[2:]
    while args:
        if args[0] in ("--md", "--csv") and len(args) > 1:
            if args[0] == "--md":
                md = args[1]
            else:
                csv_out = args[1]
            args = args[2:]
        else:
            sys.stderr.write("vision_summary.py: unknown argument %s\n" % args[0])
            return 2
    rs = runs(outdir)
    if not rs:
        sys.stderr.write("vision_summary.py: no finished runs under %s/runs\n" % outdir)
        return 1
    grid = defaultdict(list)  # (budget, norm, lr, a) -> [(acc, loss)]
    for b, n, lr, a, s, acc, loss, _ in rs:
        grid[(b, n, lr, a)].append((acc, loss))
    lines = []
    for b in BUDGETS:
        points = {k: v for k, v in grid.items() if k[0] == b}
        if not points:
            continue
        seeds = max(len(v) for v in points.values())
        best = {}
        for n in NORMS:
            cand = [(stats([x[0] for x in v])[0], k, v) for k, v in points.items()
                    if k[1] == n and len(v) == seeds]
            if cand:
                best[n] = max(cand)
        lines.append("**%s**, each norm at its best grid point (%d seeds):" % (BUDGETS[b], seeds))
        lines.append("")
        lines.append("| norm | lr | alpha0 | test accuracy, mean ± sd | range | test loss | vs LayerNorm |")
        lines.append("|---|---|---|---|---|---|---|")
        ln = best.get("layernorm")
        for n in NORMS:
            if n not in best:
                continue
            _, k, v = best[n]
            mean, sd, lo, hi = stats([x[0] for x in v])
            gap = "%+.2f points" % (mean - ln[0]) if ln and n != "layernorm" else ""
            lines.append("| %s | %s | %s | **%.2f %%** ± %.2f | %.2f–%.2f | %.3f | %s |" % (
                NAMES[n], k[2], k[3], mean, sd, lo, hi, stats([x[1] for x in v])[0], gap))
        lines.append("")
        lrs = sorted({k[2] for k in points}, key=float)
        lines.append("Every grid point (mean test accuracy %%, %s):" % b)
        lines.append("")
        lines.append("| norm | alpha0 | " + " | ".join("lr " + lr for lr in lrs) + " |")
        lines.append("|---|---|" + "---|" * len(lrs))
        for n in NORMS:
            for a in sorted({k[3] for k in points if k[1] == n}, key=lambda a: -1 if a == "-" else float(a)):
                cells = []
                for lr in lrs:
                    v = points.get((b, n, lr, a))
                    cells.append("%.2f%s" % (stats([x[0] for x in v])[0], "" if len(v) == seeds else " (%d)" % len(v))
                                 if v else "")
                lines.append("| %s | %s | %s |" % (NAMES[n], a, " | ".join(cells)))
        lines.append("")
    text = "\n".join(lines)
    if md:
        with open(md, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    if csv_out:
        with open(csv_out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["budget", "norm", "lr", "alpha0", "seed", "test_accuracy", "test_loss", "train_loss"])
            for r in rs:
                w.writerow(list(r[:5]) + ["%.2f" % r[5], "%.4f" % r[6], "%.4f" % r[7]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
