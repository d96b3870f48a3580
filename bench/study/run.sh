#!/bin/sh
# run.sh -- the norm study: DyT, Derf, RMSNorm and LayerNorm under GPT and
# LLaMA, over widths, depths, learning rates, batch sizes and seeds, on two
# texts (English from the `fortunes` package and a Markov chain whose best
# loss is known), every run the same number of steps at the default recipe.
#
#   bench/study/run.sh [--full | --reduced] BUILD OUTDIR
#
# --full (default) runs the whole grid: 4 norms x 2 archs x widths 32 64 128
# 256 x depths 3 6 x lr 1e-3 3e-3 1e-2 x batch 2 8 x seeds 1 2 x 2 texts
# (1536 runs). --reduced runs what fits a couple of 2-core hours: around a
# base setting (width 48, depth 3, lr 1e-3, batch 8; both archs, all four
# norms, seeds 1 and 2) it changes one factor at a time: on fortunes widths
# 32 and 128, depth 6, lr 3e-3 and 1e-2, batch 2; on the Markov text lr
# 3e-3 and 1e-2 (160 runs).
#
# Each run appends a row to OUTDIR/runs.csv (an existing row is not run
# again, so an interrupted study resumes); bench/study/summary.py turns it
# into the README's table. Runs are one at a time, under `nice -n 5`.
# ARCHS and NORMS (space-separated; default every one) run a subset; FLAGS is
# added to every `dytcl train` line (runs.csv's key does not hold it, so
# give such a run its own OUTDIR).
set -eu
mode=full
case "${1:-}" in --full) shift ;; --reduced) mode=reduced; shift ;; esac
[ $# -eq 2 ] || { echo "usage: run.sh [--full | --reduced] BUILD OUTDIR" >&2; exit 2; }
B=$(cd "$1" && pwd); O=$2
DYTCL=$B/dytcl
[ -x "$DYTCL" ] && [ -x "$B/study_markov_text" ] || { echo "run.sh: build $B first (dytcl, study_markov_text)" >&2; exit 1; }
mkdir -p "$O/logs"
O=$(cd "$O" && pwd)
: "${DYTCL_CACHE_DIR:=$B/kcache}"; export DYTCL_CACHE_DIR
STEPS=400 SEQ=32

# The texts: 205 KB of English, and 205 KB from a 20-state chain.
F=/usr/share/games/fortunes
for f in science tao startrek goedel; do
  [ -r "$F/$f" ] || { echo "run.sh: $F/$f is missing: install the 'fortunes' package" >&2; exit 1; }
done
[ -s "$O/fortunes.txt" ] || cat "$F/science" "$F/tao" "$F/startrek" "$F/goedel" > "$O/fortunes.txt"
[ -s "$O/markov.txt" ] || "$B/study_markov_text" "$O/markov.txt" 204800 20 1 > "$O/markov-entropy.txt"

[ -s "$O/runs.csv" ] || echo "data,arch,norm,width,depth,lr,batch,seed,steps,val_loss,train_loss,max_saturation,warned,seconds" > "$O/runs.csv"

# one DATA ARCH NORM WIDTH DEPTH LR BATCH SEED: a run, unless runs.csv has it
one() {
  key="$1,$2,$3,$4,$5,$6,$7,$8,$STEPS"
  grep -q "^$key," "$O/runs.csv" && return 0
  tag=$(echo "$key" | tr ',' '-')
  log=$O/logs/$tag.csv
  t0=$(date +%s)
  if ! nice -n 5 "$DYTCL" train --data "$O/$1.txt" --arch "$2" --norm "$3" --dim "$4" --heads $(($4 / 16)) \
       --layers "$5" --lr "$6" --batch "$7" --seed "$8" --steps $STEPS --seq $SEQ --eval-every $STEPS \
       --eval-batches 0 --diag-every 100 --out '' --log "$log" --force ${FLAGS:-} > "$O/logs/$tag.out" 2>&1; then
    echo "run.sh: $tag failed (see $O/logs/$tag.out); recorded as nan" >&2
  fi
  t1=$(date +%s)
  val=$(awk -F, 'NR > 1 && $5 != "" {v = $5} END {print v == "" ? "nan" : v}' "$log" 2>/dev/null || echo nan)
  tr=$(awk -F, 'NR > 1 {t = $3} END {print t == "" ? "nan" : t}' "$log" 2>/dev/null || echo nan)
  sat=0 warned=0
  if [ -s "$log.diag.csv" ]; then
    sat=$(awk -F, -v s=$STEPS 'NR > 1 && $1 == s && $4 > m {m = $4} END {print m + 0}' "$log.diag.csv")
    grep -q saturates "$log.diag.csv" && warned=1
  fi
  echo "$key,$val,$tr,$sat,$warned,$((t1 - t0))" >> "$O/runs.csv"
  echo "$key: val $val"
}

# every arch x norm x seed of one setting
all() {
  for seed in 1 2; do for arch in ${ARCHS:-gpt llama}; do for norm in ${NORMS:-rmsnorm dyt derf layernorm}; do
    one "$1" $arch $norm "$2" "$3" "$4" "$5" $seed
  done; done; done
}

if [ $mode = reduced ]; then
  for data in fortunes markov; do all $data 48 3 1e-3 8; done          # the base
  for lr in 3e-3 1e-2; do for data in fortunes markov; do all $data 48 3 $lr 8; done; done
  all fortunes 32 3 1e-3 8; all fortunes 128 3 1e-3 8                  # widths
  all fortunes 48 6 1e-3 8                                             # depth
  all fortunes 48 3 1e-3 2                                             # a small batch
else
  for data in fortunes markov; do for w in 32 64 128 256; do for d in 3 6; do
    for lr in 1e-3 3e-3 1e-2; do for b in 2 8; do all $data $w $d $lr $b; done; done
  done; done; done
fi
