#!/bin/sh
# dytcl plot: loss curves of training logs drawn by gnuplot. Two small logs
# (one with DyT diagnostics) make a PNG; a missing, garbled or empty log is
# refused naming the file (and line); --png never overwrites an input or a
# file that is not a PNG; without gnuplot the command says so and exits 1.
# Exits 77 (skipped) after the checks that need no gnuplot when it is not
# installed.
# usage: cli_plot.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/check.sh"

H="step,lr,loss,grad_norm,val_loss,tokens_per_s,elapsed_s"
awk -v h="$H" 'BEGIN { print h; for (s = 1; s <= 30; s++)
  printf "%d,0.001,%.4f,1.5,%s,1000,%d\n", s, 5 - s / 10, s % 10 ? "" : sprintf("%.4f", 4 - s / 20), s }' > dyt-run.csv
{ echo "step,norm,alpha,saturated_fraction,warning"
  for s in 10 20 30; do echo "$s,h.0.norm1,1.0$s,0.$s,"; echo "$s,normf,0.9,0.05,"; done; } > dyt-run.csv.diag.csv
sed 's/,1000,/,900,/' dyt-run.csv > rms-run.csv

# the refusals come before gnuplot is needed
"$DYTCL" plot dyt-run.csv nothere.csv --png a.png > out.txt 2> err.txt
check "a missing log is refused naming it" "[ $? -eq 1 ] && grep -q 'nothere.csv' err.txt && [ ! -e a.png ]"
printf 'hello,world\n1,2\n' > garbled.csv
"$DYTCL" plot garbled.csv --png a.png > out.txt 2> err.txt
check "a file that is not a log is refused naming it" "[ $? -eq 1 ] && grep -q 'garbled.csv' err.txt && [ ! -e a.png ]"
{ echo $H; echo "1,0.001,5.0,1,,1,1"; echo "2,0.001,x5,1,,1,1"; } > badrow.csv
"$DYTCL" plot badrow.csv --png a.png > out.txt 2> err.txt
check "a garbled row is refused naming the file and line" "[ $? -eq 1 ] && grep -q 'badrow.csv line 3' err.txt"
echo $H > empty.csv
"$DYTCL" plot empty.csv --png a.png > out.txt 2> err.txt
check "a log without rows is refused" "[ $? -eq 1 ] && grep -q 'empty.csv: no rows' err.txt"
cp dyt-run.csv keep.csv
"$DYTCL" plot dyt-run.csv --png dyt-run.csv > out.txt 2> err.txt
check "--png naming an input is refused, the input intact" "[ $? -eq 1 ] && cmp -s dyt-run.csv keep.csv"
"$DYTCL" plot dyt-run.csv --png dyt-run.csv.diag.csv > out.txt 2> err.txt
check "--png naming a diagnostics input is refused" "[ $? -eq 1 ] && grep -q 'input' err.txt"
echo "notes" > notes.png
"$DYTCL" plot dyt-run.csv --png notes.png > out.txt 2> err.txt
check "an existing file that is not a PNG is kept" "[ $? -eq 1 ] && grep -q 'notes' notes.png"
"$DYTCL" plot dyt-run.csv --png a.png --smooth 0 > out.txt 2> err.txt
check "a bad --smooth is a usage error" "[ $? -eq 2 ]"
"$DYTCL" plot --png a.png > out.txt 2> err.txt
check "no log is a usage error" "[ $? -eq 2 ]"
mkdir -p nogp
PATH="$PWD/nogp" "$DYTCL" plot dyt-run.csv --png a.png > out.txt 2> err.txt
check "without gnuplot: exit 1 saying so, no PNG" "[ $? -eq 1 ] && grep -q 'gnuplot is not installed' err.txt && [ ! -e a.png ]"

if ! command -v gnuplot > /dev/null 2>&1; then
  echo "skipped: gnuplot is not installed, so no chart is drawn (apt-get install gnuplot-nox)"
  [ $fail -eq 0 ] && exit 77
  exit 1
fi
"$DYTCL" plot dyt-run.csv rms-run.csv --png two.png --title "a 'quoted' title" > out.txt 2> err.txt
check "two runs with diagnostics make a PNG" "[ $? -eq 0 ] && head -c 4 two.png | od -c | grep -q 'P   N   G' && [ \$(wc -c < two.png) -gt 10000 ]"
check "no temporary file is left" "[ \$(ls | grep -c tmp) -eq 0 ]"
"$DYTCL" plot rms-run.csv --png two.png --tokens-per-step 256 --smooth 1 > out.txt 2> err.txt
check "an existing PNG is replaced; tokens on the x axis" "[ $? -eq 0 ] && head -c 4 two.png | od -c | grep -q 'P   N   G'"
exit $fail
