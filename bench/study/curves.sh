#!/bin/sh
# curves.sh -- the README's loss-curve chart, in one command: GPT, 3 layers,
# d 48, on the fortunes text at lr 3e-3 (the issue's configuration), with
# each norm at the default recipe (DyT/Derf alpha0 1, gamma0 7.0 / 6.2 for
# unit output), and with DyT at the previous GPT default alpha0 = 1/std of
# the embedding (6.862635 at d 48, gamma0 then 1.59), which saturates, all
# on one chart by `dytcl plot`.
#
#   bench/study/curves.sh BUILD OUTDIR [PNG]      (PNG default OUTDIR/curves.png)
set -eu
[ $# -ge 2 ] || { echo "usage: curves.sh BUILD OUTDIR [PNG]" >&2; exit 2; }
B=$(cd "$1" && pwd); O=$2; mkdir -p "$O"; O=$(cd "$O" && pwd)
PNG=${3:-$O/curves.png}
: "${DYTCL_CACHE_DIR:=$B/kcache}"; export DYTCL_CACHE_DIR
F=/usr/share/games/fortunes
[ -s "$O/fortunes.txt" ] || cat "$F/science" "$F/tao" "$F/startrek" "$F/goedel" > "$O/fortunes.txt"
C="--data $O/fortunes.txt --arch gpt --layers 3 --dim 48 --heads 3 --seq 32 --batch 8 --steps 400 --lr 3e-3 --eval-every 50 --eval-batches 0 --diag-every 50 --out '' --force"
for n in rmsnorm layernorm dyt derf; do
  eval "nice -n 5 \"$B/dytcl\" train $C --norm $n --log \"$O/gpt-$n.csv\"" > "$O/gpt-$n.out" 2>&1
done
A=6.862635
eval "nice -n 5 \"$B/dytcl\" train $C --norm dyt --alpha-attn $A --alpha-ffn $A --alpha-final $A --log \"$O/gpt-dyt-alpha6.9.csv\"" \
  > "$O/gpt-dyt-alpha6.9.out" 2>&1
"$B/dytcl" plot "$O/gpt-rmsnorm.csv" "$O/gpt-layernorm.csv" "$O/gpt-dyt.csv" "$O/gpt-derf.csv" "$O/gpt-dyt-alpha6.9.csv" \
  --png "$PNG" --title "GPT, 3 layers, d 48, fortunes, lr 3e-3, batch 8 x 32 bytes"
