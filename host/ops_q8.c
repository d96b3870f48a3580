/* ops_q8.c -- 8-bit block-quantized weights (DYTCL_Q8) for inference:
 * quantizing on the host, and the linear layer y = x W^T + b with W in Q8
 * on the device (cl/q8.cl). Layout and reasons: docs/quantization.md.
 *
 *   Q8 W [N, K], K % 32 == 0:  quants  int8  [N, K]       from byte off
 *                              scales  float [N, K / 32]  from byte off + N*K
 *   w[n, k] ~= q[n, k] * scale[n, k / 32]
 *
 * A product with few rows (decoding: R <= DY_GEMV_HALF_ROWS) reads the
 * quants and scales as stored, 9/32 of float32's bytes, and dequantizes
 * block by block in registers (q8_gemv_rows on CPU-shaped devices, a
 * work-item per output; q8_gemv_groups on GPUs, a work-group per output,
 * coalesced). More rows (a prompt) dequantize W once into the float32
 * DY_WS_WEIGHT workspace (q8_dequant) and run the float32 GEMM: the prompt
 * is compute-bound, where one extra pass over W costs little.
 * DYTCL_GEMV=0 takes the dequantizing path for every row count. */
#include "ops_args.h" /* first: it sets the OpenCL target version */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_host.h"

/* ------------------------------------------------------------------ host */

size_t dytcl_q8_bytes(int64_t rows, int64_t cols)
{
    if (rows < 1 || cols < 32 || cols % 32) return 0;
    if ((uint64_t)rows > SIZE_MAX / (uint64_t)cols) return 0;
    const size_t n = (size_t)rows * (size_t)cols;
    return n > SIZE_MAX / 9 * 8 ? 0 : n + n / 8;
}

static dytcl_status q8_args(const void *a, const void *b, int64_t rows, int64_t cols, const char *fn)
{
    if (!a || !b) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!dytcl_q8_bytes(rows, cols))
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "%s: a q8 matrix is [rows, cols] with cols a positive multiple "
                       "of 32 (blocks of 32 along a row); got [%lld, %lld]", fn, (long long)rows, (long long)cols);
    return DYTCL_OK;
}

dytcl_status dytcl_q8_quantize(const float *w, int64_t rows, int64_t cols, void *out)
{
    dytcl_status s = q8_args(w, out, rows, cols, __func__);
    if (s) return s;
    const size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_q8_quantize: weight %zu (row %zu) is %g: only finite "
                           "weights quantize", i, i / (size_t)cols, (double)w[i]);
    int8_t *q = out;
    unsigned char *sc = (unsigned char *)out + n;
    for (size_t b = 0; b < n / 32; b++) {
        const float *x = w + 32 * b;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float scale = amax / 127.0f;
        for (int j = 0; j < 32; j++) {
            /* round to nearest, ties away from zero; |x| <= amax keeps it in [-127, 127] */
            const double v = scale > 0.0f ? round((double)x[j] / (double)scale) : 0.0;
            q[32 * b + (size_t)j] = (int8_t)(v > 127.0 ? 127 : v < -127.0 ? -127 : v);
        }
        memcpy(sc + 4 * b, &scale, 4);
    }
    return DYTCL_OK;
}

dytcl_status dytcl_q8_dequantize(const void *in, int64_t rows, int64_t cols, float *w)
{
    dytcl_status s = q8_args(in, w, rows, cols, __func__);
    if (s) return s;
    const size_t n = (size_t)rows * (size_t)cols;
    const int8_t *q = in;
    const unsigned char *sc = (const unsigned char *)in + n;
    for (size_t b = 0; b < n / 32; b++) {
        float scale;
        memcpy(&scale, sc + 4 * b, 4);
        for (int j = 0; j < 32; j++) w[32 * b + (size_t)j] = (float)q[32 * b + (size_t)j] * scale;
    }
    return DYTCL_OK;
}

/* ---------------------------------------------------------------- device */

static int gemv_off(void)
{
    const char *env = getenv("DYTCL_GEMV");
    return env && !strcmp(env, "0");
}

/* y [R, N] = x [R, K] . W^T (+ b) on q8_gemv_rows or q8_gemv_groups. 0 and
 * nothing launched when the device's loop limit rules the kernel out. */
