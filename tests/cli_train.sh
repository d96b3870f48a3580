#!/bin/sh
# dytcl train / generate end to end on a small text: an interrupted and
# resumed run equals the uninterrupted one bit for bit (checkpoint and
# losses); generation with and without the KV cache, folded and not, gives
# the same tokens; corrupt checkpoints and bad flags are refused.
# usage: cli_train.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"

"$DYTCL" train $A --out full.st --log full.csv > full.out 2>&1
check "uninterrupted run" "[ $? -eq 0 ]"
"$DYTCL" train $A --stop-at 9 --out part.st --log part.csv > part1.out 2>&1
check "run stopped at step 9" "[ $? -eq 0 ] && tail -1 part.csv | grep -q '^9,'"
"$DYTCL" train --resume part.st --data text.txt --out part.st --log part.csv > part2.out 2>&1
check "resumed run" "[ $? -eq 0 ]"
check "resumed checkpoint equals the uninterrupted one byte for byte" "cmp -s full.st part.st"
cut -d, -f1-4 full.csv > a.txt; cut -d, -f1-4 part.csv > b.txt
check "resumed losses equal the uninterrupted ones" "cmp -s a.txt b.txt"
check "diagnostics written" "grep -q 'normf' full.csv.diag.csv"

for norm in dyt rmsnorm; do
  "$DYTCL" train --data text.txt --batch 4 --seq 32 --dim 32 --layers 2 --heads 2 --steps 3 --arch gpt --norm $norm --out g-$norm.st --log g.csv > /dev/null 2>&1
  G="--model g-$norm.st --prompt the --tokens 70 --seed 3 --ids"  # past max_seq 32: the context slides
  "$DYTCL" generate $G > cache.txt 2> cache.err
  check "generate gpt-$norm with the KV cache" "[ $? -eq 0 ] && [ \$(wc -l < cache.txt) -eq 70 ]"
  "$DYTCL" generate $G --no-cache > nocache.txt 2> nocache.err
  check "gpt-$norm: the same tokens without the KV cache" "[ $? -eq 0 ] && cmp -s cache.txt nocache.txt"
  "$DYTCL" generate $G --no-fold > nofold.txt 2> nofold.err
  check "gpt-$norm: the same tokens unfolded" "[ $? -eq 0 ] && cmp -s cache.txt nofold.txt"
done
"$DYTCL" generate --model full.st --prompt "the " --tokens 20 --seed 3 --ids > l1.txt 2> l1.err
"$DYTCL" generate --model full.st --prompt "the " --tokens 20 --seed 3 --ids --no-cache --no-fold > l2.txt 2> l2.err
check "llama-dyt: cached+folded equals uncached+unfolded" "[ $? -eq 0 ] && cmp -s l1.txt l2.txt && [ \$(wc -l < l1.txt) -eq 20 ]"

# corrupt checkpoints are refused with a message naming the file
head -c 1000 full.st > trunc.st
"$DYTCL" generate --model trunc.st > out.txt 2> err.txt
check "truncated checkpoint refused" "[ $? -eq 1 ] && grep -q 'trunc.st' err.txt"
printf 'garbage' > bad.st
"$DYTCL" generate --model bad.st > out.txt 2> err.txt
check "garbage checkpoint refused" "[ $? -eq 1 ] && grep -q 'bad.st' err.txt"
"$DYTCL" train --resume trunc.st --data text.txt > out.txt 2> err.txt
check "resume from a truncated checkpoint refused" "[ $? -eq 1 ] && grep -q 'trunc.st' err.txt"

# a diverging run stops with a message and leaves the last good checkpoint
"$DYTCL" train --data text.txt --batch 2 --seq 16 --dim 16 --layers 1 --heads 1 --steps 5 --out ok.st --log d.csv > /dev/null 2>&1
cp ok.st div.st
"$DYTCL" train --data text.txt --batch 2 --seq 16 --dim 16 --layers 1 --heads 1 --steps 50 --lr 1e30 --warmup 0 --clip 0 \
  --save-every 1 --out div.st --log d.csv > /dev/null 2> err.txt
check "diverging run exits 1 naming the step" "[ $? -eq 1 ] && grep -q 'finite' err.txt"
"$DYTCL" generate --model div.st --tokens 3 > /dev/null 2>&1
check "the last checkpoint of the diverged run still loads" "[ $? -eq 0 ]"

# SIGKILL at random moments of a run that saves every step: the checkpoint always loads
"$DYTCL" train --data text.txt --batch 2 --seq 16 --dim 32 --layers 2 --heads 2 --steps 2 --out kill.st --log k.csv > /dev/null 2>&1
k=0; loads=0
while [ $k -lt 12 ]; do
  "$DYTCL" train --data text.txt --batch 2 --seq 16 --dim 32 --layers 2 --heads 2 --steps 100000 --save-every 1 \
    --eval-every 0 --diag-every 0 --out kill.st --log k.csv > /dev/null 2>&1 &
  pid=$!
  sleep "0.$(( (k * 37 + 11) % 90 + 5 ))"
  kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
  "$DYTCL" generate --model kill.st --tokens 2 > /dev/null 2>&1 && loads=$((loads + 1))
  k=$((k + 1))
done
check "checkpoint loads after each of 12 SIGKILLs during saving runs ($loads/12)" "[ $loads -eq 12 ]"

# a model too big for the device is refused before any kernel runs, naming the sizes
"$DYTCL" train --data text.txt --dim 8192 --heads 64 --layers 48 --seq 32 > /dev/null 2> err.txt
check "too-big model refused naming its size" "[ $? -eq 1 ] && grep -q '[0-9] parameters' err.txt"

# bad flags: usage and exit 2
"$DYTCL" train --data text.txt --lr nope > /dev/null 2>&1
check "bad --lr exits 2" "[ $? -eq 2 ]"
"$DYTCL" train --data text.txt --frobnicate 1 > /dev/null 2>&1
check "unknown train flag exits 2" "[ $? -eq 2 ]"
"$DYTCL" train > /dev/null 2>&1
check "missing --data exits 2" "[ $? -eq 2 ]"
"$DYTCL" train --resume full.st --data text.txt --dim 64 > /dev/null 2>&1
check "model flags with --resume exit 2" "[ $? -eq 2 ]"
"$DYTCL" generate --model full.st --top-p 7 > /dev/null 2>&1
check "bad --top-p exits 2" "[ $? -eq 2 ]"
"$DYTCL" train --data /nonexistent > /dev/null 2> err.txt
check "missing data file exits 1 naming it" "[ $? -eq 1 ] && grep -q nonexistent err.txt"
exit $fail
