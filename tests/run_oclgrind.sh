#!/bin/sh
# Runs a test program under oclgrind, which simulates an OpenCL device and
# checks every kernel for out-of-bounds accesses, data races (local and
# global memory) and misuse of the OpenCL API. Fails when the test fails or
# oclgrind reports any of those. DYTCL_TEST_SMALL=1 asks the test for its
# small shapes only. (Oclgrind 21.10's --uninitialized plugin crashes inside
# the simulator on kernels that use float8; reads of unwritten memory are
# caught instead by the tests, which poison every output with NaN.)
set -u
log=$(mktemp)
DYTCL_TEST_SMALL=1 DYTCL_NO_CACHE=1 oclgrind --data-races --check-api "$@" 2>"$log"
rc=$?
cat "$log" >&2
if grep -Eq 'Invalid (read|write)|data race|Uninitiali[sz]ed|runtime error detected' "$log"; then
    echo "run_oclgrind: oclgrind reported errors in $1" >&2
    rc=1
fi
rm -f "$log"
exit $rc
