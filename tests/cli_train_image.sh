#!/bin/sh
# dytcl train-image / classify end to end on Fashion-MNIST (the
# dataset-fashion-mnist package): a small ViT-DyT trained on the first 2 000
# training images reaches 40 % test accuracy on the first 1 000 test images
# (chance: 10 %); classify reproduces that accuracy from the checkpoint; an
# interrupted and resumed run (with drop-path) equals the uninterrupted one byte for byte;
# corrupt IDX files are refused with the file named; bad flags exit 2.
# usage: cli_train_image.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
D=/usr/share/datasets/fashion-mnist
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/check.sh"
if [ ! -f $D/t10k-images-idx3-ubyte.gz ]; then
  echo "skipped: $D is missing (the dataset-fashion-mnist package)"; exit 77
fi

# 1. learning: 6 epochs of 63 steps, about 30 s on two cores
M="--dim 32 --heads 2 --layers 2 --mlp 64 --batch 32 --lr 3e-3 --warmup 20 --pad 0 --flip 0 --norm dyt"
"$DYTCL" train-image $M --train-limit 2000 --test-limit 1000 --epochs 6 --out vit.st --log vit.csv > train.out 2>&1
check "train-image ran" "[ $? -eq 0 ]"
cat train.out
acc=$(tail -1 vit.csv | cut -d, -f6)
check "test accuracy $acc >= 0.40 after 6 epochs on 2 000 images" "awk -v a=$acc 'BEGIN { exit !(a >= 0.40) }'"
check "CSV has a header and 6 epochs" "[ \$(wc -l < vit.csv) -eq 7 ]"

# 2. classify gives the accuracy the last epoch measured
"$DYTCL" classify --model vit.st --limit 1000 $D/t10k-images-idx3-ubyte.gz $D/t10k-labels-idx1-ubyte.gz > cls.out 2>&1
check "classify ran" "[ $? -eq 0 ] && [ \$(grep -c '^[0-9]*,[0-9],[0-9]$' cls.out) -eq 1000 ]"
check "classify prints the accuracy in percent, as train-image does" "tail -1 cls.out | grep -q '^accuracy [0-9]*\.[0-9][0-9]% ([0-9]* of 1000)'"
got=$(tail -1 cls.out | awk '{ sub("%", "", $2); print $2 }')
check "classify's accuracy $got% equals the training log's $acc" "awk -v a=$acc -v b=$got 'BEGIN { exit !(100 * a - b < 0.006 && b - 100 * a < 0.006) }'"

# 3. an interrupted and resumed run equals the uninterrupted one (with augmentations,
# drop-path and label smoothing)
R="--dim 16 --heads 2 --layers 2 --mlp 32 --batch 16 --train-limit 96 --test-limit 32 --epochs 3 --pad 2 --flip 1 --seed 5
   --drop-path 0.5 --label-smoothing 0.1"
"$DYTCL" train-image $R --out full.st --log full.csv > full.out 2>&1
check "uninterrupted run" "[ $? -eq 0 ]"
"$DYTCL" train-image $R --stop-after 1 --out part.st --log part.csv > part1.out 2>&1
check "run stopped after epoch 1" "[ $? -eq 0 ] && [ \$(wc -l < part.csv) -eq 2 ]"
"$DYTCL" train-image --resume part.st --out part.st --log part.csv > part2.out 2>&1
check "resumed run" "[ $? -eq 0 ]"
check "resumed checkpoint equals the uninterrupted one byte for byte" "cmp -s full.st part.st"
cut -d, -f1-6 full.csv > a.txt; cut -d, -f1-6 part.csv > b.txt
check "resumed losses and accuracies equal the uninterrupted ones" "cmp -s a.txt b.txt"

# 4. corrupt IDX files are refused, naming the file and the fault
gzip -dc $D/t10k-labels-idx1-ubyte.gz | head -c 5000 | gzip > short.gz
head -c 3000 $D/t10k-labels-idx1-ubyte.gz > cut.gz
printf 'not an idx file at all' | gzip > magic.gz
I=$D/t10k-images-idx3-ubyte.gz
for bad in short.gz cut.gz magic.gz; do
  "$DYTCL" classify --model vit.st $I $bad > bad.out 2>&1
  rc=$?
  check "$bad refused: $(cat bad.out)" "[ $rc -eq 1 ] && grep -q '$bad' bad.out"
done
check "short labels: named as truncated, with the sizes" "\"$DYTCL\" classify --model vit.st $I short.gz 2>&1 | grep -q 'short.gz: truncated: 4992 bytes of values, the dimensions give 10000'"
check "cut gzip: named as truncated" "\"$DYTCL\" classify --model vit.st $I cut.gz 2>&1 | grep -q 'truncated'"
check "count mismatch named" "\"$DYTCL\" classify --model vit.st $I $D/train-labels-idx1-ubyte.gz 2>&1 | grep -q 'has 10000 images but .*train-labels-idx1-ubyte.gz has 60000 labels'"
check "wrong magic named" "\"$DYTCL\" classify --model vit.st $I magic.gz 2>&1 | grep -q 'magic'"

# 5. no output over an input or over a file of another kind, before any work
cp $D/t10k-labels-idx1-ubyte.gz labels.gz; ln -sf labels.gz link.gz
"$DYTCL" train-image $R --test-labels labels.gz --out link.gz > o.out 2>&1
check "--out onto an input (through a link) refused, the input kept" "[ $? -eq 1 ] && grep -q 'link.gz' o.out && cmp -s labels.gz $D/t10k-labels-idx1-ubyte.gz"
"$DYTCL" train-image $R --out x.st --log full.st > o.out 2>&1
check "--log over a checkpoint refused, the checkpoint kept" "[ $? -eq 1 ] && grep -q 'full.st' o.out && cmp -s full.st part.st"
printf 'notes\n' > notes.txt
"$DYTCL" train-image $R --out notes.txt > o.out 2>&1
check "--out over a file that is no checkpoint refused" "[ $? -eq 1 ] && [ \"\$(cat notes.txt)\" = notes ]"
"$DYTCL" train-image $R --epochs 1 --out notes.txt --force > o.out 2>&1
check "... and replaced by a checkpoint with --force" "[ $? -eq 0 ] && [ \$(wc -c < notes.txt) -gt 1000 ]"

# 6. usage errors
"$DYTCL" train-image --epochs x > /dev/null 2>&1
check "bad flag value exits 2" "[ $? -eq 2 ]"
"$DYTCL" classify vit.st > /dev/null 2>&1
check "classify without --model exits 2" "[ $? -eq 2 ]"
exit $fail