static dytcl_status gemv(dytcl_ctx *ctx, int R, int N, int K, dytcl_tensor y, dytcl_tensor x, dytcl_tensor W,
                         dytcl_tensor b, int *done)
{
    const int rows = dy_row_shape(ctx), KB = K / 32;
    dy_kernel *k;
    dytcl_status s = rows ? dy_kernel_get(ctx, DY_KERNEL(Q8, q8_gemv_rows), &k)
                          : dy_kernel_get(ctx, DY_KERNEL(Q8, q8_gemv_groups), &k);
    if (s) return s;
    /* a work-group of L: a power of two, at most the blocks of a row (so no work-item idles) and 64 */
    size_t L = 1;
    if (!rows) L = dy_pow2_local(ctx, k, (size_t)(KB < 64 ? KB : 64));
    if (!dy_loops_fit(ctx, (double)KB / (double)L + 8)) return DYTCL_OK;
    const cl_mem wm = W.buf->mem;
    int i = dy_arg_tensor(ctx, k, 0, y, NULL);
    i = dy_arg_tensor(ctx, k, i, x, NULL);
    i = dy_arg_mem(ctx, k, i, wm);
    i = dy_arg_int(ctx, k, i, (int)W.offset);
    i = dy_arg_mem(ctx, k, i, wm);
    i = dy_arg_int(ctx, k, i, (int)((W.offset + (size_t)N * K) / 4));
    i = dy_arg_tensor(ctx, k, i, b, y.buf->mem);
    i = dy_arg_int(ctx, k, i, b.buf != NULL);
    i = dy_arg_int(ctx, k, i, N);
    i = dy_arg_int(ctx, k, i, K);
    if (!rows) i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    *done = 1;
    if (rows) {
        size_t local[2] = {dy_pow2_local(ctx, k, 8), 1};
        size_t global[2] = {((size_t)N + local[0] - 1) / local[0] * local[0], (size_t)R};
        return dy_launch(ctx, k, 2, global, local);
    }
    size_t local[2] = {L, 1}, global[2] = {L * (size_t)N, (size_t)R};
    return dy_launch(ctx, k, 2, global, local);
}

/* W dequantized into the DY_WS_WEIGHT workspace: *out is it as a float32 [N, K] view. */
static dytcl_status dequant(dytcl_ctx *ctx, int N, int K, dytcl_tensor W, dytcl_tensor *out)
{
    const size_t n = (size_t)N * K;
    cl_mem ws;
    dy_kernel *k;
    dytcl_status s = dy_workspace(ctx, DY_WS_WEIGHT, n * sizeof(float), &ws);
    if (!s) s = dy_kernel_get(ctx, DY_KERNEL(Q8, q8_dequant), &k);
    if (s) return s;
    *out = dytcl_tensor_2d(ctx->workspace[DY_WS_WEIGHT], 0, N, K);
    int i = dy_arg_tensor(ctx, k, 0, *out, NULL);
    i = dy_arg_mem(ctx, k, i, W.buf->mem);
    i = dy_arg_int(ctx, k, i, (int)W.offset);
    i = dy_arg_mem(ctx, k, i, W.buf->mem);
    i = dy_arg_int(ctx, k, i, (int)((W.offset + n) / 4));
    i = dy_arg_int(ctx, k, i, (int)n);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t local = dy_pow2_local(ctx, k, 256), global = (n + local - 1) / local * local;
    return dy_launch(ctx, k, 1, &global, &local);
}

dytcl_status dy_linear_q8(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor W, dytcl_tensor b)
{
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, x, "x")) || (s = dy_check_tensor_dt(ctx, W, "W", DY_DT(DYTCL_Q8)))) return s;
    const int64_t N = W.shape[0], K = W.shape[1];
    if (x.shape[x.ndim - 1] != K)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "linear: x's last dimension is %lld but W is q8 [%lld, %lld] "
                       "([out, in])", (long long)x.shape[x.ndim - 1], (long long)N, (long long)K);
    const int64_t R = dytcl_tensor_numel(x) / K, qbytes = (int64_t)dytcl_q8_bytes(N, K);
    /* the kernels index with int: quants and scales from their offsets, x, y */
    if ((int64_t)W.offset + qbytes > INT_MAX || R * N + (int64_t)y.offset > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "linear: %lld rows x q8 [%lld, %lld] is beyond 2^31 elements",
                       (long long)R, (long long)N, (long long)K);
    if ((s = dy_check_tensor(ctx, y, "y"))) return s;
    if (dytcl_tensor_numel(y) != R * N)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "linear: y has %lld elements but must be [%lld, %lld]",
                       (long long)dytcl_tensor_numel(y), (long long)R, (long long)N);
    if (b.buf && ((s = dy_check_tensor(ctx, b, "b")) || dytcl_tensor_numel(b) != N))
        return s ? s : dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "linear: b has %lld elements but must be [%lld]",
                               (long long)dytcl_tensor_numel(b), (long long)N);
    if ((s = dy_args_check_apart(ctx, y, R * N, "y", b, b.buf ? N : 0, "b")) ||
        (s = dy_args_check_apart(ctx, y, R * N, "y", x, R * K, "x")) ||
        (s = dy_args_check_apart(ctx, y, R * N, "y", W, qbytes, "W")))
        return s;
    if (R <= DY_GEMV_HALF_ROWS && !gemv_off()) {
        int done = 0;
        if ((s = gemv(ctx, (int)R, (int)N, (int)K, y, x, W, b, &done)) || done) return s;
    }
    dytcl_tensor Wf;
    if ((s = dequant(ctx, (int)N, (int)K, W, &Wf))) return s;
    return dytcl_linear_forward(ctx, y, x, Wf, b);
}
