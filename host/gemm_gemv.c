/* gemm_gemv.c -- one-row products (decoding: x [1, in] . W^T) as a
 * matrix-vector kernel (gemv_nt in cl/linear.cl) instead of a GEMM.
 *
 * A tiled GEMM pads the one row to a whole tile (64x the work on CLBlast's
 * CPU parameters), and the host BLAS must wait for the queue to drain before
 * each product; the kernel streams W once and stays in queue order, so a
 * decoding step needs no synchronisation until its logits are read. It is
 * taken on CPU-shaped devices (a row per work-item, dy_row_shape), where one
 * work-item per output row streams at memory bandwidth; GPUs keep their GEMM
 * path. DYTCL_GEMV=0 turns it off (then the GEMM path does these too). */
#include "gemm_host.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops_args.h"

int dy_gemv_takes(dytcl_ctx *ctx, int trans_b, int M, int N, int K, int batch, dytcl_tensor A, dytcl_tensor B,
                  dytcl_tensor C)
{
    if (M != 1 || !trans_b || batch != 1) return 0;
    const char *env = getenv("DYTCL_GEMV");
    if (env && !strcmp(env, "0")) return 0;
    if (!dy_row_shape(ctx) || !dy_loops_fit(ctx, K / 8.0 + 8)) return 0;
    /* the kernel indexes with int */
    return (int64_t)A.offset + K <= INT_MAX && (int64_t)B.offset + (int64_t)N * K <= INT_MAX &&
           (int64_t)C.offset + N <= INT_MAX;
}

dytcl_status dy_gemv(dytcl_ctx *ctx, int N, int K, float alpha, dytcl_tensor A, dytcl_tensor B, float beta,
                     dytcl_tensor C)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get(ctx, DY_KERNEL(LINEAR, gemv_nt), &k);
    if (s) return s;
    int i = arg_tensor(ctx, k, 0, C, NULL);
    i = arg_tensor(ctx, k, i, A, NULL);
    i = arg_tensor(ctx, k, i, B, NULL);
    i = arg_int(ctx, k, i, N);
    i = arg_int(ctx, k, i, K);
    i = arg_float(ctx, k, i, alpha);
    i = arg_float(ctx, k, i, beta);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t local = pow2_local(ctx, k, 8), global = ((size_t)N + local - 1) / local * local;
    return dy_launch(ctx, k, 1, &global, &local);
}
