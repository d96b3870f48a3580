#!/bin/sh
# convert_study.sh -- the conversion study of docs/conversion.md, in one
# command: a GPT with LayerNorm and a LLaMA with RMSNorm trained on the
# fortunes text (bytes), each converted to DyT by `dytcl convert` and
# fine-tuned for 10 % of its training steps with both schedules (all norms
# at once after sequential calibration; one norm at a time with fine-tuning
# between), against the original fine-tuned the same way (--to keep). Also,
# without fine-tuning: independent calibration, and Derf. Validation loss
# (nats per byte) in OUTDIR/results.csv; the fine-tuning curves as a PNG
# through gnuplot.
#
#   bench/study/convert_study.sh BUILD OUTDIR [PNG]     (PNG default OUTDIR/conversion.png)
#
# Sizes (environment): DIM 128, LAYERS 4, HEADS 4, SEQ 64, BATCH 16,
# STEPS 1000 (fine-tuning STEPS / 10), LR 2e-3 (fine-tuning FT_LR 3e-4).
set -eu
[ $# -ge 2 ] || { echo "usage: convert_study.sh BUILD OUTDIR [PNG]" >&2; exit 2; }
B=$(cd "$1" && pwd); O=$2; mkdir -p "$O"; O=$(cd "$O" && pwd)
PNG=${3:-$O/conversion.png}
: "${DYTCL_CACHE_DIR:=$B/kcache}"; export DYTCL_CACHE_DIR
: "${DIM:=128}" "${LAYERS:=4}" "${HEADS:=4}" "${SEQ:=64}" "${BATCH:=16}" "${STEPS:=1000}" "${LR:=2e-3}" "${FT_LR:=3e-4}"
FT=$((STEPS / 10))
F=/usr/share/games/fortunes
[ -s "$O/fortunes.txt" ] || find "$F" -maxdepth 1 -type f ! -name '*.*' | sort | xargs cat > "$O/fortunes.txt"
D="$O/fortunes.txt"
COMMON="--seq $SEQ --batch $BATCH --eval-batches 16"
echo "model,condition,original,converted,finetuned" > "$O/results.csv"

convert() { # NAME CKPT TAG ARGS...: one dytcl convert run, its result line into results.csv
  name=$1 ckpt=$2 tag=$3; shift 3
  nice -n 5 "$B/dytcl" convert --model "$ckpt" --data "$D" --out "$O/$name-$tag.safetensors" --force \
    --lr "$FT_LR" --eval-every 20 $COMMON --log "$O/$name-$tag.csv" "$@" > "$O/$name-$tag.out" 2>&1
  r=$(grep '^result:' "$O/$name-$tag.out")
  echo "$r" | awk -v m="$name" -v t="$tag" '{print m "," t "," $3 "," $5 "," $7}' >> "$O/results.csv"
  echo "$name $tag: $r"
}

for pair in gpt:layernorm llama:rmsnorm; do
  arch=${pair%%:*} norm=${pair#*:} name=$arch-$norm
  nice -n 5 "$B/dytcl" train --data "$D" --arch "$arch" --norm "$norm" --layers "$LAYERS" --dim "$DIM" --heads "$HEADS" \
    $COMMON --steps "$STEPS" --lr "$LR" --eval-every 200 --diag-every 0 --out "$O/$name.safetensors" \
    --log "$O/$name-train.csv" --force > "$O/$name-train.out" 2>&1
  tail -2 "$O/$name-train.out" | head -1
  convert "$name" "$O/$name.safetensors" keep --to keep --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" all --to dyt --schedule all --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" layerwise --to dyt --schedule layerwise --finetune-steps "$FT"
  convert "$name" "$O/$name.safetensors" independent --to dyt --calib independent --finetune-steps 0
  convert "$name" "$O/$name.safetensors" derf --to derf --finetune-steps 0
done

# the validation loss during fine-tuning (every 20 steps), one panel per model
if command -v gnuplot > /dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 1200,450 font ",10"
set output "$PNG"
set datafile separator ","
set multiplot layout 1,2 title "Converting trained norms to DyT: validation loss while fine-tuning ($LAYERS layers, d $DIM, fortunes bytes, $FT steps = 10 % of $STEPS)"
do for [m in "gpt-layernorm llama-rmsnorm"] {
  set title m
  set xlabel "fine-tuning step"
  set ylabel "val loss (nats/byte)"
  set key top right
  plot "$O/".m."-keep.csv" using 1:5 with linespoints title "original, fine-tuned", \
       "$O/".m."-all.csv" using 1:5 with linespoints title "DyT, all at once", \
       "$O/".m."-layerwise.csv" using 1:5 with linespoints title "DyT, layerwise"
}
unset multiplot
EOF
  echo "wrote $PNG"
fi
