#!/bin/sh
# vision.sh -- the vision study of docs/vision.md: DyT, Derf, LayerNorm and
# RMSNorm training the `make demo-vision` ViT on Fashion-MNIST, each norm
# given the same tuning budget, at two training budgets.
#
#   bench/study/vision.sh BUILD OUTDIR
#
# Grid, for every norm: lr 1e-3 3e-3 1e-2 3e-2 1e-1 (and for DyT and Derf alpha0
# 0.5 1 2), seeds 1 2 3 at every grid point, at two budgets:
#   short  the demo's: the first 10 000 training images, 4 epochs (625 steps);
#   long   6x: all 60 000 training images, 4 epochs (3 750 steps).
# Everything else is the demo's (dim 32, 2 heads, 2 layers, MLP 64, batch 64,
# 50 warm-up steps, cosine to 5 %, weight decay 0.05 on matrices only, clip 1,
# class token, no augmentation). The result of a run is the test accuracy on
# all 10 000 test images after its last epoch.
#
# Each run writes OUTDIR/runs/KEY.csv (its per-epoch log); a run whose log is
# complete is not run again, so an interrupted study resumes. JOBS runs
# (default 2) go at once, one core each, under `nice -n 10`.
# bench/study/vision_summary.py OUTDIR turns the logs into docs/vision.md's
# tables.
set -eu
[ $# -eq 2 ] || { echo "usage: vision.sh BUILD OUTDIR" >&2; exit 2; }
B=$(cd "$1" && pwd); O=$2
[ -x "$B/dytcl" ] || { echo "vision.sh: build $B first (dytcl)" >&2; exit 1; }
mkdir -p "$O/runs"
O=$(cd "$O" && pwd)
: "${DYTCL_CACHE_DIR:=$B/kcache}"; export DYTCL_CACHE_DIR
: "${JOBS:=2}"

# one line per run: BUDGET NORM LR ALPHA0 SEED (alpha0 "-" for the norms without one)
jobs() {
  for budget in short long; do for seed in 1 2 3; do for lr in 1e-3 3e-3 1e-2 3e-2 1e-1; do
    for norm in layernorm rmsnorm; do echo "$budget $norm $lr - $seed"; done
    for norm in dyt derf; do for a in 0.5 1 2; do echo "$budget $norm $lr $a $seed"; done; done
  done; done; done
}

# run BUDGET NORM LR ALPHA0 SEED SLOT: one training run, unless its log is complete
run() {
  budget=$1 norm=$2 lr=$3 a=$4 seed=$5 slot=$6
  key="$budget-$norm-lr$lr-a$a-s$seed"
  log=$O/runs/$key.csv
  [ -s "$log" ] && [ "$(awk -F, 'END {print $1}' "$log")" = 4 ] && return 0
  case $budget in short) limit=10000 ;; long) limit=0 ;; *) exit 2 ;; esac
  alpha=""; [ "$a" = - ] || alpha="--alpha0 $a"
  if nice -n 10 taskset -c "$slot" "$B/dytcl" train-image --train-limit $limit --epochs 4 --dim 32 --heads 2 \
      --layers 2 --mlp 64 --batch 64 --lr "$lr" --warmup 50 --pad 0 --flip 0 --norm "$norm" $alpha \
      --seed "$seed" --out "$O/runs/$key.tmp.safetensors" --log "$log" --force > "$O/runs/$key.out" 2>&1; then
    echo "$key: $(tail -1 "$log" | awk -F, '{printf "%.2f %%", 100 * $6}')"
  else
    echo "vision.sh: $key failed (see $O/runs/$key.out)" >&2
  fi
  rm -f "$O/runs/$key.tmp.safetensors"
}

# JOBS workers, worker i takes every JOBS-th run and core i mod (cores)
cores=$(nproc)
jobs > "$O/jobs.txt"
i=0
while [ $i -lt "$JOBS" ]; do
  awk -v n="$JOBS" -v i=$i 'NR % n == i' "$O/jobs.txt" | while read -r budget norm lr a seed; do
    run "$budget" "$norm" "$lr" "$a" "$seed" $((i % cores))
  done &
  i=$((i + 1))
done
wait
echo "vision.sh: done; bench/study/vision_summary.py $O"
