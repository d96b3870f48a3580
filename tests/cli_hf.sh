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
"$DYTCL" generate --model "$HERE/reference/hf/llama-gqa-tied" --prompt ab --tokens 8 --temperature 0 --ids > gqa.txt 2> err.txt
check "generate from a grouped-query LLaMA with a tied head" "[ $? -eq 0 ] && [ \$(wc -l < gqa.txt) -eq 8 ]"

# a directory's tokenizer.json: written by export from a checkpoint trained on
# it, read by generate; other kinds and a vocabulary larger than the model's refused
BPE="$HERE/reference/bpe-tokenizer.json"
"$DYTCL" train $S --arch gpt --norm layernorm --tokenizer "$BPE" --out bpe.st --log bpe.csv > /dev/null 2> err.txt
check "train a gpt on byte-level BPE tokens" "[ $? -eq 0 ]"
"$DYTCL" export --format hf bpe.st hf-bpe > /dev/null 2> err.txt
check "export --format hf writes the checkpoint's tokenizer.json" "[ $? -eq 0 ] && cmp -s hf-bpe/tokenizer.json \"$BPE\""
"$DYTCL" generate --model bpe.st --prompt "the cat" --tokens 12 --temperature 0 > ckpt.txt 2> err.txt
"$DYTCL" generate --model hf-bpe --prompt "the cat" --tokens 12 --temperature 0 > dir.txt 2> err.txt
check "generate --model DIR encodes and decodes with DIR/tokenizer.json" "[ $? -eq 0 ] && [ -s dir.txt ] && cmp -s ckpt.txt dir.txt"
mkdir -p big-tok && cp "$HERE/reference/hf/llama-untied/"* big-tok/ && cp "$BPE" big-tok/tokenizer.json
"$DYTCL" generate --model big-tok --prompt ab --tokens 2 > /dev/null 2> err.txt
check "a tokenizer.json larger than the model's vocabulary refused, naming both" "[ $? -eq 1 ] && grep -q 657 err.txt && grep -q 384 err.txt"
mkdir -p ws-tok && cp hf-bpe/config.json hf-bpe/model.safetensors ws-tok/ && sed 's/"ByteLevel"/"Whitespace"/' "$BPE" > ws-tok/tokenizer.json
"$DYTCL" generate --model ws-tok --prompt ab --tokens 2 > /dev/null 2> err.txt
check "a tokenizer.json of another kind refused, naming it" "[ $? -eq 1 ] && grep -q pre_tokenizer err.txt && grep -q 'ws-tok/tokenizer.json' err.txt"

# train --init: fine-tune an imported model (its weights, vocabulary and tokenizer)
"$DYTCL" train --init hf-gpt --data text.txt --batch 4 --seq 32 --steps 3 --out ft.st --log ft.csv > /dev/null 2> err.txt
check "train --init DIR fine-tunes a Hugging Face directory" "[ $? -eq 0 ] && [ -s ft.st ]"
first=$(sed -n 2p gpt.csv | cut -d, -f3) init=$(sed -n 2p ft.csv | cut -d, -f3)
check "... from its weights (first loss $init, below a fresh model's $first)" "awk -v a=$init -v b=$first 'BEGIN { exit !(a < b - 0.1) }'"
"$DYTCL" train --init hf-bpe --data text.txt --batch 4 --seq 32 --steps 2 --out ft2.st --log ft2.csv > /dev/null 2> err.txt
check "train --init DIR encodes the data with DIR/tokenizer.json" "[ $? -eq 0 ] && head -1 ft2.csv | grep -q step"
"$DYTCL" train --init bpe.st --data text.txt --batch 4 --seq 32 --steps 2 --out ft3.st --log ft3.csv > /dev/null 2> err.txt
check "train --init CKPT with the checkpoint's tokenizer" "[ $? -eq 0 ] && [ -s ft3.st ]"
"$DYTCL" train --init hf-gpt --tokenizer "$BPE" --data text.txt --batch 4 --seq 32 --steps 2 --out x.st --log x.csv > /dev/null 2> err.txt
check "train --init with a tokenizer of another vocabulary refused, naming both" "[ $? -eq 1 ] && grep -q 256 err.txt && grep -q 657 err.txt"
"$DYTCL" train --init hf-gpt --dim 64 --data text.txt --steps 2 --out x.st --log x.csv > /dev/null 2> err.txt
check "train --init with a model option exits 2" "[ $? -eq 2 ] && grep -q 'not with --init' err.txt"

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
