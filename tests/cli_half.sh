#!/bin/sh
# dytcl export / generate with half-width weights end to end: generate
# --dtype f16|bf16 runs; an export folded and rounded on disk decodes to the
# same tokens as rounding at load; the export's bytes are what the
# safetensors format says (tests/check_half_export.py, json/struct only, and
# the Python safetensors package when installed); training does not resume
# from an export; outputs never overwrite the input or a file of another kind.
# usage: cli_half.sh DYTCL WORKDIR   (PYTHON: the interpreter, default python3)
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"

"$DYTCL" train $A --out m.st --log m.csv > train.out 2>&1
check "train a small llama-dyt model" "[ $? -eq 0 ]"
G="--model m.st --prompt the --tokens 40 --temperature 0 --ids"
"$DYTCL" generate $G > f32.txt 2> f32.err
check "generate f32" "[ $? -eq 0 ] && [ \$(wc -l < f32.txt) -eq 40 ]"
for dt in f16 bf16; do
  "$DYTCL" generate $G --dtype $dt --stats > $dt.txt 2> $dt.err
  check "generate --dtype $dt (40 tokens, speed on stderr)" "[ $? -eq 0 ] && [ \$(wc -l < $dt.txt) -eq 40 ] && grep -q 'tokens/s (weights $dt' $dt.err"
  "$DYTCL" export --dtype $dt --fold m.st e-$dt.st > export.out 2>&1
  check "export --dtype $dt --fold" "[ $? -eq 0 ]"
  "$DYTCL" generate --model e-$dt.st --prompt the --tokens 40 --temperature 0 --ids --dtype $dt > e-$dt.txt 2> e.err
  check "$dt: the folded export decodes as rounding at load (same tokens)" "[ $? -eq 0 ] && cmp -s $dt.txt e-$dt.txt"
  "$DYTCL" export --dtype $dt m.st x-$dt.st > export.out 2>&1
  check "export --dtype $dt (unfolded)" "[ $? -eq 0 ]"
  DT=$(echo $dt | tr a-z A-Z)
  if command -v "$PY" > /dev/null 2>&1; then
    "$PY" "$HERE/check_half_export.py" m.st x-$dt.st $DT > py-$dt.out 2>&1
    check "$dt export read by Python: $(tail -1 py-$dt.out)" "[ $? -eq 0 ]"
  else
    echo "skip: no $PY to read the $dt export with"
  fi
  "$DYTCL" train --resume x-$dt.st --data text.txt --out r.st --log r.csv > /dev/null 2> err.txt
  check "train --resume from a $dt export refused, saying why" "[ $? -eq 1 ] && grep -q '$dt weights (dytcl export)' err.txt && [ ! -e r.st ]"
done
# (greedy tokens against f32's: test_model_half, on a model with no near-ties)

# outputs: never the input, never a file of another kind (unless --force)
cp m.st keep.st
"$DYTCL" export --dtype bf16 m.st ./m.st > /dev/null 2> err.txt
check "export onto its input refused" "[ $? -eq 1 ] && cmp -s m.st keep.st"
ln -s m.st link.st
"$DYTCL" export --dtype bf16 m.st link.st > /dev/null 2> err.txt
check "export onto a link to its input refused" "[ $? -eq 1 ] && cmp -s m.st keep.st"
echo "notes" > notes.txt
"$DYTCL" export --dtype bf16 m.st notes.txt > /dev/null 2> err.txt
check "export over a text file refused" "[ $? -eq 1 ] && [ \"\$(cat notes.txt)\" = notes ]"
"$DYTCL" export --dtype bf16 m.st notes.txt --force > /dev/null 2> err.txt
check "export over a text file with --force" "[ $? -eq 0 ]"

# bad flags: exit 2
"$DYTCL" export --dtype f8 m.st y.st > /dev/null 2>&1
check "export --dtype f8 exits 2" "[ $? -eq 2 ] && [ ! -e y.st ]"
"$DYTCL" export m.st y.st > /dev/null 2>&1
check "export without --dtype exits 2" "[ $? -eq 2 ]"
"$DYTCL" export --dtype bf16 m.st > /dev/null 2>&1
check "export without OUT exits 2" "[ $? -eq 2 ]"
"$DYTCL" generate --model m.st --dtype f64 > /dev/null 2>&1
check "generate --dtype f64 exits 2" "[ $? -eq 2 ]"
# a half-width file with a corrupted dtype is refused naming the file
sed 's/"dtype":"BF16"/"dtype":"BF17"/' e-bf16.st > bad.st
"$DYTCL" generate --model bad.st --tokens 2 > /dev/null 2> err.txt
check "corrupted dtype refused naming the file" "[ $? -eq 1 ] && grep -q 'bad.st' err.txt && grep -q BF17 err.txt"
exit $fail
