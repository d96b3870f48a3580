/* ops_linear.c -- GEMM through CLBlast (or the host's BLAS on CPU devices,
 * gemm_host.c), and linear layers built on it.
 *
 * Everything is row-major, as in the header. CLBlast reads and writes our
 * buffers in place at element offsets: no copies (CLBlast allocates its own
 * padding temporaries inside a call when a shape needs them). Which kernel
 * parameters CLBlast uses is decided at a context's first GEMM
 * (gemm_params.c). The bias add and the bias gradient are ours
 * (cl/linear.cl, and colsum in cl/common.cl). */
#include "ops_args.h" /* first: it sets the OpenCL target version */
#include <clblast_c.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_host.h"
#include "gemm_tune.h"

/* (batch - 1) * stride + rows * cols: the elements `batch` matrices of
 * rows x cols, `stride` apart, span; -1 when that passes INT64_MAX. */
static int64_t matrix_span(int64_t rows, int64_t cols, int64_t batch, int64_t stride)
{
    return dy_size_add(dy_size_mul(batch - 1, stride), dy_size_mul(rows, cols));
}

/* t must hold `batch` rows x cols matrices, `stride` elements apart. */
static dytcl_status check_matrix(dytcl_ctx *ctx, dytcl_tensor t, const char *name, int64_t rows, int64_t cols,
                                 int64_t batch, int64_t stride)
{
    dytcl_status s = dy_check_tensor(ctx, t, name);
    if (s) return s;
    int64_t need = matrix_span(rows, cols, batch, stride);
    if (need < 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: %s: %lld matrices of %lld x %lld, %lld apart, span more "
                       "than 2^63 elements", name, (long long)batch, (long long)rows, (long long)cols,
                       (long long)stride);
    if (dytcl_tensor_numel(t) < need && batch == 1)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: %s is %lld x %lld = %lld elements, but the tensor has %lld",
                       name, (long long)rows, (long long)cols, (long long)need, (long long)dytcl_tensor_numel(t));
    if (dytcl_tensor_numel(t) < need)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: %s must hold %lld matrices of %lld x %lld, %lld apart: "
                       "%lld elements, but the tensor has %lld", name, (long long)batch, (long long)rows,
                       (long long)cols, (long long)stride, (long long)need, (long long)dytcl_tensor_numel(t));
    return DYTCL_OK;
}

/* A written tensor's elements must not overlap another's (ops_args.c). */
#define check_apart dy_args_check_apart

/* dytcl_gemm_batched's argument checks; strides set to 0 when batch is 1. */
static dytcl_status gemm_check(dytcl_ctx *ctx, dy_gemm_args *p)
{
    const int M = p->M, N = p->N, K = p->K, batch = p->batch;
    if (M < 1 || N < 1 || K < 1 || batch < 1)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: M=%d N=%d K=%d batch=%d must all be positive", M, N, K, batch);
    const float alpha = p->alpha, beta = p->beta;
    if (!(alpha == alpha && beta == beta) || alpha - alpha != 0 || beta - beta != 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: alpha (%g) and beta (%g) must be finite", alpha, beta);
    if (batch > 1 && (p->stride_a < 0 || p->stride_b < 0 || p->stride_c < (int64_t)M * N))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm: strides A %lld, B %lld, C %lld: A's and B's must be >= 0, "
                       "C's >= M*N = %lld (the C matrices must not overlap)", (long long)p->stride_a,
                       (long long)p->stride_b, (long long)p->stride_c, (long long)M * N);
    if (batch == 1) p->stride_a = p->stride_b = p->stride_c = 0;
    /* Spans; checked (and every one within its tensor) before use. */
    const int64_t na = matrix_span(M, K, batch, p->stride_a), nb = matrix_span(K, N, batch, p->stride_b);
    const int64_t nc = matrix_span(M, N, batch, p->stride_c);
    const int ta = p->trans_a, tb = p->trans_b;
    dytcl_status s;
    if ((s = check_matrix(ctx, p->A, ta ? "A (transposed: [K, M])" : "A ([M, K])", ta ? K : M, ta ? M : K, batch,
                          p->stride_a)) ||
        (s = check_matrix(ctx, p->B, tb ? "B (transposed: [N, K])" : "B ([K, N])", tb ? N : K, tb ? K : N, batch,
                          p->stride_b)) ||
        (s = check_matrix(ctx, p->C, "C ([M, N])", M, N, batch, p->stride_c)) ||
        (s = check_apart(ctx, p->C, nc, "C", p->A, na, "A")) || (s = check_apart(ctx, p->C, nc, "C", p->B, nb, "B")))
        return s;
    return dy_gemm_path_choose(ctx);
}

