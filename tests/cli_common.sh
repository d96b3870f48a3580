# cli_common.sh -- sourced by the end-to-end scripts (cli_train.sh,
# cli_mpi.sh) after they cd into their work directory: the check helper, a
# small text file, and the tiny training run both compare against.
. "$HERE/check.sh"

# A text of repeated sentences, enough bytes for both splits.
i=0; : > text.txt
while [ $i -lt 300 ]; do
  echo "the quick brown fox $i jumps over the lazy dog; pack my box with five dozen liquor jugs." >> text.txt
  i=$((i + 1))
done
A="--data text.txt --batch 4 --seq 32 --dim 32 --layers 2 --heads 2 --eval-every 5 --eval-batches 4 --diag-every 10 --save-every 7 --steps 20"
