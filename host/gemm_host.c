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
#include <pthread.h>
#include <sched.h>
#endif

const char *dytcl_gemm_path_name(dytcl_gemm_path_t p)
{
    return p == DYTCL_GEMM_HOST ? "host" : p == DYTCL_GEMM_CLBLAST ? "clblast" : "auto";
}

void dy_gemm_host_describe(const dytcl_ctx *ctx, char *out, size_t cap)
{
#ifdef DYTCL_HAVE_OPENBLAS
    snprintf(out, cap, "host BLAS on mapped buffers: %s, one thread in each of the device's %u cores",
             openblas_get_config(), ctx->info.compute_units);
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

void dy_pool_free(struct dy_pool *p)
{
    (void)p;
}
#else

/* ---- the host threads
 *
 * OpenBLAS's own threads wait for work by spinning (sched_yield, for up to
 * 2^28 cycles after each product): between two GEMMs they would take CPU
 * time from PoCL's workers running the kernels in between. So each product
 * runs with OpenBLAS on one thread, in parts, on the calling thread and the
 * context's own threads, which sleep on a condition variable when idle. */
struct dy_pool {
    int n;                         /* threads besides the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned gen;                  /* bumped for each job */
    int pending, quit;
    void (*fn)(void *, int, int);  /* fn(arg, part, parts), parts = n + 1 */
    void *arg;
};

static void *pool_worker(void *p_)
{
    struct dy_pool *p = p_;
    pthread_mutex_lock(&p->mu);
    const int part = (int)(p->pending++) + 1; /* creation order: parts 1 .. n */
    unsigned seen = p->gen;
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->arg, part, p->n + 1);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* A pool of n threads; NULL when threads cannot be made (then the caller
 * does every part). */
static struct dy_pool *pool_create(int n)
{
    struct dy_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->th = calloc((size_t)n, sizeof *p->th))) return free(p), NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    pthread_mutex_lock(&p->mu);
    for (; p->n < n; p->n++)
        if (pthread_create(&p->th[p->n], NULL, pool_worker, p)) break;
    pthread_mutex_unlock(&p->mu);
    /* wait until each has taken its part number */
    pthread_mutex_lock(&p->mu);
    while (p->pending < p->n) {
        pthread_mutex_unlock(&p->mu);
        sched_yield();
        pthread_mutex_lock(&p->mu);
    }
    p->pending = 0;
    pthread_mutex_unlock(&p->mu);
    return p;
}

void dy_pool_free(struct dy_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p);
}

/* fn(arg, part, parts) for every part, the caller taking part 0. */
static void pool_run(struct dy_pool *p, void (*fn)(void *, int, int), void *arg)
{
    if (!p || !p->n) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->arg = arg, p->pending = p->n, p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n + 1);
    pthread_mutex_lock(&p->mu);
    while (p->pending) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ---- one product in parts */

/* C = alpha op(A) op(B) + beta C on host pointers, `batch` times. */
typedef struct {
    int trans_a, trans_b, M, N, K, batch;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t stride_a, stride_b, stride_c;
} product;

/* Columns n0 .. n1 - 1 of one one-row product: c [N] = alpha op(B)^T a + beta c,
 * a [K] contiguous either way (A is [1, K], or [K, 1] transposed). beta 0 must
 * not read c (it may hold NaN). */
static void gemv_cols(const product *p, const float *a, const float *b, float *c, int n0, int n1)
{
    const int n = n1 - n0;
    if (p->beta == 0) memset(c + n0, 0, (size_t)n * sizeof(float));
    if (p->trans_b) /* B [N, K]: c = B a */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, p->K, p->alpha, b + (size_t)n0 * p->K, p->K, a, 1, p->beta,
                    c + n0, 1);
    else /* B [K, N]: c = B^T a */
        cblas_sgemv(CblasRowMajor, CblasTrans, p->K, n, p->alpha, b + n0, p->N, a, 1, p->beta, c + n0, 1);
}

/* Rows m0 .. m1 - 1 and columns n0 .. n1 - 1 of C in one product. */
static void gemm_block(const product *p, const float *a, const float *b, float *c, int m0, int m1, int n0, int n1)
{
    if (m1 <= m0 || n1 <= n0) return;
    if (p->M == 1) {
        gemv_cols(p, a, b, c, n0, n1);
        return;
    }
    const int lda = p->trans_a ? p->M : p->K, ldb = p->trans_b ? p->K : p->N;
    const float *am = p->trans_a ? a + m0 : a + (size_t)m0 * lda; /* op(A) rows m0.. */
    const float *bn = p->trans_b ? b + (size_t)n0 * ldb : b + n0; /* op(B) columns n0.. */
    cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans, p->trans_b ? CblasTrans : CblasNoTrans,
                m1 - m0, n1 - n0, p->K, p->alpha, am, lda, bn, ldb, p->beta, c + (size_t)m0 * p->N + n0, p->N);
}

/* Part `part` of `parts`: whole products of the batch when there are several,
 * else a band of C's rows (or, for fewer rows than columns, of its columns). */
static void product_part(void *arg, int part, int parts)
{
    const product *p = arg;
    if (p->batch > 1) {
        const int i0 = (int)((int64_t)p->batch * part / parts), i1 = (int)((int64_t)p->batch * (part + 1) / parts);
        for (int i = i0; i < i1; i++)
            gemm_block(p, p->a + i * p->stride_a, p->b + i * p->stride_b, p->c + i * p->stride_c, 0, p->M, 0, p->N);
    } else if (p->M >= p->N) {
        gemm_block(p, p->a, p->b, p->c, (int)((int64_t)p->M * part / parts), (int)((int64_t)p->M * (part + 1) / parts),
                   0, p->N);
    } else {
        gemm_block(p, p->a, p->b, p->c, 0, p->M, (int)((int64_t)p->N * part / parts),
                   (int)((int64_t)p->N * (part + 1) / parts));
    }
}

/* Products under this many flops run whole on the calling thread: waking the
 * others costs tens of microseconds. */
#define PARALLEL_FLOPS 4e6

static void product_run(dytcl_ctx *ctx, product *p)
{
    const double flops = 2.0 * p->M * p->N * (double)p->K * p->batch;
    if (!ctx->pool && ctx->info.compute_units > 1 && flops >= PARALLEL_FLOPS)
        ctx->pool = pool_create((int)(ctx->info.compute_units < 64 ? ctx->info.compute_units : 64) - 1);
    const int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    if (flops >= PARALLEL_FLOPS) pool_run(ctx->pool, product_part, p);
    else product_part(p, 0, 1);
    openblas_set_num_threads(threads);
}

/* ---- mapping */

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
        product p = {trans_a, trans_b, M, N, K, batch, alpha, beta,
                     sp[ia].ptr + (A.offset - sp[ia].lo), sp[ib].ptr + (B.offset - sp[ib].lo),
                     sp[ic].ptr + (C.offset - sp[ic].lo), stride_a, stride_b, stride_c};
        product_run(ctx, &p);
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
