#!/bin/sh
# dytcl convert end to end: a small LayerNorm GPT trained, converted to DyT
# with both schedules (and fine-tuned), the result a DyT checkpoint that
# generates; distilled (--distill, the KL in the log); the baseline --to
# keep; and the refusals: missing options, a
# missing --data file, a DyT checkpoint, --out equal to --model.
# usage: cli_convert.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"

"$DYTCL" train $A --arch gpt --norm layernorm --out ln.st --log ln.csv > train.out 2>&1
check "train a small gpt-layernorm model" "[ $? -eq 0 ]"
C="--model ln.st --data text.txt --batch 4 --seq 32 --eval-batches 4 --calib-batches 2"
"$DYTCL" convert $C --to dyt --out dyt.st --finetune-steps 5 --log dyt.csv > all.out 2>&1
check "convert --to dyt (all, 5 steps)" "[ $? -eq 0 ] && grep -q '^result: original' all.out && grep -q '^normf: alpha' all.out"
check "the log has a row per step" "[ \$(wc -l < dyt.csv) -eq 6 ] && head -1 dyt.csv | grep -q '^step,lr,loss,'"
"$DYTCL" convert $C --to dyt --out dist.st --finetune-steps 5 --distill 1 --log dist.csv > dist.out 2>&1
check "convert --distill 1: the KL to the original logged" "[ $? -eq 0 ] && grep -q 'distill 1)' dist.out && tail -1 dist.csv | awk -F, '{exit !(\$7 > 0)}'"
"$DYTCL" convert $C --to keep --out x.st --distill 0.5 > e.out 2>&1
check "--to keep --distill refused" "[ $? -eq 2 ] && grep -q -- '--distill' e.out && [ ! -e x.st ]"
"$DYTCL" convert $C --to dyt --out x.st --distill 1.5 > e.out 2>&1
check "--distill 1.5 out of range" "[ $? -eq 2 ] && [ ! -e x.st ]"
"$DYTCL" generate --model dyt.st --prompt the --tokens 10 --temperature 0 --ids > gen.txt 2> gen.err
check "the converted checkpoint generates" "[ $? -eq 0 ] && [ \$(wc -l < gen.txt) -eq 10 ]"
"$DYTCL" convert $C --to derf --schedule layerwise --out derf.st --finetune-steps 10 > lw.out 2>&1
check "convert --to derf --schedule layerwise" "[ $? -eq 0 ] && [ \$(grep -c ': after 2 steps, val loss' lw.out) -eq 5 ]"
"$DYTCL" convert $C --to keep --out keep.st --finetune-steps 3 > keep.out 2>&1
check "convert --to keep (fine-tuning only)" "[ $? -eq 0 ] && grep -q 'converted nan' keep.out"
"$DYTCL" convert --model ln.st --to dyt --out x.st > e.out 2>&1
check "no --data: usage error" "[ $? -eq 2 ] && grep -q -- '--data: required' e.out && [ ! -e x.st ]"
"$DYTCL" convert --model ln.st --data text.txt --out x.st > e.out 2>&1
check "no --to: usage error" "[ $? -eq 2 ] && grep -q -- '--to: required' e.out"
"$DYTCL" convert --model ln.st --data missing.txt --to dyt --out x.st > e.out 2>&1
check "a missing --data file refused" "[ $? -eq 1 ] && grep -q missing.txt e.out && [ ! -e x.st ]"
"$DYTCL" convert --model dyt.st --data text.txt --to dyt --out x.st > e.out 2>&1
check "a DyT checkpoint refused" "[ $? -eq 1 ] && grep -q 'dyt already' e.out && [ ! -e x.st ]"
cp ln.st ln-copy.st
"$DYTCL" convert $C --to dyt --out ln.st > e.out 2>&1
check "--out = --model refused, the model untouched" "[ $? -eq 1 ] && cmp -s ln.st ln-copy.st"
"$DYTCL" convert --model text.txt --data text.txt --to dyt --out x.st > e.out 2>&1
check "a text as --model refused" "[ $? -eq 1 ] && [ ! -e x.st ]"
exit $fail
