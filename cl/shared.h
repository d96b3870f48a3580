/* shared.h -- the numbers the host and the kernels must agree on. The host
 * includes this file; the build puts it in front of cl/common.cl, which
 * starts every program. Plain #defines only: it is C and OpenCL C at once.
 *
 * Kernel names (the build lists them; the host asks for DY_KERNEL(PROG, name)):
 *   <op>_<pass>        one shape
 *   ..._rows           a work-item walks whole rows (the CPU shape)
 *   ..._cols           a work-item walks a few columns down a block of rows
 *   ..._wg             a work-group per row or block, sharing through local
 *                      memory (the GPU shape)
 *   ..._nchw           channels-first layout
 *   ..._tail           the same kernel with the bounds check of the last
 *                      partial work-group (dy_launch_split) */
#ifndef DYTCL_SHARED_H
#define DYTCL_SHARED_H

/* Norm kernels' `flags` argument: which affine parameters are present. */
#define HAS_W 1
#define HAS_B 2

/* Attention (cl/attention.cl): the largest head size D. */
#define ATTN_DMAX 128

/* Decoding attention (cl/decode.cl): the largest head size, the largest
 * work-group, and the columns of D one work-item takes at most (D <= 8 L). */
#define DECODE_DMAX 128
#define DECODE_WG_MAX 256
#define DECODE_COLS 8

/* Decoding attention over many new positions at once (a prompt) on CPUs:
 * queries per work-item (attn_prefill_rows, the lanes of a float16), and
 * the fewest new positions that take it. */
#define DECODE_QB 16
#define DECODE_PREFILL_MIN 16

#endif
