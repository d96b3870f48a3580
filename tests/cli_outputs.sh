#!/bin/sh
# dytcl train refuses, before any work, what would destroy a file or hang:
# an output that is an input however spelled (relative path, symbolic or
# hard link), an existing --out / --log of another kind (unless --force), a
# missing or read-only output directory, a second run on the same output
# (the holder's process named), FIFOs as inputs, absurd --layers; more than
# 256 DyT layers train and save; /dev/zero as a checkpoint is refused.
# usage: cli_outputs.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"
Q="--batch 2 --seq 16 --dim 16 --layers 1 --heads 2 --eval-every 0 --diag-every 0 --steps 2"
cp text.txt keep.txt

# Outputs over the training data, however spelled: refused, data intact.
mkdir -p sub && ln -s ../text.txt sub/link.txt && ln text.txt hard.txt
for spec in "--out text.txt" "--log text.txt" "--out ./sub/../text.txt" "--out sub/link.txt" "--log hard.txt"; do
  "$DYTCL" train --data text.txt $Q $spec > out.txt 2> err.txt
  rc=$?
  check "train $spec refused" "[ $rc -eq 1 ] && grep -q 'input' err.txt"
  check "train $spec leaves the data intact" "cmp -s text.txt keep.txt"
done
# An existing file that is not a checkpoint / a log: refused unless --force.
echo "precious notes" > notes.txt
"$DYTCL" train --data text.txt $Q --out notes.txt --log n.csv > out.txt 2> err.txt
check "an existing non-checkpoint --out refused" "[ $? -eq 1 ] && grep -q 'force' err.txt && grep -q precious notes.txt"
"$DYTCL" train --data text.txt $Q --out n.st --log notes.txt > out.txt 2> err.txt
check "an existing non-log --log refused" "[ $? -eq 1 ] && grep -q precious notes.txt"
"$DYTCL" train --data text.txt $Q --out notes.txt --log n.csv --force > out.txt 2> err.txt
check "--force replaces it" "[ $? -eq 0 ] && ! grep -q precious notes.txt"
"$DYTCL" train --data text.txt $Q --out notes.txt --log n.csv > out.txt 2> err.txt
check "a checkpoint and a log are replaced without --force" "[ $? -eq 0 ]"
check "no lock file left" "[ ! -e notes.txt.lock ] && [ ! -e n.csv.lock ]"

# Output directories checked before training (--save-every would reach them late).
"$DYTCL" train --data text.txt $Q --steps 2000 --out nodir/x.st > out.txt 2> err.txt
check "a missing --out directory refused at once" "[ $? -eq 1 ] && grep -q 'nodir' err.txt && ! grep -q step out.txt"
mkdir ro && chmod a-w ro
if [ ! -w ro ]; then # (root writes anywhere)
  "$DYTCL" train --data text.txt $Q --steps 2000 --log ro/x.csv > out.txt 2> err.txt
  check "a read-only --log directory refused at once" "[ $? -eq 1 ] && grep -q 'not writable' err.txt"
fi

# bench --json: a missing directory or a non-JSON file refused before measuring.
"$DYTCL" bench gemm --json nodir/g.json > out.txt 2> err.txt
check "bench --json into a missing directory refused at once" "[ \$? -eq 1 ] && grep -q nodir err.txt && [ ! -s out.txt ]"
"$DYTCL" bench norms --json text.txt > out.txt 2> err.txt
check "bench --json over the text refused" "[ \$? -eq 1 ] && cmp -s text.txt keep.txt"

# A second run on the same output: refused, naming the holder.
"$DYTCL" train --data text.txt $Q --steps 100000 --out busy.st --log busy.csv > busy.out 2>&1 &
pid=$!
n=0; while [ ! -e busy.st.lock ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
"$DYTCL" train --data text.txt $Q --out busy.st --log other.csv > out.txt 2> err.txt
check "a second run on a locked --out refused, holder named" "[ $? -eq 1 ] && grep -q \"process $pid\" err.txt"
kill $pid; wait $pid 2>/dev/null

# A refusal names each file once, by its role: the log's diagnostics file as
# such, and a tokenize input as a file (not "the input input").
cp text.txt run.csv.diag.csv
"$DYTCL" train --data run.csv.diag.csv $Q --diag-every 1 --out d.st --log run.csv > out.txt 2> err.txt
check "--log's diagnostics that is --data: refused, named as such" \
  "[ $? -eq 1 ] && grep -qF -- \"--log's diagnostics run.csv.diag.csv is the input --data\" err.txt && cmp -s run.csv.diag.csv text.txt"
"$DYTCL" tokenize decode --model text.txt text.txt text.txt > out.txt 2> err.txt
check "tokenize OUT = IN refused, each named once" \
  "[ $? -eq 1 ] && grep -q 'output text.txt is the input file text.txt' err.txt && ! grep -q 'input input' err.txt"
rm -f run.csv.diag.csv

# FIFOs as inputs are refused before open() (which would block), and
# /dev/zero as a checkpoint is refused before any read.
mkfifo fifo
for opt in "train --data fifo $Q" "train --resume fifo --data text.txt" "generate --model fifo" \
    "classify --model fifo fifo fifo" "classify --model text.txt fifo text.txt" "classify --model text.txt text.txt fifo"; do
  timeout 20 "$DYTCL" $opt > out.txt 2> err.txt
  rc=$?
  check "$opt refused at once" "[ $rc -ne 124 ] && [ $rc -ne 0 ] && grep -q 'regular file' err.txt"
done
timeout 20 "$DYTCL" generate --model /dev/zero > out.txt 2> err.txt
rc=$?
check "generate --model /dev/zero refused at once" "[ $rc -ne 124 ] && [ $rc -ne 0 ] && grep -q 'regular file' err.txt"
timeout 20 "$DYTCL" train --data text.txt --layers 100000 > out.txt 2> err.txt
check "--layers 100000 refused at once" "[ $? -eq 2 ] && grep -q 'layers' err.txt"

# More than 256 DyT layers: diagnostics and checkpoint as for a few.
"$DYTCL" train --data text.txt --batch 1 --seq 8 --dim 8 --layers 257 --heads 1 --ff 8 --norm dyt --eval-every 0 \
  --diag-every 1 --steps 1 --out deep.st --log deep.csv > out.txt 2> err.txt
check "257 DyT layers train and save" "[ $? -eq 0 ] && [ -s deep.st ] && grep -q 'h.256.norm2' deep.csv.diag.csv"

exit $fail
