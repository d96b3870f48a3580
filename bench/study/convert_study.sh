#!/bin/sh
# convert_study.sh -- the conversion study of docs/conversion.md, in one
# command: a GPT with LayerNorm and a LLaMA with RMSNorm trained on the
# fortunes text (bytes) to a plateau, each converted to DyT by `dytcl
# convert` and fine-tuned for 10 % of its training steps, against the
# original fine-tuned the same way (--to keep, the baseline). Conditions:
#   keep            the original, fine-tuned (cross-entropy)
#   all             all norms at once (sequential calibration), cross-entropy
#   all-distill     all at once, distilled against the original (--distill 1)
#   layerwise       one norm at a time with fine-tuning between, cross-entropy
#   layerwise-distill  the same, distilled
#   independent, derf  the conversion alone (no fine-tuning): independent
#                   calibration; Derf instead of DyT
# Validation loss (nats per byte) and the gap to keep in OUTDIR/results.csv;
# the plateau (the last 20 % of training's improvement) in
# OUTDIR/plateau.csv; the training and fine-tuning curves as a PNG through
# gnuplot. A checkpoint OUTDIR already holds, trained to STEPS, is reused
# (the run resumes after a stop).
#
#   bench/study/convert_study.sh BUILD OUTDIR [PNG]     (PNG default OUTDIR/conversion.png)
#
# Sizes (environment): DIM 256, LAYERS 4, HEADS 4, SEQ 64, BATCH 16,
# STEPS 2500 (fine-tuning STEPS / 10), LR 2e-3 (fine-tuning FT_LR 3e-4),
# EVAL_BATCHES 32 (the conversions' validation; training's is 16).
set -eu
[ $# -ge 2 ] || { echo "usage: convert_study.sh BUILD OUTDIR [PNG]" >&2; exit 2; }
B=$(cd "$1" && pwd); O=$2; mkdir -p "$O"; O=$(cd "$O" && pwd)
PNG=${3:-$O/conversion.png}
: "${DYTCL_CACHE_DIR:=$B/kcache}"; export DYTCL_CACHE_DIR
: "${DIM:=256}" "${LAYERS:=4}" "${HEADS:=4}" "${SEQ:=64}" "${BATCH:=16}" "${STEPS:=2500}" "${LR:=2e-3}" "${FT_LR:=3e-4}"
: "${EVAL_BATCHES:=32}"
FT=$((STEPS / 10))
EV=$((FT / 5))
F=/usr/share/games/fortunes
[ -s "$O/fortunes.txt" ] || find "$F" -maxdepth 1 -type f ! -name '*.*' | sort | xargs cat > "$O/fortunes.txt"
D="$O/fortunes.txt"
COMMON="--seq $SEQ --batch $BATCH"
echo "model,condition,original,converted,finetuned,gap_to_keep_pct" > "$O/results.csv"
echo "model,steps,val_at_80pct,val_at_end,last_20pct_improvement_pct" > "$O/plateau.csv"

convert() { # NAME CKPT TAG ARGS...: one dytcl convert run, its result line into results.csv
  name=$1 ckpt=$2 tag=$3; shift 3
  nice -n 5 "$B/dytcl" convert --model "$ckpt" --data "$D" --out "$O/$name-$tag.safetensors" --force \
    --lr "$FT_LR" --eval-every "$EV" $COMMON --eval-batches "$EVAL_BATCHES" --log "$O/$name-$tag.csv" "$@" \
    > "$O/$name-$tag.out" 2>&1
  r=$(grep '^result:' "$O/$name-$tag.out")
  keep=$(awk -F, -v m="$name" '$1 == m && $2 == "keep" {print $5}' "$O/results.csv")
  echo "$r" | awk -v m="$name" -v t="$tag" -v k="${keep:-nan}" \
    '{g = (k == "nan" || t == "keep") ? "" : sprintf("%.2f", 100 * ($7 / k - 1)); print m "," t "," $3 "," $5 "," $7 "," g}' \
    >> "$O/results.csv"
  echo "$name $tag: $r"
}

for pair in gpt:layernorm llama:rmsnorm; do
  arch=${pair%%:*} norm=${pair#*:} name=$arch-$norm
  if [ -s "$O/$name.safetensors" ] && grep -q "^trained to step $STEPS;" "$O/$name-train.out" 2> /dev/null; then
    echo "$name: trained already ($O/$name.safetensors)"
  else
    nice -n 5 "$B/dytcl" train --data "$D" --arch "$arch" --norm "$norm" --layers "$LAYERS" --dim "$DIM" --heads "$HEADS" \
      $COMMON --eval-batches 16 --steps "$STEPS" --lr "$LR" --eval-every $((STEPS / 20)) --diag-every 0 \
      --out "$O/$name.safetensors" --log "$O/$name-train.csv" --force > "$O/$name-train.out" 2>&1
  fi
  # the plateau: validation loss at 80 % of the steps and at the end
  awk -F, -v m="$name" -v n="$STEPS" 'NR > 1 && $5 != "" {v[$1] = $5} END {
    a = v[int(n * 0.8)]; b = v[n]; printf "%s,%d,%s,%s,%.2f\n", m, n, a, b, 100 * (a - b) / a}' \
    "$O/$name-train.csv" >> "$O/plateau.csv"
  tail -1 "$O/plateau.csv"
  convert "$name" "$O/$name.safetensors" keep --to keep --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" all --to dyt --schedule all --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" all-distill --to dyt --schedule all --distill 1 --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" layerwise --to dyt --schedule layerwise --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" layerwise-distill --to dyt --schedule layerwise --distill 1 --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" independent --to dyt --calib independent --finetune-steps 0
  convert "$name" "$O/$name.safetensors" derf --to derf --finetune-steps 0
done

# the originals' validation loss while training, and while fine-tuning, one panel per model
if command -v gnuplot > /dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 1500,450 font ",10"
set output "$PNG"
set datafile separator ","
set multiplot layout 1,3 title "Converting trained norms to DyT ($LAYERS layers, d $DIM, fortunes bytes): training to a plateau, then $FT fine-tuning steps (10 %)"
set title "the originals, training"
set xlabel "step"
set ylabel "val loss (nats/byte)"
set key top right
set yrange [*:2.6]
plot "$O/gpt-layernorm-train.csv" using 1:5 with linespoints title "GPT-LayerNorm", \
     "$O/llama-rmsnorm-train.csv" using 1:5 with linespoints title "LLaMA-RMSNorm"
set yrange [*:*]
do for [m in "gpt-layernorm llama-rmsnorm"] {
  set title m.", fine-tuning"
  set xlabel "fine-tuning step"
  plot "$O/".m."-keep.csv" using 1:5 with linespoints title "original (keep)", \
       "$O/".m."-all.csv" using 1:5 with linespoints title "DyT, all at once", \
       "$O/".m."-all-distill.csv" using 1:5 with linespoints title "DyT, all at once, distilled", \
       "$O/".m."-layerwise.csv" using 1:5 with linespoints title "DyT, layerwise", \
       "$O/".m."-layerwise-distill.csv" using 1:5 with linespoints title "DyT, layerwise, distilled"
}
unset multiplot
EOF
  echo "wrote $PNG"
fi
