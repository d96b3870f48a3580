#!/bin/sh
# dytcl export --format hf and generate --model DIR end to end: a trained
# llama-RMSNorm and a gpt-LayerNorm exported as Hugging Face directories
# decode to the same greedy tokens as their checkpoints; the export converts
# back to a checkpoint (IN a directory); a committed transformers-made model
# (tests/reference/hf) generates; the directory is created when missing, its
# files are replaced only with --force and never through a link; bad uses
# exit 2 and unsupported models exit 1 naming why.
# usage: cli_hf.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"
S="--data text.txt --batch 4 --seq 32 --dim 32 --layers 2 --heads 2 --steps 10"

for kind in "llama rmsnorm" "gpt layernorm"; do
  set -- $kind
  "$DYTCL" train $S --arch $1 --norm $2 --out $1.st --log $1.csv > train.out 2> err.txt
  check "train a small $1-$2" "[ $? -eq 0 ]"
  "$DYTCL" export --format hf $1.st hf-$1 > /dev/null 2> err.txt
  check "$1: export --format hf creates the directory" "[ $? -eq 0 ] && [ -s hf-$1/config.json ] && [ -s hf-$1/model.safetensors ] && [ ! -e hf-$1/model.safetensors.lock ]"
  G="--prompt the --tokens 24 --temperature 0 --ids"
  "$DYTCL" generate --model $1.st $G > ckpt.txt 2> err.txt
  "$DYTCL" generate --model hf-$1 $G > dir.txt 2> err.txt
  check "$1: generate --model DIR gives the checkpoint's greedy tokens" "[ $? -eq 0 ] && [ \$(wc -l < dir.txt) -eq 24 ] && cmp -s ckpt.txt dir.txt"
  "$DYTCL" export --dtype f32 hf-$1 back-$1.st > /dev/null 2> err.txt
  "$DYTCL" generate --model back-$1.st $G > back.txt 2> err.txt
  check "$1: the directory converts back to a checkpoint (same tokens)" "[ $? -eq 0 ] && cmp -s ckpt.txt back.txt"
done

"$DYTCL" generate --model "$HERE/reference/hf/llama-untied" --prompt ab --tokens 8 --temperature 0 --ids > fix.txt 2> err.txt
check "generate from transformers' sharded BF16 LLaMA" "[ $? -eq 0 ] && [ \$(wc -l < fix.txt) -eq 8 ]"
"$DYTCL" generate --model "$HERE/reference/hf/llama-gqa-tied" --prompt ab --tokens 8 > /dev/null 2> err.txt
check "grouped-query attention refused, naming the key" "[ $? -eq 1 ] && grep -q num_key_value_heads err.txt"

# outputs: no overwrite without --force, never through a link
cp hf-llama/config.json keep.json
"$DYTCL" export --format hf gpt.st hf-llama > /dev/null 2> err.txt
check "export over an existing export refused without --force" "[ $? -eq 1 ] && grep -q exists err.txt && cmp -s keep.json hf-llama/config.json"
"$DYTCL" export --format hf gpt.st hf-llama --force > /dev/null 2> err.txt
check "... and done with --force" "[ $? -eq 0 ] && grep -q GPT2LMHeadModel hf-llama/config.json"
mkdir -p linked && echo victim > victim.txt && ln -s ../victim.txt linked/config.json
"$DYTCL" export --format hf llama.st linked --force > /dev/null 2> err.txt
check "export through a link refused" "[ $? -eq 1 ] && [ \"\$(cat victim.txt)\" = victim ] && [ -L linked/config.json ]"
echo notes > notes.txt
"$DYTCL" export --format hf llama.st notes.txt > /dev/null 2> err.txt
check "OUT_DIR that is a file refused" "[ $? -eq 1 ] && [ \"\$(cat notes.txt)\" = notes ]"

# bad uses
"$DYTCL" export --format onnx llama.st x > /dev/null 2>&1
check "export --format onnx exits 2" "[ $? -eq 2 ] && [ ! -e x ]"
"$DYTCL" export --format hf --fold llama.st y > /dev/null 2>&1
check "export --format hf --fold exits 2" "[ $? -eq 2 ] && [ ! -e y ]"
"$DYTCL" train $S --arch gpt --norm rmsnorm --out gr.st --log gr.csv > /dev/null 2>&1
"$DYTCL" export --format hf gr.st hf-gr > /dev/null 2> err.txt
check "a gpt with RMSNorm (no transformers layout) refused, no OUT_DIR left made" \
  "[ $? -eq 1 ] && grep -q 'no Hugging Face layout' err.txt && [ ! -e hf-gr ]"
mkdir -p hf-mine
"$DYTCL" export --format hf gr.st hf-mine > /dev/null 2> err.txt
check "... an OUT_DIR of the user's stays" "[ $? -eq 1 ] && [ -d hf-mine ]"
exit $fail