/* 1 when the product takes the one-row kernel (gemm_gemv.c). */
static int gemv_takes(dytcl_ctx *ctx, const dy_gemm_args *p)
{
    return dy_gemv_takes(ctx, p->trans_b, p->M, p->N, p->K, p->batch, p->A, p->B, p->C);
}

/* A checked product on the context's path. */
static dytcl_status gemm_run(dytcl_ctx *ctx, const dy_gemm_args *p)
{
    const int M = p->M, N = p->N, K = p->K, batch = p->batch;
    const dytcl_tensor A = p->A, B = p->B, C = p->C;
    /* one-row products (decoding): a matrix-vector kernel on CPU devices (gemm_gemv.c) */
    if (gemv_takes(ctx, p)) return dy_gemv(ctx, N, K, p->alpha, A, B, p->beta, C);
    /* CPU devices with host memory: the host's BLAS (gemm_host.c) */
    if (ctx->gemm_path == DYTCL_GEMM_HOST)
        return dy_gemm_host(ctx, p->trans_a, p->trans_b, M, N, K, p->alpha, A, p->stride_a, B, p->stride_b, p->beta,
                            C, p->stride_c, batch);
    /* elsewhere CLBlast */
    dytcl_status s;
    if ((s = dy_gemm_setup(ctx))) return s;
    const CLBlastTranspose ta = p->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = p->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    const size_t lda = p->trans_a ? M : K, ldb = p->trans_b ? K : N, ldc = N;
    cl_event ev = NULL;
    if (ctx->profiling) {
        /* CLBlast may run several kernels and returns the last one's event: a
         * marker before them lets the profiled span cover all of them. */
        cl_event mark = NULL;
        if (clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &mark) == CL_SUCCESS) dy_keep_event(ctx, mark);
    }
    CLBlastStatusCode st;
    if (batch == 1)
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, M, N, K, p->alpha, A.buf->mem, A.offset, lda, B.buf->mem,
                          B.offset, ldb, p->beta, C.buf->mem, C.offset, ldc, &ctx->queue, &ev);
    else
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, M, N, K, p->alpha, A.buf->mem, A.offset, lda,
                                        (size_t)p->stride_a, B.buf->mem, B.offset, ldb, (size_t)p->stride_b, p->beta,
                                        C.buf->mem, C.offset, ldc, (size_t)p->stride_c, (size_t)batch, &ctx->queue,
                                        &ev);
    if (st != CLBlastSuccess) return dy_blas_fail(ctx, st, batch == 1 ? "CLBlastSgemm" : "CLBlastSgemmStridedBatched");
    dy_keep_event(ctx, ev);
    ctx->stats.kernels_launched++;
    return DYTCL_OK;
}

dytcl_status dytcl_gemm_batched(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                                dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                                dytcl_tensor C, int64_t stride_c, int batch)
{
    DY_CHECK_CTX(ctx);
    dy_gemm_args p = {trans_a, trans_b, M, N, K, alpha, A, stride_a, B, stride_b, beta, C, stride_c, batch};
    dytcl_status s = gemm_check(ctx, &p);
    return s ? s : gemm_run(ctx, &p);
}

