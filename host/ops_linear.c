/* ops_linear.c -- GEMM through CLBlast, and linear layers built on it.
 *
 * Everything is row-major, as in the header. CLBlast reads and writes our
 * buffers in place at element offsets: no copies. Its kernels are compiled
 * at a shape's first call (seconds on PoCL with a cold cache), so a
 * benchmark warms up before it times. */
#include "ops_norm_util.h" /* first: it sets the OpenCL target version */
#include <clblast_c.h>
#include <stdlib.h>
#include <string.h>

/* CPU-shaped Xgemm parameters for PoCL, which CLBlast's database does not
 * know: 8-wide vectors along both tiles, 64x64 work-group tiles. On a 2-core
 * Zen 3 guest they give 54-72 GFLOP/s at GPT-2-small training shapes against
 * 12-24 with CLBlast's defaults (`dytcl bench gemm`; DYTCL_GEMM_DEFAULTS=1
 * keeps the defaults). */
static const char *const pocl_xgemm_names[] = {"GEMMK", "MWG", "NWG", "KWG", "MDIMC", "NDIMC", "MDIMA",
                                               "NDIMB", "KWI", "VWM", "VWN", "STRM", "STRN", "SA", "SB",
                                               "KREG"};
static const size_t pocl_xgemm_values[] = {0, 64, 64, 32, 8, 4, 8, 4, 2, 8, 8, 0, 0, 1, 1, 1};
/* Shapes below 128 go to CLBlast's direct kernel (untuned here); from 128
 * on, to the tuned Xgemm. */
static const char *const pocl_routine_names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
static const size_t pocl_routine_values[] = {128};

static dytcl_status blas_fail(dytcl_ctx *ctx, CLBlastStatusCode st, const char *what)
{
    if (st > -1000) return dy_cl_fail(ctx, (cl_int)st, what); /* an OpenCL error passed through */
    return dy_fail(ctx, DYTCL_ERR_OPENCL, "%s failed: CLBlast status %d", what, (int)st);
}

/* Applies the built-in parameters once per context on devices that need them. */
static dytcl_status gemm_setup(dytcl_ctx *ctx)
{
    if (ctx->gemm_ready) return DYTCL_OK;
    ctx->gemm_ready = 1;
    if (!(ctx->info.is_cpu && strstr(ctx->info.platform, "Portable Computing Language"))) return DYTCL_OK;
    const char *off = getenv("DYTCL_GEMM_DEFAULTS"); /* 1: keep CLBlast's own parameters */
    if (off && *off && strcmp(off, "0") != 0) return DYTCL_OK;
    CLBlastStatusCode st = CLBlastOverrideParameters(ctx->device, "Xgemm", CLBlastPrecisionSingle,
                                                     sizeof pocl_xgemm_values / sizeof pocl_xgemm_values[0],
                                                     (const char **)pocl_xgemm_names, pocl_xgemm_values);
    if (st == CLBlastSuccess)
        st = CLBlastOverrideParameters(ctx->device, "GemmRoutine", CLBlastPrecisionSingle, 1,
                                       (const char **)pocl_routine_names, pocl_routine_values);
    return st == CLBlastSuccess ? DYTCL_OK : blas_fail(ctx, st, "CLBlastOverrideParameters");
}

/* Keeps CLBlast's event for profiling, like dy_launch does for ours. */
static void keep_event(dytcl_ctx *ctx, cl_event ev)
{
    if (!ev) return;
    if (ctx->profiling && ctx->nevents < DY_MAX_EVENTS) {
        ctx->events[ctx->nevents++] = ev;
        return;
    }
    if (ctx->profiling) ctx->events_dropped = 1;
    clReleaseEvent(ev);
}

/* A must hold `rows` x `cols` elements from its offset. */
static dytcl_status check_matrix(dytcl_ctx *ctx, dytcl_tensor t, const char *name, int64_t rows, int64_t cols,
                                 int64_t batch, int64_t stride)
{
    dytcl_status s = dy_check_tensor(ctx, t, name);
    if (s) return s;
    int64_t need = (batch - 1) * stride + rows * cols;
    if (rows < 1 || cols < 1 || dytcl_tensor_numel(t) < need)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: a %lld x %lld matrix (x%lld, stride %lld) needs %lld "
                       "elements, the tensor has %lld", name, (long long)rows, (long long)cols, (long long)batch,
                       (long long)stride, (long long)need, (long long)dytcl_tensor_numel(t));
    return DYTCL_OK;
}

