#!/bin/sh
# The README's generate.c (the block after "<!-- file: generate.c -->"),
# built against the library of this build, prints exactly what
# `dytcl generate` prints: on a checkpoint trained here with an embedded
# byte-level BPE tokenizer (tests/reference/bpe-tokenizer.json), sampled and
# greedy, with a prompt of several scripts; and on a byte-level checkpoint.
# usage: readme_generate.sh DYTCL LIBDYTCL CC SOURCE_DIR WORKDIR
set -u
DYTCL=$1 LIB=$2 CC=$3 SRC=$4 W=$5
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/check.sh"

awk '/^<!-- file: generate.c -->$/ { f = 1; next } f == 1 && /^```c$/ { f = 2; next }
     f == 2 && /^```$/ { exit } f == 2 { print }' "$SRC/README.md" > generate.c
check "the README has a generate.c block" "[ \$(wc -l < generate.c) -gt 20 ] && grep -q dytcl_model_generate generate.c"
"$CC" -std=c11 -Wall -Wextra -Werror -I"$SRC/host" -I"$SRC/models" -o generate generate.c "$LIB" \
  -Wl,-rpath,"$(dirname "$LIB")" > cc.out 2>&1
check "generate.c builds without warnings" "[ $? -eq 0 ]"
cat cc.out

awk 'BEGIN { for (i = 0; i < 300; i++) printf "the cat sat on the mat %d times, didn'"'"'t it? caf\303\251 \346\227\245\346\234\254 ", i % 7 }' > text.txt
T="--batch 4 --seq 32 --dim 32 --layers 2 --heads 2 --steps 8"
"$DYTCL" train --data text.txt --tokenizer "$SRC/tests/reference/bpe-tokenizer.json" $T --out bpe.st --log bpe.csv > train.out 2>&1
check "a checkpoint trained with the BPE tokenizer.json" "[ $? -eq 0 ] && grep -q 'vocab 657' train.out"
"$DYTCL" train --data text.txt $T --out bytes.st --log bytes.csv > train2.out 2>&1
check "a byte-level checkpoint" "[ $? -eq 0 ]"

same() { # name checkpoint prompt tokens seed [temperature]
  name=$1 ck=$2 p=$3 n=$4 seed=$5
  if [ $# -ge 6 ]; then t=$6; "$DYTCL" generate --model "$ck" --prompt "$p" --tokens "$n" --seed "$seed" --temperature "$t" > "$name.want" 2> "$name.err"
  else "$DYTCL" generate --model "$ck" --prompt "$p" --tokens "$n" --seed "$seed" > "$name.want" 2> "$name.err"; fi
  rc=$?
  if [ $# -ge 6 ]; then ./generate "$ck" "$p" "$n" "$seed" "$6" > "$name.got" 2>> "$name.err"
  else ./generate "$ck" "$p" "$n" "$seed" > "$name.got" 2>> "$name.err"; fi
  rc2=$?
  check "$name: generate.c prints what dytcl generate prints" "[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ -s $name.want ] && cmp -s $name.want $name.got"
}
same bpe-sampled bpe.st "the cat" 60 11
same bpe-greedy bpe.st "the cat" 60 11 0
same bpe-unicode bpe.st "caf$(printf '\303\251') $(printf '\346\227\245') didn't" 40 3 1.2
same bytes-sampled bytes.st "the cat" 80 11
same bytes-greedy bytes.st "the mat" 50 2 0
# the BPE model's text is its tokens' text: more bytes than tokens, and not raw ids
"$DYTCL" generate --model bpe.st --prompt "the cat" --tokens 60 --seed 11 --ids > ids.txt 2>/dev/null
check "60 ids, and more than 60 bytes after the prompt" "[ \$(wc -l < ids.txt) -eq 60 ] && [ \$(wc -c < bpe-sampled.want) -gt 68 ]"
./generate bpe.st "the cat" 5 > /dev/null 2> usage.err
check "generate.c: usage" "[ $? -eq 2 ] && grep -q usage usage.err"
./generate nope.st "x" 5 1 > /dev/null 2> nope.err
check "generate.c: a missing checkpoint named" "[ $? -eq 1 ] && grep -q nope.st nope.err"
exit $fail
