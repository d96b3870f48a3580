#!/bin/sh
# gpu-report.sh BUILD_DIR -- on the day a GPU is at hand: `dytcl devices`,
# the test suite, and the norm, GEMM, training and decoding benchmarks on
# the first GPU (the library's default pick; DYTCL_DEVICE=index|name picks
# another), all into one summary file named after the device:
#   bench/results/gpu-report-<device>.txt  (and the benchmarks' JSON beside it)
# Each step's exit status is recorded; a failing step does not stop the
# others. With the GPU tuning set swept: DYTCL_KNOBS=cpu|gpu (host/program.c).
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DYTCL=$BUILD/dytcl
[ -x "$DYTCL" ] || { echo "gpu-report: $DYTCL is missing (make build)" >&2; exit 1; }
info=$("$DYTCL" devices 2>&1)
# the device the library picks: the self-test line names it
dev=$(printf '%s\n' "$info" | sed -n 's/^self-test on \[[0-9]*\] \(.*\): .*/\1/p' | head -1)
if ! printf '%s\n' "$info" | grep -q "type *GPU" && [ -z "${GPU_REPORT_ANY:-}" ]; then
    echo "gpu-report: no GPU among the OpenCL devices (GPU_REPORT_ANY=1 runs it on \"$dev\" anyway)" >&2
    exit 1
fi
slug=$(printf '%s' "$dev" | tr -c 'A-Za-z0-9' '-' | tr -s '-' | sed 's/^-//; s/-$//' | cut -c1-60)
out=$ROOT/bench/results/gpu-report-$slug.txt
step() { # title, command...
    title=$1
    shift
    printf '\n## %s\n$ %s\n' "$title" "$*" >> "$out"
    t0=$(date +%s)
    "$@" >> "$out" 2>&1
    rc=$?
    printf -- '-- exit %d, %d s\n' $rc $(($(date +%s) - t0)) >> "$out"
    echo "gpu-report: $title: exit $rc"
}
{
    echo "# dytcl on $dev"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "DYTCL_DEVICE=${DYTCL_DEVICE:-} DYTCL_KNOBS=${DYTCL_KNOBS:-}"
} > "$out"
step "devices" "$DYTCL" devices
step "tests" sh -c "cd '$BUILD' && ctest --output-on-failure -j 2"
step "bench norms" "$DYTCL" bench norms --json "${out%.txt}-norms.json"
step "bench gemm" "$DYTCL" bench gemm --json "${out%.txt}-gemm.json"
step "bench train" "$DYTCL" bench train --json "${out%.txt}-train.json"
step "bench decode" "$DYTCL" bench decode
echo "gpu-report: wrote $out"
