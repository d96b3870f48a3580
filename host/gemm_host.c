/* gemm_host.c -- GEMM through the host's BLAS on CPU devices.
 *
 * On a CPU device whose buffers are host memory (PoCL), a GEMM needs no
 * OpenCL kernel at all: map the buffers (no copy: the pointer is the
 * buffer's own storage), call OpenBLAS, unmap. OpenBLAS reaches ~75 % of
 * this machine's FMA peak where CLBlast's kernels through PoCL reach ~30 %.
 *
 * Queue order: the map is blocking, so it returns once everything enqueued
 * before it has finished; the product runs on the calling thread (and
 * OpenBLAS's own threads, while PoCL's workers have nothing to do); the
 * unmap is enqueued before anything that follows. Each buffer is mapped once
 * per call over the span of elements the call touches, writable when C lies
 * in it: maps never overlap.
 *
 * One-row products (decoding a token: x [1, in] . W^T) are matrix-vector
 * products: sgemv reads W once, at memory bandwidth. */
#include "gemm_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DYTCL_HAVE_OPENBLAS
#include <cblas.h>
#endif

const char *dytcl_gemm_path_name(dytcl_gemm_path_t p)
{
    return p == DYTCL_GEMM_HOST ? "host" : p == DYTCL_GEMM_CLBLAST ? "clblast" : "auto";
}

void dy_gemm_host_describe(char *out, size_t cap)
{
#ifdef DYTCL_HAVE_OPENBLAS
    snprintf(out, cap, "host BLAS on mapped buffers: %s, %d threads", openblas_get_config(),
             openblas_get_num_threads());
#else
    snprintf(out, cap, "no host BLAS in this build (OpenBLAS was not found)");
#endif
}

dytcl_status dy_gemm_path_choose(dytcl_ctx *ctx)
{
    if (ctx->gemm_path) return DYTCL_OK;
    int want = ctx->gemm_path_opt;
    if (want < DYTCL_GEMM_AUTO || want > DYTCL_GEMM_HOST)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "gemm_path option %d: expected DYTCL_GEMM_AUTO, _CLBLAST or _HOST",
                       want);
    const char *env = getenv("DYTCL_GEMM");
    if (want == DYTCL_GEMM_AUTO && env && *env) {
        if (!strcmp(env, "host")) want = DYTCL_GEMM_HOST;
        else if (!strcmp(env, "clblast")) want = DYTCL_GEMM_CLBLAST;
        else if (strcmp(env, "auto") != 0)
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "DYTCL_GEMM=\"%s\": expected clblast, host or auto", env);
    }
#ifndef DYTCL_HAVE_OPENBLAS
    if (want == DYTCL_GEMM_HOST)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "the host GEMM path was asked for, but this build has no host "
                       "BLAS (OpenBLAS was not found by CMake)");
    want = DYTCL_GEMM_CLBLAST;
#endif
    if (want == DYTCL_GEMM_AUTO) {
        cl_bool unified = CL_FALSE;
        if (clGetDeviceInfo(ctx->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL) != CL_SUCCESS)
            unified = CL_FALSE;
        want = ctx->info.is_cpu && unified ? DYTCL_GEMM_HOST : DYTCL_GEMM_CLBLAST;
    }
    ctx->gemm_path = want;
    return DYTCL_OK;
}

dytcl_status dytcl_gemm_path(dytcl_ctx *ctx, dytcl_gemm_path_t *out)
{
    DY_CHECK_CTX(ctx);
    if (!out) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_gemm_path: out is NULL");
    dytcl_status s = dy_gemm_path_choose(ctx);
    *out = s ? DYTCL_GEMM_AUTO : (dytcl_gemm_path_t)ctx->gemm_path;
    return s;
}

#ifndef DYTCL_HAVE_OPENBLAS
dytcl_status dy_gemm_host(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                          dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                          dytcl_tensor C, int64_t stride_c, int batch)
{
    return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "gemm: this build has no host BLAS");
}
#else