dytcl_status dy_gemm_pair(dytcl_ctx *ctx, dy_gemm_args x, dy_gemm_args y)
{
    dytcl_status s;
    if ((s = gemm_check(ctx, &x)) || (s = gemm_check(ctx, &y))) return s;
    if (ctx->gemm_path == DYTCL_GEMM_HOST && !gemv_takes(ctx, &x) && !gemv_takes(ctx, &y))
        return dy_gemm_host_pair(ctx, &x, &y);
    return (s = gemm_run(ctx, &x)) ? s : gemm_run(ctx, &y);
}

dytcl_status dytcl_gemm(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha, dytcl_tensor A,
                        dytcl_tensor B, float beta, dytcl_tensor C)
{
    return dytcl_gemm_batched(ctx, trans_a, trans_b, M, N, K, alpha, A, 0, B, 0, beta, C, 0, 1);
}

/* Every transpose, at a size CLBlast gives its direct kernel and one it
 * gives the tiled kernel (with padding), single and batched: afterwards no
 * GEMM compiles anything. */
dytcl_status dytcl_gemm_warmup(dytcl_ctx *ctx)
{
    DY_CHECK_CTX(ctx);
    enum { BIG = 512 };
    const int sizes[2] = {16, BIG - 3};
    dytcl_buf *buf = NULL;
    dytcl_status s = dytcl_buf_create(ctx, sizeof(float) * 3 * BIG * BIG, &buf);
    if (s) return s;
    dytcl_tensor A = dytcl_tensor_1d(buf, 0, BIG * BIG), B = dytcl_tensor_1d(buf, BIG * BIG, BIG * BIG);
    dytcl_tensor C = dytcl_tensor_1d(buf, 2 * BIG * BIG, BIG * BIG);
    s = dytcl_fill(ctx, dytcl_tensor_1d(buf, 0, 3 * BIG * BIG), 0.0f);
    for (int i = 0; i < 2 && !s; i++) {
        const int n = sizes[i], h = n / 2;
        for (int t = 0; t < 4 && !s; t++) s = dytcl_gemm(ctx, t & 1, t >> 1, n, n, n, 1, A, B, 0, C);
        for (int t = 0; t < 4 && !s; t++)
            s = dytcl_gemm_batched(ctx, t & 1, t >> 1, h, h, h, 1, A, h * h, B, h * h, 0, C, h * h, 2);
    }
    if (!s) s = dytcl_finish(ctx);
    dytcl_buf_free(buf);
    return s;
}

/* ------------------------------------------------------------ linear layers */

/* x [rows, in], W [out, in] (stored as one of w_dtypes): the shapes every
 * linear call checks. Our kernels index with int: everything must stay below
 * 2^31 elements. */
static dytcl_status linear_dims(dytcl_ctx *ctx, dytcl_tensor x, dytcl_tensor W, unsigned w_dtypes, int *rows, int *in,
                                int *out)
{
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, x, "x")) || (s = dy_check_tensor_dt(ctx, W, "W", w_dtypes))) return s;
    if (W.ndim != 2) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "linear: W must be [out, in], got %d dims", W.ndim);
    if (x.shape[x.ndim - 1] != W.shape[1])
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "linear: x's last dimension is %lld but W is [%lld, %lld] ([out, in])",
                       (long long)x.shape[x.ndim - 1], (long long)W.shape[0], (long long)W.shape[1]);
    int64_t r = dytcl_tensor_numel(x) / W.shape[1];
    if (r * W.shape[0] + (int64_t)x.offset > INT_MAX || dytcl_tensor_numel(x) + (int64_t)x.offset > INT_MAX ||
        dytcl_tensor_numel(W) + (int64_t)W.offset > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "linear: %lld rows x %lld -> %lld is beyond 2^31 elements",
                       (long long)r, (long long)W.shape[1], (long long)W.shape[0]);
    *rows = (int)r, *in = (int)W.shape[1], *out = (int)W.shape[0];
    return DYTCL_OK;
}

