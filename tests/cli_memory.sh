#!/bin/sh
# A model larger than the process may hold (an address-space limit, ulimit -v)
# is refused with its sizes, exit 1, within seconds, by train and generate:
# never an abort inside the OpenCL driver. Skipped (77) where the shell cannot
# lower the limit or the device is not a CPU (the limit only binds host memory).
# usage: cli_memory.sh DYTCL WORKDIR
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/check.sh"
"$DYTCL" devices 2>/dev/null | grep -qi "type.*cpu\|CPU" || { echo "not a CPU device: skipped"; exit 77; }
( ulimit -v 2500000 ) 2>/dev/null || { echo "cannot lower ulimit -v: skipped"; exit 77; }
head -c 20000 /dev/urandom | od -An -c | head -c 20000 > text.txt
cp text.txt keep.txt
start=$(date +%s)
( ulimit -v 2500000; exec "$DYTCL" train --data text.txt --dim 1024 --heads 16 --layers 24 --steps 1 \
    --out big.st --log big.csv ) > out.txt 2> err.txt
rc=$?
end=$(date +%s)
check "train past the address-space limit exits 1" "[ $rc -eq 1 ]"
check "the message gives the sizes and the limit" "grep -q 'MiB' err.txt && grep -q 'ulimit -v' err.txt"
check "refused within 5 seconds ($((end - start)) s)" "[ $((end - start)) -le 5 ]"
check "no checkpoint and the data intact" "[ ! -e big.st ] && cmp -s text.txt keep.txt"
exit $fail
