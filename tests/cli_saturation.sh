#!/bin/sh
# dytcl train's saturation guard: a DyT/Derf layer with more than 90% of its
# inputs at |alpha x| > 2 at 3 diagnostics in a row is named once, on the
# terminal and in the diagnostics CSV; a run at the default alpha0 is not.
# usage: cli_saturation.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"

S="--data text.txt --batch 4 --seq 16 --dim 16 --layers 1 --heads 2 --eval-every 0 --diag-every 1 --steps 8 --out ''"
for norm in dyt derf; do
  # alpha0 100: every input saturates from the first step
  eval "\"$DYTCL\" train $S --norm $norm --alpha-attn 100 --alpha-ffn 100 --alpha-final 100 --log sat-$norm.csv" > sat.out 2> sat.err
  check "$norm: saturated run trains" "[ $? -eq 0 ]"
  check "$norm: the warning is said once, naming a layer and what to change" \
    "[ \$(grep -c 'warning: .*norm.* saturates' sat.out) -eq 1 ] && grep -q 'warning: h.0.norm[12]\\|warning: normf' sat.out && grep -q 'lower --lr' sat.out"
  check "$norm: the warning comes at the third diagnostic in a row" "grep -q '^step 3: warning' sat.out"
  check "$norm: the diagnostics CSV has it once, on the layer's row of step 3" \
    "[ \$(grep -c 'saturates' sat-$norm.csv.diag.csv) -eq 1 ] && grep -q '^3,[^,]*norm[^,]*,[^,]*,[^,]*,warning: ' sat-$norm.csv.diag.csv"
  eval "\"$DYTCL\" train $S --norm $norm --log ok-$norm.csv" > ok.out 2> ok.err
  check "$norm: no warning at the default alpha0" "[ $? -eq 0 ] && ! grep -q warning ok.out && ! grep -q saturates ok-$norm.csv.diag.csv"
done
exit $fail