/* t (absent allowed unless required) must be [rows, cols] worth of elements. */
static dytcl_status check_2d(dytcl_ctx *ctx, dytcl_tensor t, const char *name, int rows, int cols, int required)
{
    if (!t.buf && !required) return DYTCL_OK;
    dytcl_status s = dy_check_tensor(ctx, t, name);
    if (s) return s;
    if (dytcl_tensor_numel(t) != (int64_t)rows * cols || (int64_t)t.offset + (int64_t)rows * cols > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "linear: %s has %lld elements but must be [%d, %d]", name,
                       (long long)dytcl_tensor_numel(t), rows, cols);
    return DYTCL_OK;
}

dytcl_status dytcl_linear_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor W, dytcl_tensor b)
{
    DY_CHECK_CTX(ctx);
    if (W.buf && W.dtype == DYTCL_Q8) return dy_linear_q8(ctx, y, x, W, b); /* 8-bit weights: ops_q8.c */
    int rows = 0, in = 0, out = 0;
    dytcl_status s;
    if ((s = linear_dims(ctx, x, W, DY_DT_ALL, &rows, &in, &out)) || (s = check_2d(ctx, y, "y", rows, out, 1)) ||
        (s = check_2d(ctx, b, "b", 1, out, 0)) ||
        (s = check_apart(ctx, y, (int64_t)rows * out, "y", b, b.buf ? out : 0, "b")) ||
        (s = check_apart(ctx, y, (int64_t)rows * out, "y", x, (int64_t)rows * in, "x")) ||
        (s = check_apart(ctx, y, (int64_t)rows * out, "y", W, (int64_t)out * in, "W")))
        return s;
    if (b.buf) { /* y = b in every row, then y += x W^T */
        static const char *const names[2] = {DY_KNAME(LINEAR, bias_rows), DY_KNAME(LINEAR, bias_rows_tail)};
        dy_kernel *k[2];
        for (int v = 0; v < 2; v++) {
            if ((s = dy_kernel_get(ctx, DY_PROG_LINEAR, names[v], &k[v]))) return s;
            int i = dy_arg_tensor(ctx, k[v], 0, y, NULL);
            i = dy_arg_tensor(ctx, k[v], i, b, NULL);
            i = dy_arg_int(ctx, k[v], i, out);
            if (i < 0) return DYTCL_ERR_OPENCL;
        }
        size_t global[2] = {(size_t)out, (size_t)rows}, local[2] = {dy_pow2_local(ctx, k[0], out < 256 ? out : 256), 1};
        if ((s = dy_launch_split(ctx, k[0], k[1], 2, global, local))) return s;
    }
    /* y [rows, out] (+)= x [rows, in] . W^T, W [out, in]; half-width W
     * (inference): gemm_gemv.c's dy_gemm_half_b */
    if (W.dtype != DYTCL_F32) return dy_gemm_half_b(ctx, rows, out, in, 1.0f, x, W, b.buf ? 1.0f : 0.0f, y);
    return dytcl_gemm(ctx, 0, 1, rows, out, in, 1.0f, x, W, b.buf ? 1.0f : 0.0f, y);
}

/* db [out] (+)= the column sums of dy [rows, out], in a fixed order: sums
 * over blocks of RB rows into the workspace, then those sums in block
 * order (a single block of `rows` rows when there are few). */