dytcl_status dytcl_gemm_batched(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                                dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                                dytcl_tensor C, int64_t stride_c, int batch)
{
    DY_CHECK_CTX(ctx);
    if (M < 1 || N < 1 || K < 1 || batch < 1)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: M=%d N=%d K=%d batch=%d must be positive", M, N, K, batch);
    if (!(alpha == alpha && beta == beta) || alpha - alpha != 0 || beta - beta != 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: alpha and beta must be finite");
    if (batch > 1 && (stride_a < 0 || stride_b < 0 || stride_c < (int64_t)M * N))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: bad batch strides (C's must be >= M*N)");
    dytcl_status s;
    if ((s = check_matrix(ctx, A, "A", trans_a ? K : M, trans_a ? M : K, batch, stride_a)) ||
        (s = check_matrix(ctx, B, "B", trans_b ? N : K, trans_b ? K : N, batch, stride_b)) ||
        (s = check_matrix(ctx, C, "C", M, N, batch, stride_c)) || (s = gemm_setup(ctx)))
        return s;
    const CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    const size_t lda = trans_a ? M : K, ldb = trans_b ? K : N, ldc = N;
    cl_event ev = NULL;
    if (ctx->profiling) {
        /* CLBlast may run several kernels and returns the last one's event: a
         * marker before them lets the profiled span cover all of them. */
        cl_event mark = NULL;
        if (clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &mark) == CL_SUCCESS) keep_event(ctx, mark);
    }
    CLBlastStatusCode st;
    if (batch == 1)
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, M, N, K, alpha, A.buf->mem, A.offset, lda, B.buf->mem,
                          B.offset, ldb, beta, C.buf->mem, C.offset, ldc, &ctx->queue, &ev);
    else
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, M, N, K, alpha, A.buf->mem, A.offset, lda,
                                        (size_t)stride_a, B.buf->mem, B.offset, ldb, (size_t)stride_b, beta,
                                        C.buf->mem, C.offset, ldc, (size_t)stride_c, (size_t)batch, &ctx->queue,
                                        &ev);
    if (st != CLBlastSuccess) return blas_fail(ctx, st, batch == 1 ? "CLBlastSgemm" : "CLBlastSgemmStridedBatched");
    keep_event(ctx, ev);
    ctx->stats.kernels_launched++;
    return DYTCL_OK;
}

dytcl_status dytcl_gemm(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha, dytcl_tensor A,
                        dytcl_tensor B, float beta, dytcl_tensor C)
{
    return dytcl_gemm_batched(ctx, trans_a, trans_b, M, N, K, alpha, A, 0, B, 0, beta, C, 0, 1);
}

/* ------------------------------------------------------------ linear layers */

/* x [rows, in], W [out, in]: the shapes every linear call checks. */
static dytcl_status linear_dims(dytcl_ctx *ctx, dytcl_tensor x, dytcl_tensor W, int *rows, int *in, int *out)
{
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, x, "x")) || (s = dy_check_tensor(ctx, W, "W"))) return s;
    if (W.ndim != 2) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "W must be [out, in], got %d dims", W.ndim);
    *out = (int)W.shape[0], *in = (int)W.shape[1];
    if (x.shape[x.ndim - 1] != *in)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "x's last dimension is %lld but W is [%d, %d]",
                       (long long)x.shape[x.ndim - 1], *out, *in);
    *rows = (int)(dytcl_tensor_numel(x) / *in);
    return DYTCL_OK;
}

dytcl_status dytcl_linear_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor W, dytcl_tensor b)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, in = 0, out = 0;
    dytcl_status s;
    if ((s = linear_dims(ctx, x, W, &rows, &in, &out)) || (s = norm_check_vec(ctx, y, "y", (int64_t)rows * out, 1)) ||
        (s = norm_check_vec(ctx, b, "b", out, 0)))
        return s;
    if (b.buf) { /* y = b in every row, then y += x W^T */
        static const char *const names[2] = {"bias_rows", "bias_rows_tail"};
        dy_kernel *k[2];
        for (int v = 0; v < 2; v++) {
            if ((s = dy_kernel_get(ctx, DY_PROG_LINEAR, names[v], &k[v]))) return s;
            int i = arg_tensor(ctx, k[v], 0, y, NULL);
            i = arg_tensor(ctx, k[v], i, b, NULL);
            i = arg_int(ctx, k[v], i, out);
            if (i < 0) return DYTCL_ERR_OPENCL;
        }
        size_t global[2] = {(size_t)out, (size_t)rows}, local[2] = {pow2_local(ctx, k[0], out < 256 ? out : 256), 1};
        if ((s = dy_launch_split(ctx, k[0], k[1], 2, global, local))) return s;
    }
    return dytcl_gemm(ctx, 0, 1, rows, out, in, 1.0f, x, W, b.buf ? 1.0f : 0.0f, y);
}

dytcl_status dytcl_linear_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dW, dytcl_tensor db, int accumulate,
                                   dytcl_tensor dy, dytcl_tensor x, dytcl_tensor W)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, in = 0, out = 0;
    dytcl_status s;
    if ((s = linear_dims(ctx, x, W, &rows, &in, &out)) || (s = norm_check_vec(ctx, dy, "dy", (int64_t)rows * out, 1)) ||
        (s = norm_check_vec(ctx, dx, "dx", (int64_t)rows * in, 0)) ||
        (s = norm_check_vec(ctx, dW, "dW", (int64_t)out * in, 1)) || (s = norm_check_vec(ctx, db, "db", out, 0)))
        return s;
    const float keep = accumulate ? 1.0f : 0.0f;
    /* dx [rows, in] = dy [rows, out] . W [out, in] */
    if (dx.buf && (s = dytcl_gemm(ctx, 0, 0, rows, in, out, 1.0f, dy, W, 0.0f, dx))) return s;
    /* dW [out, in] (+)= dy^T [out, rows] . x [rows, in] */
    if ((s = dytcl_gemm(ctx, 1, 0, out, in, rows, 1.0f, dy, x, keep, dW))) return s;
    /* db [out] (+)= the column sums of dy, row by row in order */
    return launch_colsum(ctx, DY_PROG_LINEAR, db, dy.buf->mem, (int)dy.offset, rows, out, accumulate != 0);
}
