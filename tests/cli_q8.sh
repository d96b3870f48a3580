#!/bin/sh
# dytcl export / generate with q8 weights end to end: generate --dtype q8
# runs; export --dtype q8 (folded first) writes NAME.q I8 and NAME.scale
# F32 pairs with "dtype" = "q8" (read with Python's json and struct only),
# and decodes without --dtype, as q8, to the same tokens as quantizing at
# load; training does not resume from it; widths that are not multiples of
# 32 are refused.
# usage: cli_q8.sh DYTCL WORKDIR   (PYTHON: the interpreter, default python3)
set -u
DYTCL=$1
W=$2
PY=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"

"$DYTCL" train $A --out m.st --log m.csv > train.out 2>&1
check "train a small llama-dyt model" "[ $? -eq 0 ]"
G="--prompt the --tokens 40 --temperature 0 --ids"
"$DYTCL" generate --model m.st $G --dtype q8 --stats > q8.txt 2> q8.err
check "generate --dtype q8 (40 tokens, speed on stderr)" "[ $? -eq 0 ] && [ \$(wc -l < q8.txt) -eq 40 ] && grep -q 'tokens/s (weights q8' q8.err"
"$DYTCL" export --dtype q8 m.st e.st > export.out 2>&1
check "export --dtype q8" "[ $? -eq 0 ]"
"$DYTCL" generate --model e.st $G --stats > e.txt 2> e.err
check "the q8 export decodes as q8 by default, the same tokens as quantizing at load" "[ $? -eq 0 ] && grep -q 'tokens/s (weights q8' e.err && cmp -s q8.txt e.txt"
if command -v "$PY" > /dev/null 2>&1; then
  "$PY" - e.st > py.out 2>&1 <<'PYEOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop("__metadata__")
assert meta["dtype"] == "q8", meta["dtype"]
q = {k: v for k, v in h.items() if k.endswith(".q")}
assert q, "no .q tensors"
for k, v in q.items():
    s = h[k[:-2] + ".scale"]
    assert v["dtype"] == "I8" and s["dtype"] == "F32", (k, v["dtype"], s["dtype"])
    N, K = v["shape"]
    assert s["shape"] == [N, K // 32] and K % 32 == 0, (k, v["shape"], s["shape"])
    o0, o1 = v["data_offsets"]
    assert o1 - o0 == N * K, k
    assert k[:-2] not in h, k
for k in ("wte",):
    assert h[k]["dtype"] == "F32", k
print("%d q8 matrices, I8 quants and F32 scales" % len(q))
PYEOF
  check "q8 export read by Python: $(tail -1 py.out)" "[ $? -eq 0 ]"
else
  echo "skip: no $PY to read the q8 export with"
fi
"$DYTCL" train --resume e.st --data text.txt --out r.st --log r.csv > /dev/null 2> err.txt
check "train --resume from a q8 export refused, saying why" "[ $? -eq 1 ] && grep -q 'q8 weights (dytcl export)' err.txt && [ ! -e r.st ]"
"$DYTCL" train --data text.txt --batch 2 --seq 16 --dim 48 --layers 1 --heads 2 --steps 1 --eval-every 0 --out n.st --log n.csv > /dev/null 2>&1
check "train a d_model 48 model" "[ $? -eq 0 ]"
"$DYTCL" export --dtype q8 n.st n8.st > /dev/null 2> err.txt
check "export --dtype q8 of d_model 48 refused, naming the block" "[ $? -eq 1 ] && grep -q 'multiple of 32' err.txt && [ ! -e n8.st ]"
"$DYTCL" generate --model n.st --tokens 2 --dtype q8 > /dev/null 2> err.txt
check "generate --dtype q8 of d_model 48 refused" "[ $? -eq 1 ] && grep -q 'multiple of 32' err.txt"
exit $fail
