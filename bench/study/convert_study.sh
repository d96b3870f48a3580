#!/bin/sh
# convert_study.sh -- the conversion study of docs/conversion.md, in one
# command: a GPT with LayerNorm and a LLaMA with RMSNorm trained on the
# first TEXT_BYTES of the fortunes text (bytes) to a plateau, each converted to DyT by `dytcl
# convert` and fine-tuned for 10 % of its training steps, against the
# original fine-tuned the same way (--to keep, the baseline). Conditions:
#   keep            the original, fine-tuned (cross-entropy)
#   all             all norms at once (sequential calibration), cross-entropy
#   all-distill     all at once, distilled against the original (--distill 1)
#   layerwise       one norm at a time with fine-tuning between, cross-entropy
#   layerwise-distill  the same, distilled
#   independent, derf  the conversion alone (no fine-tuning): independent
#                   calibration; Derf instead of DyT
# keep and all-distill run at each peak lr of FT_LRS, the others at the
# first; OUTDIR/results.csv has each run's validation loss (nats per byte),
# OUTDIR/best.csv each condition at its best lr and its gap to keep at
# keep's best; the plateau (the last 20 % of training's improvement) in
# OUTDIR/plateau.csv; the training and fine-tuning curves as a PNG through
# gnuplot. The two models run at once (training, then their conversions).
# A checkpoint OUTDIR already holds, trained to STEPS, is reused (the run
# resumes after a stop).
#
#   bench/study/convert_study.sh BUILD OUTDIR [PNG]     (PNG default OUTDIR/conversion.png)
#
# Sizes (environment): DIM 256, LAYERS 4, HEADS 4, SEQ 64, BATCH 16,
# STEPS 3000 (fine-tuning STEPS / 10), LR 2e-3 (fine-tuning FT_LRS
# "3e-4 1e-3"), TEXT_BYTES 300000 (the last 10 % validation; 3000 steps of
# 16 x 64 bytes are 11 passes over the rest), EVAL_BATCHES 32 (the
# conversions' validation, 32 KB of the 30 KB: all of it; training's 16).
set -eu
[ $# -ge 2 ] || { echo "usage: convert_study.sh BUILD OUTDIR [PNG]" >&2; exit 2; }
B=$(cd "$1" && pwd); O=$2; mkdir -p "$O"; O=$(cd "$O" && pwd)
PNG=${3:-$O/conversion.png}
: "${DYTCL_CACHE_DIR:=$B/kcache}"; export DYTCL_CACHE_DIR
: "${DIM:=256}" "${LAYERS:=4}" "${HEADS:=4}" "${SEQ:=64}" "${BATCH:=16}" "${STEPS:=3000}" "${LR:=2e-3}"
: "${FT_LRS:=3e-4 1e-3}" "${EVAL_BATCHES:=32}" "${TEXT_BYTES:=300000}"
FT=$((STEPS / 10))
EV=$((FT / 5))
F=/usr/share/games/fortunes
[ -s "$O/text.txt" ] || find "$F" -maxdepth 1 -type f ! -name '*.*' | sort | xargs cat | head -c "$TEXT_BYTES" > "$O/text.txt"
D="$O/text.txt"
COMMON="--seq $SEQ --batch $BATCH"
echo "model,condition,ft_lr,original,converted,finetuned" > "$O/results.csv"
echo "model,steps,val_at_80pct,val_at_end,last_20pct_improvement_pct" > "$O/plateau.csv"

convert() { # NAME TAG LR ARGS...: one dytcl convert run of NAME's original, its result line into results.csv
  name=$1 tag=$2 lr=$3; shift 3
  f=$O/$name-$tag${lr:+-lr$lr}
  nice -n 5 "$B/dytcl" convert --model "$O/$name.safetensors" --data "$D" --out "$f.safetensors" --force \
    --lr "${lr:-3e-4}" --eval-every "$EV" $COMMON --eval-batches "$EVAL_BATCHES" --log "$f.csv" "$@" > "$f.out" 2>&1
  r=$(grep '^result:' "$f.out")
  echo "$r" | awk -v m="$name" -v t="$tag" -v l="${lr:--}" '{print m "," t "," l "," $3 "," $5 "," $7}' >> "$O/results.csv"
  echo "$name $tag ${lr:+lr $lr}: $r"
}

train() { # ARCH NORM: the original, unless OUTDIR has it
  name=$1-$2
  if [ -s "$O/$name.safetensors" ] && grep -q "^trained to step $STEPS;" "$O/$name-train.out" 2> /dev/null; then
    echo "$name: trained already ($O/$name.safetensors)"
  else
    nice -n 5 "$B/dytcl" train --data "$D" --arch "$1" --norm "$2" --layers "$LAYERS" --dim "$DIM" --heads "$HEADS" \
      $COMMON --eval-batches 16 --steps "$STEPS" --lr "$LR" --eval-every $((STEPS / 20)) --diag-every 0 \
      --out "$O/$name.safetensors" --log "$O/$name-train.csv" --force > "$O/$name-train.out" 2>&1
    tail -2 "$O/$name-train.out" | head -1
  fi
}

conditions() { # NAME: every conversion of one model
  n=$1 lr1=${FT_LRS%% *}
  for lr in $FT_LRS; do
    convert "$n" keep "$lr" --to keep --finetune-steps "$FT"
    convert "$n" all-distill "$lr" --to dyt --schedule all --distill 1 --finetune-steps "$FT"
  done
  convert "$n" all "$lr1" --to dyt --schedule all --finetune-steps "$FT"
  convert "$n" layerwise "$lr1" --to dyt --schedule layerwise --finetune-steps "$FT"
  convert "$n" layerwise-distill "$lr1" --to dyt --schedule layerwise --distill 1 --finetune-steps "$FT"
  convert "$n" independent "" --to dyt --calib independent --finetune-steps 0
  convert "$n" derf "" --to derf --finetune-steps 0
}

train gpt layernorm & p1=$!
train llama rmsnorm & p2=$!
wait $p1 && wait $p2
for name in gpt-layernorm llama-rmsnorm; do
  # the plateau: validation loss at 80 % of the steps and at the end
  awk -F, -v m="$name" -v n="$STEPS" 'NR > 1 && $5 != "" {v[$1] = $5} END {
    a = v[int(n * 0.8)]; b = v[n]; printf "%s,%d,%s,%s,%.2f\n", m, n, a, b, 100 * (a - b) / a}' \
    "$O/$name-train.csv" >> "$O/plateau.csv"
