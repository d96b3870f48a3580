/* gemm_gemv.c -- one-row products (decoding: x [1, in] . W^T) as a
 * matrix-vector kernel (gemv_nt in cl/linear.cl) instead of a GEMM.
 *
 * A tiled GEMM pads the one row to a whole tile (64x the work on CLBlast's
 * CPU parameters), and the host BLAS must wait for the queue to drain before
 * each product; the kernel streams W once and stays in queue order, so a
 * decoding step needs no synchronisation until its logits are read. It is
 * taken on CPU-shaped devices (a row per work-item, dy_row_shape), where one
 * work-item per output row streams at memory bandwidth; GPUs keep their GEMM
 * path. DYTCL_GEMV=0 turns it off (then the GEMM path does these too).
 *
 * Half-width weights (f16, bf16: inference) take the same kind of kernel on
 * every device, for up to DY_GEMV_HALF_ROWS rows of a (decoding, short
 * prompts): it reads B as stored, half the bytes of float32, and sums in
 * float32. More rows (a prompt) widen B once into a float32 workspace and
 * run the float32 GEMM: the products are the same numbers (the widening is
 * exact), at one extra pass over W. DYTCL_GEMV=0 takes the widening path
 * for every row count. */
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

/* c [R, N] = alpha * a [R, K] . B^T + beta * c through kernel k (gemv_nt
 * for float32 B, one row; gemv_nt_<dtype> for half-width B): global (N
 * rounded up, R). */
static dytcl_status launch_gemv(dytcl_ctx *ctx, dy_kernel *k, int R, int N, int K, float alpha, dytcl_tensor A,
                                dytcl_tensor B, float beta, dytcl_tensor C)
{
    int i = dy_arg_tensor(ctx, k, 0, C, NULL);
    i = dy_arg_tensor(ctx, k, i, A, NULL);
    i = dy_arg_tensor(ctx, k, i, B, NULL);
    i = dy_arg_int(ctx, k, i, N);
    i = dy_arg_int(ctx, k, i, K);
    i = dy_arg_float(ctx, k, i, alpha);
    i = dy_arg_float(ctx, k, i, beta);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t local[2] = {dy_pow2_local(ctx, k, 8), 1};
    size_t global[2] = {((size_t)N + local[0] - 1) / local[0] * local[0], (size_t)R};
    return dy_launch(ctx, k, 2, global, local);
}

dytcl_status dy_gemv(dytcl_ctx *ctx, int N, int K, float alpha, dytcl_tensor A, dytcl_tensor B, float beta,
                     dytcl_tensor C)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get(ctx, DY_KERNEL(LINEAR, gemv_nt), &k);
    return s ? s : launch_gemv(ctx, k, 1, N, K, alpha, A, B, beta, C);
}

static int gemv_off(void)
{
    const char *env = getenv("DYTCL_GEMV");
    return env && !strcmp(env, "0");
}

/* c [R, N] (+)= a [R, K] . B^T, B [N, K] half-width, on gemv_nt_<dtype>. */
static dytcl_status gemv_half(dytcl_ctx *ctx, int R, int N, int K, float alpha, dytcl_tensor A, dytcl_tensor B,
                              float beta, dytcl_tensor C)
{
    dy_kernel *k;
    dytcl_status s = B.dtype == DYTCL_F16 ? dy_kernel_get(ctx, DY_KERNEL(LINEAR, gemv_nt_f16), &k)
                                          : dy_kernel_get(ctx, DY_KERNEL(LINEAR, gemv_nt_bf16), &k);
    return s ? s : launch_gemv(ctx, k, R, N, K, alpha, A, B, beta, C);
}

/* B [N, K] half-width widened into the DY_WS_WEIGHT workspace: *out is it as
 * a float32 [N, K] view. */
static dytcl_status widen(dytcl_ctx *ctx, int N, int K, dytcl_tensor B, dytcl_tensor *out)
{
    const size_t n = (size_t)N * K;
    cl_mem ws;
    dy_kernel *k;
    dytcl_status s = dy_workspace(ctx, DY_WS_WEIGHT, n * sizeof(float), &ws);
    if (!s) s = B.dtype == DYTCL_F16 ? dy_kernel_get(ctx, DY_KERNEL(LINEAR, widen_f16), &k)
                                     : dy_kernel_get(ctx, DY_KERNEL(LINEAR, widen_bf16), &k);
    if (s) return s;
    *out = dytcl_tensor_2d(ctx->workspace[DY_WS_WEIGHT], 0, N, K);
    int i = dy_arg_tensor(ctx, k, 0, *out, NULL);
    i = dy_arg_tensor(ctx, k, i, B, NULL);
    i = dy_arg_int(ctx, k, i, (int)n);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t local = dy_pow2_local(ctx, k, 256), global = (n + local - 1) / local * local;
    return dy_launch(ctx, k, 1, &global, &local);
}

dytcl_status dy_gemm_half_b(dytcl_ctx *ctx, int R, int N, int K, float alpha, dytcl_tensor A, dytcl_tensor B,
                            float beta, dytcl_tensor C)
{
    if (R <= DY_GEMV_HALF_ROWS && !gemv_off() && dy_loops_fit(ctx, K / 8.0 + 8))
        return gemv_half(ctx, R, N, K, alpha, A, B, beta, C);
    dytcl_tensor Bf;
    dytcl_status s = widen(ctx, N, K, B, &Bf);
    return s ? s : dytcl_gemm(ctx, 0, 1, R, N, K, alpha, A, Bf, beta, C);
}
