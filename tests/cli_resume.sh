#!/bin/sh
# dytcl train stopped by SIGINT/SIGTERM, and resumed: the signal ends the run
# at the end of its step with a complete checkpoint (no temporary left), a
# line naming it and its step, exit 130/143; a resume keeps the log's rows up
# to the checkpoint's step only; what a checkpoint says of its run is checked
# (step, generator state, finite weights), and --seed or other --data on
# resume are refused rather than silently ignored.
# usage: cli_resume.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"
Q="--data text.txt --batch 2 --seq 16 --dim 16 --layers 1 --heads 2 --eval-every 0 --diag-every 0"

for sig in INT TERM; do
  "$DYTCL" train $Q --steps 100000 --save-every 3 --out s$sig.st --log s$sig.csv > s$sig.out 2> s$sig.err &
  pid=$!
  n=0; while [ ! -s s$sig.st ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
  sleep 0.3
  kill -$sig $pid
  wait $pid
  rc=$?
  want=130; [ $sig = TERM ] && want=143
  check "SIG$sig: exit $want" "[ $rc -eq $want ]"
  check "SIG$sig: the message names the checkpoint and its step" \
    "grep -q \"SIG$sig at step [0-9]*: stopped (the last good checkpoint is s$sig.st, at step [0-9]*)\" s$sig.err"
  check "SIG$sig: no temporary left" "! ls s$sig.st.tmp* > /dev/null 2>&1"
  "$DYTCL" generate --model s$sig.st --tokens 2 > /dev/null 2>&1
  check "SIG$sig: the checkpoint loads" "[ $? -eq 0 ]"
done
# The checkpoint is at the step the message names (saved at the signal).
st=$(sed -n 's/.*at step \([0-9]*\)).*/\1/p' sINT.err)
last=$(tail -n 1 sINT.csv | cut -d, -f1)
check "SIGINT: the checkpoint is at the last logged step" "[ \"$st\" = \"$last\" ]"

# A resume rewrites no row twice: the log holds each step once.
"$DYTCL" train $Q --steps 12 --save-every 4 --out r.st --log r.csv > /dev/null 2>&1
python3 - r.csv <<'PY'
import sys
rows = open(sys.argv[1]).read().splitlines()
# rows of steps 13..15, as a run killed after its checkpoint at step 12 leaves
more = ["%d,%s" % (13 + i, r.split(",", 1)[1]) for i, r in enumerate(rows[-3:])]
open(sys.argv[1], "a").write("".join(r + "\n" for r in more))
PY
"$DYTCL" train --resume r.st --data text.txt --steps 14 --out r.st --log r.csv > /dev/null 2> err.txt
check "resume from step 12" "[ $? -eq 0 ]"
check "the resumed log has each step once, 1..14" \
  "[ \"\$(tail -n +2 r.csv | cut -d, -f1 | tr '\n' ' ')\" = '1 2 3 4 5 6 7 8 9 10 11 12 13 14 ' ]"

# Tampered metadata and weights.
tamper() { # tamper IN OUT KEY VALUE  (KEY "nan": a NaN in the first parameter)
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, key, val = sys.argv[1:5]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = bytearray(b[8 + n:])
if key == "nan":
    data[0:4] = struct.pack("<f", float("nan"))
elif key == "transpose":  # a matrix's shape swapped: the same count, another shape
    name = next(k for k, v in h.items() if k != "__metadata__" and len(v["shape"]) == 2 and v["shape"][0] != v["shape"][1])
    h[name]["shape"].reverse()
else:
    h["__metadata__"][key] = val
j = json.dumps(h).encode(); j += b" " * (-len(j) % 8)
open(dst, "wb").write(struct.pack("<Q", len(j)) + j + bytes(data))
PY
}
"$DYTCL" train $Q --steps 6 --stop-at 3 --out t.st --log t.csv > /dev/null 2>&1
for kv in "step -3" "step 3x" "step 99999999999" "data_rng abc" "data_rng -1" "data_rng 99999999999999999999999" "nan x"; do
  set -- $kv
  tamper t.st bad.st "$1" "$2"
  "$DYTCL" train --resume bad.st --data text.txt --out bad.st --log bad.csv > out.txt 2> err.txt
  rc=$?
  check "resume with $1 = $2 refused" "[ $rc -eq 1 ] && grep -q 'bad.st' err.txt"
done
# A tampered option is the checkpoint's fault, never a flag's the user did not give.
for kv in "batch 0" "seq 99999" "steps 2" "lr abc"; do
  set -- $kv
  tamper t.st bad.st "$1" "$2"
  "$DYTCL" train --resume bad.st --data text.txt --out bad.st --log bad.csv > out.txt 2> err.txt
  rc=$?
  check "resume with the checkpoint's $1 = $2 refused, naming the checkpoint, no flag" \
    "[ $rc -eq 1 ] && grep -q 'bad.st' err.txt && ! grep -q -E -- '--$1(:| [0-9])' err.txt"
done

# train-image: the same strict reading (8 images of 8 x 8, 2 steps per epoch).
{ printf '\000\000\010\003\000\000\000\010\000\000\000\010\000\000\000\010'; head -c 512 text.txt; } > ti.idx
printf '\000\000\010\001\000\000\000\010\000\001\002\003\004\005\006\007' > tl.idx
I="--train-images ti.idx --train-labels tl.idx --test-images ti.idx --test-labels tl.idx"
V="$I --dim 8 --heads 1 --layers 1 --mlp 8 --patch 4 --batch 4 --warmup 1"
"$DYTCL" train-image $V --epochs 3 --stop-after 1 --out v.st --log v.csv > /dev/null 2> err.txt
check "train-image stopped after epoch 1" "[ \$? -eq 0 ] && [ -s v.st ]"
for kv in "train.epoch_done -3" "train.epoch_done abc" "train.epoch_done 999" "train.epoch_done 2" "train.step 0" \
          "train.step 6" "train.aug_rng x1" "train.batch 0" "train.epoch_loss_sum nan"; do
  set -- $kv
  tamper v.st bad.st "$1" "$2"
  rm -f bad.csv
  "$DYTCL" train-image $I --resume bad.st --out bad.st --log bad.csv > out.txt 2> err.txt
  rc=$?
  check "train-image resume with $1 = $2 refused, naming the checkpoint, nothing written" \
    "[ $rc -eq 1 ] && grep -q 'bad.st' err.txt && ! grep -q -- '--batch' err.txt && [ ! -e bad.csv ]"
done
"$DYTCL" train-image $I --resume v.st --epochs 1 --out v2.st --log v2.csv > out.txt 2> err.txt
check "train-image resume with nothing left to train is an error" "[ \$? -eq 1 ] && grep -q 'nothing left' err.txt"

# train-image stopped by SIGTERM inside an epoch resumes to the uninterrupted run, byte for byte
# (a run that ends before the signal arrives proves nothing: then said, not checked).
W="$V --batch 1 --epochs 60 --pad 1 --flip 1 --seed 3"
"$DYTCL" train-image $W --out full.st --log full.csv > /dev/null 2> err.txt
check "train-image uninterrupted" "[ \$? -eq 0 ]"
"$DYTCL" train-image $W --out p.st --log p.csv > p.out 2> err.txt &
pid=$!
n=0; while [ "$(wc -l < p.csv 2>/dev/null || echo 0)" -lt 3 ] && [ $n -lt 300 ]; do sleep 0.02; n=$((n + 1)); done
kill -TERM $pid; wait $pid; rc=$?
if [ $rc -eq 0 ]; then
  echo "note: the run ended before SIGTERM came; the interrupted resume is not checked"
else
  at=$(sed -n 's/.*SIGTERM at step \([0-9]*\).*/\1/p' err.txt)
  check "train-image on SIGTERM: exit 143 at step $at, saved, no lock left" "[ $rc -eq 143 ] && [ -n '$at' ] && [ ! -e p.st.lock ] && [ ! -e p.csv.lock ]"
  "$DYTCL" train-image --resume p.st $I --out p.st --log p.csv > /dev/null 2> err.txt
  check "... resumed from step $at" "[ \$? -eq 0 ]"
  check "... its checkpoint equals the uninterrupted run's byte for byte" "cmp -s full.st p.st"
  cut -d, -f1-6 full.csv > a.txt; cut -d, -f1-6 p.csv > b.txt
  check "... and its log rows" "cmp -s a.txt b.txt"
fi

tamper t.st bad.st transpose x
"$DYTCL" generate --model bad.st --tokens 2 > out.txt 2> err.txt
check "a transposed tensor is named with both shapes" \
  "[ \$? -eq 1 ] && grep -q 'is \[[0-9]*, [0-9]*\] ([0-9]* elements), the config needs \[[0-9]*, [0-9]*\]' err.txt"
"$DYTCL" train --resume t.st --data text.txt --seed 7 --out t2.st --log t2.csv > out.txt 2> err.txt
check "--seed with --resume refused" "[ $? -eq 2 ] && grep -q 'seed' err.txt"
sed 's/fox/cat/' text.txt > other.txt
"$DYTCL" train --resume t.st --data other.txt --out t2.st --log t2.csv > out.txt 2> err.txt
check "other --data on resume refused" "[ $? -eq 1 ] && grep -q 'other.txt' err.txt && grep -q force err.txt"
"$DYTCL" train --resume t.st --data other.txt --out t2.st --log t2.csv --force > out.txt 2> err.txt
check "... and taken with --force" "[ $? -eq 0 ]"
"$DYTCL" train --resume t.st --data text.txt --out t3.st --log t3.csv > out.txt 2> err.txt
check "the same data resumes" "[ $? -eq 0 ]"

# A run that diverges before its first save does not call the checkpoint an
# earlier, different run left at --out its own.
"$DYTCL" train $Q --steps 50 --lr 1e30 --warmup 0 --clip 0 --save-every 100 --out t.st --log div.csv \
  > out.txt 2> err.txt
check "divergence before any save: the message disowns --out" \
  "[ \$? -eq 1 ] && grep -q 'no checkpoint was saved by this run; t.st is not from it' err.txt"

exit $fail
