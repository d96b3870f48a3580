#!/bin/sh
# Data-parallel `dytcl train` over MPI: two ranks with a global batch of B
# reproduce the one-process run with batch B to float32 rounding (losses,
# validation losses, parameters, greedy generation); a chunked all-reduce
# gives the same bytes as an unchunked one; a two-rank run stopped and
# resumed equals the uninterrupted one byte for byte; rank 0 alone writes;
# a batch the ranks cannot share exits 2.
# usage: cli_mpi.sh DYTCL MPIEXEC WORKDIR
set -u
DYTCL=$1
MPIEXEC=$2
W=$3
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/cli_common.sh"

# Under AddressSanitizer (make test-asan) Open MPI's own allocations, many in
# components it unloads at MPI_Finalize, read as leaks: leak checking stays on
# for the one-process runs here and in cli_train.sh, off for the ranks.
MPIRUN="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 $MPIEXEC -np 2 --oversubscribe"
if [ "$(id -u)" -eq 0 ]; then
  MPIRUN="$MPIRUN --allow-run-as-root"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi


"$DYTCL" train $A --out one.st --log one.csv > one.out 2>&1
check "one-process run" "[ $? -eq 0 ]"
$MPIRUN "$DYTCL" train $A --out two.st --log two.csv > two.out 2>&1
check "two-rank run" "[ $? -eq 0 ]"
cat two.out

# losses, gradient norms and validation losses, step by step
compare() { # column name: relative difference < 1e-5 on every row where both have a value
  awk -F, -v c="$1" 'NR == FNR { a[FNR] = $c; next }
    FNR > 1 { x = a[FNR]; y = $c; if (x == "" && y == "") next; n++
              if (x == "" || y == "") { bad++; next }
              d = x - y; if (d < 0) d = -d; m = x < 0 ? -x : x
              if (d > 1e-5 * m) { bad++; print "row " FNR ": " x " vs " y } }
    END { exit !(n > 0 && bad == 0 && FNR == 21) }' one.csv two.csv
}
check "20 losses equal to 1e-5 relative" "compare 3"
check "gradient norms equal to 1e-5 relative" "compare 4"
check "validation losses equal to 1e-5 relative" "compare 5"
check "rank 0 alone writes the log and speaks" "[ \$(grep -c 'trained to step 20' two.out) -eq 1 ] && [ \$(wc -l < two.csv) -eq 21 ]"
check "the ranks' parameters are identical" "grep -q '2 ranks: the parameters are identical on every rank' two.out"
check "all-reduce time reported" "grep -q 'all-reduce: .* ms/step (.*% of the step' two.out"
check "diagnostics written once" "[ \$(grep -c '^10,normf' two.csv.diag.csv) -eq 1 ]"

# the parameters: per tensor, max |a - b| <= 1e-5 max |a|
if command -v python3 > /dev/null 2>&1; then
  cat > cmp.py << 'EOF'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k != '__metadata__':
            s, e = v['data_offsets']
            out[k] = struct.unpack('<%df' % ((e - s) // 4), b[8 + n + s:8 + n + e])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = 0
for k in a:
    d = max(abs(x - y) for x, y in zip(a[k], b[k]))
    m = max(abs(x) for x in a[k])
    if d > 1e-5 * m:
        print('%s: max difference %g, max |value| %g' % (k, d, m)); bad += 1
sys.exit(1 if bad or sorted(a) != sorted(b) else 0)
EOF
  check "final parameters (and AdamW state) equal to 1e-5 of each tensor's scale" "python3 cmp.py one.st two.st"
fi
G="--prompt the --tokens 25 --temperature 0 --ids"
"$DYTCL" generate --model one.st $G > g1.txt 2> g.err
"$DYTCL" generate --model two.st $G > g2.txt 2>> g.err
check "the same greedy tokens from both checkpoints" "[ \$(wc -l < g1.txt) -eq 25 ] && cmp -s g1.txt g2.txt"

# the all-reduce in chunks of 1000 floats (the model has 43174): the same sums
DYTCL_ALLREDUCE_CHUNK=1000 $MPIRUN "$DYTCL" train $A --out chunked.st --log chunked.csv > chunked.out 2>&1
check "chunked all-reduce gives the same checkpoint byte for byte" "[ $? -eq 0 ] && cmp -s chunked.st two.st"

# stop at step 9 and resume, both with two ranks
$MPIRUN "$DYTCL" train $A --stop-at 9 --out part.st --log part.csv > part1.out 2>&1
check "two-rank run stopped at step 9" "[ $? -eq 0 ] && tail -1 part.csv | grep -q '^9,'"
$MPIRUN "$DYTCL" train --resume part.st --data text.txt --out part.st --log part.csv > part2.out 2>&1
check "two-rank resumed run" "[ $? -eq 0 ]"
check "resumed checkpoint equals the uninterrupted two-rank one byte for byte" "cmp -s part.st two.st"
cut -d, -f1-4 two.csv > a.txt; cut -d, -f1-4 part.csv > b.txt
check "resumed losses equal the uninterrupted ones" "cmp -s a.txt b.txt"

# a batch the ranks cannot share
$MPIRUN "$DYTCL" train $A --batch 3 --out bad.st --log bad.csv > bad.out 2>&1
check "--batch 3 on 2 ranks exits 2 with one message" \
  "[ $? -eq 2 ] && [ \$(grep -c 'does not divide among 2 ranks' bad.out) -eq 1 ] && [ ! -e bad.st ]"
exit $fail