static dytcl_status bias_grad(dytcl_ctx *ctx, dytcl_tensor db, dytcl_tensor dy, int rows, int out, int accumulate)
{
    if (!db.buf) return DYTCL_OK;
    const int RB = rows <= 64 ? 1 : rows <= 64 * 256 ? 64 : (rows + 255) / 256; /* nblk <= 256 */
    if (RB == 1) return launch_colsum(ctx, DY_PROG_LINEAR, db, dy.buf->mem, (int)dy.offset, rows, out, accumulate);
    const int nblk = (rows + RB - 1) / RB;
    cl_mem parts;
    dy_kernel *k;
    dytcl_status s;
    if ((s = dy_workspace(ctx, DY_WS_PARTIALS, (size_t)nblk * out * sizeof(float), &parts)) ||
        (s = dy_kernel_get(ctx, DY_KERNEL(LINEAR, colsum_blocks), &k)))
        return s;
    int i = dy_arg_mem(ctx, k, 0, parts);
    i = dy_arg_tensor(ctx, k, i, dy, NULL);
    i = dy_arg_int(ctx, k, i, rows);
    i = dy_arg_int(ctx, k, i, out);
    i = dy_arg_int(ctx, k, i, RB);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t local[2] = {dy_pow2_local(ctx, k, out < 64 ? out : 64), 1};
    size_t global[2] = {((size_t)out + local[0] - 1) / local[0] * local[0], (size_t)nblk};
    if ((s = dy_launch(ctx, k, 2, global, local))) return s;
    return launch_colsum(ctx, DY_PROG_LINEAR, db, parts, 0, nblk, out, accumulate);
}

dytcl_status dytcl_linear_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dW, dytcl_tensor db, int accumulate,
                                   dytcl_tensor dy, dytcl_tensor x, dytcl_tensor W)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, in = 0, out = 0;
    dytcl_status s;
    if ((s = linear_dims(ctx, x, W, DY_DT(DYTCL_F32), &rows, &in, &out)) || (s = check_2d(ctx, dy, "dy", rows, out, 1)) ||
        (s = check_2d(ctx, dx, "dx", rows, in, 0)) || (s = check_2d(ctx, dW, "dW", out, in, 1)) ||
        (s = check_2d(ctx, db, "db", 1, out, 0)))
        return s;
    /* Written tensors must not overlap what the same call reads afterwards. */
    const int64_t n_x = (int64_t)rows * in, n_y = (int64_t)rows * out, n_w = (int64_t)out * in;
    if ((s = check_apart(ctx, dx, n_x, "dx", dy, n_y, "dy")) || (s = check_apart(ctx, dx, n_x, "dx", W, n_w, "W")) ||
        (s = check_apart(ctx, dx, n_x, "dx", x, n_x, "x")) ||
        (s = check_apart(ctx, dW, n_w, "dW", dy, n_y, "dy")) || (s = check_apart(ctx, dW, n_w, "dW", x, n_x, "x")) ||
        (s = check_apart(ctx, dW, n_w, "dW", dx, dx.buf ? n_x : 0, "dx")) ||
        (s = check_apart(ctx, db, out, "db", dy, n_y, "dy")) ||
        (s = check_apart(ctx, db, out, "db", dW, n_w, "dW")) ||
        (s = check_apart(ctx, db, out, "db", dx, dx.buf ? n_x : 0, "dx")))
        return s;
    /* dx [rows, in] = dy [rows, out] . W [out, in], and beside it (the same
     * multiply-adds) dW [out, in] (+)= dy^T [out, rows] . x [rows, in] */
    const dy_gemm_args pdw = {1, 0, out, in, rows, 1.0f, dy, 0, x, 0, accumulate ? 1.0f : 0.0f, dW, 0, 1};
    if (dx.buf) {
        const dy_gemm_args pdx = {0, 0, rows, in, out, 1.0f, dy, 0, W, 0, 0.0f, dx, 0, 1};
        if ((s = dy_gemm_pair(ctx, pdx, pdw))) return s;
    } else if ((s = dytcl_gemm(ctx, 1, 0, out, in, rows, 1.0f, dy, x, accumulate ? 1.0f : 0.0f, dW))) {
        return s;
    }
    return bias_grad(ctx, db, dy, rows, out, accumulate != 0);
}

/* CLBlast keeps the programs it built in a process-wide cache that it
 * releases at exit, after the OpenCL runtime may have shut down (oclgrind
 * then aborts with a corrupted heap): released while the context lives.
 * Another context's GEMMs only build their programs again. */
void dy_gemm_release(dytcl_ctx *ctx)
{
    if (ctx->gemm_ready != DY_GEMM_UNSET) CLBlastClearCache();
}