/* One mapping: elements [lo, hi) of a buffer. */
typedef struct {
    cl_mem mem;
    size_t lo, hi;
    int write;
    float *ptr;   /* element lo */
} span;

/* Adds elements [off, off + n) of t's buffer to the spans; returns its index. */
static int span_add(span *sp, int *nsp, dytcl_tensor t, int64_t n, int write)
{
    const size_t lo = t.offset, hi = t.offset + (size_t)n;
    for (int i = 0; i < *nsp; i++)
        if (sp[i].mem == t.buf->mem) {
            if (lo < sp[i].lo) sp[i].lo = lo;
            if (hi > sp[i].hi) sp[i].hi = hi;
            sp[i].write |= write;
            return i;
        }
    sp[*nsp] = (span){t.buf->mem, lo, hi, write, NULL};
    return (*nsp)++;
}

dytcl_status dy_gemm_host(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                          dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                          dytcl_tensor C, int64_t stride_c, int batch)
{
    const int64_t na = (batch - 1) * stride_a + (int64_t)M * K, nb = (batch - 1) * stride_b + (int64_t)K * N;
    const int64_t nc = (batch - 1) * stride_c + (int64_t)M * N;
    span sp[3];
    int nsp = 0;
    const int ia = span_add(sp, &nsp, A, na, 0), ib = span_add(sp, &nsp, B, nb, 0), ic = span_add(sp, &nsp, C, nc, 1);

    /* Map: the first (blocking) map waits for the queue to drain. */
    dytcl_status s = DYTCL_OK;
    int mapped = 0;
    for (; mapped < nsp; mapped++) {
        span *p = &sp[mapped];
        cl_map_flags flags = p->write ? CL_MAP_READ | CL_MAP_WRITE : CL_MAP_READ;
        cl_event ev = NULL;
        cl_int err;
        p->ptr = clEnqueueMapBuffer(ctx->queue, p->mem, CL_TRUE, flags, p->lo * sizeof(float),
                                    (p->hi - p->lo) * sizeof(float), 0, NULL, ctx->profiling ? &ev : NULL, &err);
        if (err != CL_SUCCESS) {
            s = dy_cl_fail(ctx, err, "clEnqueueMapBuffer (host GEMM)");
            break;
        }
        if (ev) dy_keep_event(ctx, ev);
    }

    if (!s) {
        const float *a = sp[ia].ptr + (A.offset - sp[ia].lo), *b = sp[ib].ptr + (B.offset - sp[ib].lo);
        float *c = sp[ic].ptr + (C.offset - sp[ic].lo);
        const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
        for (int i = 0; i < batch; i++, a += stride_a, b += stride_b, c += stride_c) {
            if (M == 1) {
                /* c [N] = alpha op(B)^T a + beta c: with a [K] contiguous
                 * either way (A is [1, K], or [K, 1] transposed). beta 0
                 * must not read c (it may hold NaN). */
                if (beta == 0) memset(c, 0, (size_t)N * sizeof(float));
                if (trans_b) /* B [N, K]: c = B a */
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, b, ldb, a, 1, beta, c, 1);
                else /* B [K, N]: c = B^T a */
                    cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, b, ldb, a, 1, beta, c, 1);
            } else {
                cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                            M, N, K, alpha, a, lda, b, ldb, beta, c, N);
            }
        }
    }

    /* Unmap in any case; the last unmap's event ends a profiled span. */
    for (int i = 0; i < mapped; i++) {
        cl_event ev = NULL;
        cl_int err = clEnqueueUnmapMemObject(ctx->queue, sp[i].mem, sp[i].ptr, 0, NULL,
                                             ctx->profiling && i == mapped - 1 ? &ev : NULL);
        if (err != CL_SUCCESS && !s) s = dy_cl_fail(ctx, err, "clEnqueueUnmapMemObject (host GEMM)");
        if (ev) dy_keep_event(ctx, ev);
    }
    if (!s) ctx->stats.kernels_launched++;
    return s;
}
#endif
