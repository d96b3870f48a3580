#!/bin/sh
# dytcl tokenize / train / generate with a subword tokenizer: a tokenizer
# trained twice on the same text is the same file; encode then decode gives
# the text back byte for byte (UTF-8, tabs, empty lines); a model trains on
# the token file and logs bits per byte; generation prints the prompt and
# the decoding of the tokens it sampled; malformed token files and tokenizer
# models are refused, naming the file. Exits 77 (skipped) in a build without
# SentencePiece.
# usage: cli_tokenize.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"
printf 'na\303\257ve caf\303\251 \342\200\224 \316\261\316\262\316\263 \360\237\231\202\n\ttabbed\t\n\n  two spaces\n' >> text.txt

"$DYTCL" tokenize train --data text.txt --vocab 400 --out tok.model > train.out 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "built without SentencePiece" train.out; then
  echo "skipped: this dytcl has no SentencePiece"; exit 77
fi
check "tokenizer trained" "[ $rc -eq 0 ] && [ -s tok.model ]"
"$DYTCL" tokenize train --data text.txt --vocab 400 --out tok2.model > /dev/null 2>&1
check "the same text gives the same tokenizer, byte for byte" "cmp -s tok.model tok2.model"
"$DYTCL" tokenize encode --model tok.model text.txt text.bin > enc.out 2>&1
check "encoded" "[ $? -eq 0 ]"
bytes=$(wc -c < text.txt); size=$(wc -c < text.bin)
check "a uint16 token file, shorter than the text" "[ \$(( (size - 1024) % 2 )) -eq 0 ] && [ \$(( (size - 1024) / 2 )) -lt \$(( bytes / 2 )) ]"
"$DYTCL" tokenize decode --model tok.model text.bin back.txt > dec.out 2>&1
check "decoded to the identical bytes" "[ $? -eq 0 ] && cmp -s text.txt back.txt"
"$DYTCL" tokenize decode --model tok.model text.bin back.txt > out.txt 2>&1
check "decode will not overwrite an existing file without --force" "[ $? -eq 1 ] && grep -q back.txt out.txt"
"$DYTCL" tokenize encode --model tok.model text.txt text.txt > out.txt 2>&1
check "encode will not write over its input" "[ $? -eq 1 ] && cmp -s text.txt back.txt"
printf 'bad \377 byte\n' > latin1.txt
"$DYTCL" tokenize encode --model tok.model latin1.txt l.bin > out.txt 2>&1
check "invalid UTF-8 refused, naming the file and the offset" "[ $? -eq 1 ] && grep -q 'latin1.txt.*byte 4' out.txt && [ ! -e l.bin ]"

# a model on the token file: V from the tokenizer, bits per byte in the log
T="--batch 4 --seq 32 --dim 32 --layers 2 --heads 2 --steps 6 --eval-every 3 --eval-batches 4"
"$DYTCL" train --data text.bin --tokenizer tok.model $T --out m.st --log m.csv > m.out 2>&1
check "trained on the token file" "[ $? -eq 0 ] && grep -q 'vocab 400' m.out"
check "val_bpb in the log" "head -1 m.csv | grep -q ',val_bpb$' && tail -1 m.csv | grep -q ',[0-9.]*$' && [ -n \"\$(tail -1 m.csv | cut -d, -f8)\" ]"
"$DYTCL" train --data text.txt --tokenizer tok.model $T --out m2.st --log m2.csv > m2.out 2>&1
rc=$?
cut -d, -f1-5,8 m.csv > a.txt; cut -d, -f1-5,8 m2.csv > b.txt
check "the text encoded on load trains as its token file does (same losses)" "[ $rc -eq 0 ] && cmp -s a.txt b.txt"
"$DYTCL" train --data text.bin $T --out m3.st --log m3.csv > out.txt 2>&1
check "a token file without --tokenizer refused" "[ $? -eq 1 ] && grep -q 'text.bin is a token file' out.txt"

# generation: the prompt, then the decoding of exactly the sampled tokens
G="--model m.st --tokens 40 --seed 5"
"$DYTCL" generate $G --prompt "the quick" > gen.txt 2> gen.err
check "generated text" "[ $? -eq 0 ]"
"$DYTCL" generate $G --prompt "the quick" --ids > ids.txt 2> ids.err
check "generated 40 ids below 400" "[ $? -eq 0 ] && [ \$(wc -l < ids.txt) -eq 40 ] && awk '\$1 < 0 || \$1 >= 400 { exit 1 }' ids.txt"
# ids.txt as a token file (llm.c's header: magic 20240520, version 1, count 40), decoded by tokenize
le() { printf "\\$(printf %03o $(( $1 & 255 )))\\$(printf %03o $(( ($1 >> 8) & 255 )))"; }
{ le $((20240520 & 65535)); le $((20240520 >> 16)); le 1; le 0; le 40; le 0; head -c 1012 /dev/zero; while read -r id; do le "$id"; done < ids.txt; } > gen.bin
"$DYTCL" tokenize decode --model tok.model gen.bin gen-dec.txt > /dev/null 2>&1
{ printf 'the quick'; cat gen-dec.txt; echo; } > expect.txt
check "generate prints the prompt and the decoding of its tokens" "[ $? -eq 0 ] && cmp -s gen.txt expect.txt"
"$DYTCL" train --resume m.st --data text.bin --steps 8 --out m.st --log m.csv > res.out 2>&1
check "resumed with the checkpoint's tokenizer" "[ $? -eq 0 ] && tail -1 m.csv | grep -q '^8,'"

# malformed token files: refused by train and decode, naming the file
head -c 1500 text.bin > trunc.bin
{ head -c 4 /dev/zero; tail -c +5 text.bin; } > magic.bin
{ head -c 4 text.bin; le 2; le 0; tail -c +9 text.bin; } > version.bin
{ cat text.bin; printf 'x'; } > long.bin
{ head -c 1024 text.bin; le 400; tail -c +1027 text.bin; } > range.bin
for f in trunc magic version long range; do
  "$DYTCL" train --data $f.bin --tokenizer tok.model $T --out x.st --log x.csv > out.txt 2>&1
  rc=$?
  "$DYTCL" tokenize decode --model tok.model $f.bin $f.txt > out2.txt 2>&1
  check "$f.bin refused by train and decode, naming it" "[ $rc -eq 1 ] && [ $? -eq 1 ] && grep -q '$f.bin' out.txt && grep -q '$f.bin' out2.txt && [ ! -e $f.txt ]"
done

# malformed tokenizer models: refused by encode and train, naming the file
head -c 100 tok.model > trunc.model
printf 'garbage' > garbage.model
for f in trunc garbage; do
  "$DYTCL" tokenize encode --model $f.model text.txt $f-x.bin > out.txt 2>&1
  rc=$?
  "$DYTCL" train --data text.txt --tokenizer $f.model $T --out y.st --log y.csv > out2.txt 2>&1
  check "$f.model refused by encode and train, naming it" "[ $rc -eq 1 ] && [ $? -eq 1 ] && grep -q '$f.model' out.txt && grep -q '$f.model' out2.txt"
done
exit $fail