done
cat "$O/plateau.csv"
conditions gpt-layernorm & p1=$!
conditions llama-rmsnorm & p2=$!
wait $p1 && wait $p2
{ head -1 "$O/results.csv"; tail -n +2 "$O/results.csv" | sort -s -t, -k1,1; } > "$O/results.sorted" && mv "$O/results.sorted" "$O/results.csv"
# each condition at its best lr; the gap to keep at keep's best
awk -F, 'NR > 1 { k = $1 "," $2; if (!(k in best) || $6 < best[k]) { best[k] = $6; row[k] = $0 }; if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
  END { print "model,condition,ft_lr,original,converted,finetuned,gap_to_keep_pct"
        for (i = 1; i <= n; i++) { k = order[i]; split(k, a, ","); kb = best[a[1] ",keep"]
          g = a[2] == "keep" ? "" : sprintf("%.2f", 100 * (best[k] / kb - 1)); print row[k] "," g } }' \
  "$O/results.csv" > "$O/best.csv"
cat "$O/best.csv"

# the originals' validation loss while training, and while fine-tuning, one panel per model
if command -v gnuplot > /dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 1500,450 font ",10"
set output "$PNG"
set datafile separator ","
set multiplot layout 1,3 title "Converting trained norms to DyT ($LAYERS layers, d $DIM, fortunes bytes): training to a plateau, then $FT fine-tuning steps (10 %)"
set title "the originals, training (val loss every $((STEPS / 20)) steps)"
set xlabel "step"
set ylabel "val loss (nats/byte)"
set key top right
set yrange [*:2.6]
plot "$O/gpt-layernorm-train.csv" using 1:5 with linespoints title "GPT-LayerNorm", \
     "$O/llama-rmsnorm-train.csv" using 1:5 with linespoints title "LLaMA-RMSNorm"
set yrange [*:*]
$(for m in gpt-layernorm llama-rmsnorm; do
  echo "set title \"$m, fine-tuning (each at its best lr)\""
  echo 'set xlabel "fine-tuning step"'
  sep="plot"
  for c in keep all all-distill layerwise layerwise-distill; do
    lr=$(awk -F, -v m=$m -v c=$c '$1 == m && $2 == c {print $3}' "$O/best.csv")
    printf '%s "%s" using 1:5 with linespoints title "%s, lr %s"' "$sep" "$O/$m-$c-lr$lr.csv" "$c" "$lr"
    sep=","
  done
  echo
done)
unset multiplot
EOF
  echo "wrote $PNG"
fi
