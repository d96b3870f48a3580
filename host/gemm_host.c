/* gemm_host.c -- GEMM through the host's BLAS on CPU devices.
 *
 * On a CPU device whose buffers are host memory (PoCL), a GEMM needs no
 * OpenCL kernel at all: OpenBLAS computes on the buffers' own storage. Two
 * ways to get there:
 *
 * Queued (devices that run native kernels, CL_EXEC_NATIVE_KERNEL: PoCL). The
 * product is enqueued like any kernel, as clEnqueueNativeKernel commands
 * whose buffer arguments the runtime turns into pointers to their storage:
 * nothing waits on the host, and the step's kernels and products run back to
 * back on the device's own worker threads. A large product runs as one
 * part per compute unit, part 0 on the context's queue and the others on
 * queues of their own that start after everything before it; the parts
 * take chunks of it (batch entries, or bands of C's rows or columns) in
 * turn until none is left, and part 0 returns once every chunk is done
 * (gemm_job). A linear layer's dx and dW (and attention's backward pairs)
 * run as one job, each product a chunk. OpenBLAS then runs on one thread per part
 * (openblas_set_num_threads(1), for the process): its own threads, which spin
 * on sched_yield for ~2^28 cycles after each product, took a third of the
 * CPU time of a training step on 2 cores while PoCL's workers ran the
 * kernels between products, and the calling thread waited for them.
 *
 * Mapped (other devices with host memory; DYTCL_GEMM_QUEUED=0). Map the
 * buffers (no copy: the pointer is the buffer's own storage), call OpenBLAS
 * on the calling thread (and OpenBLAS's threads), unmap. The map is
 * blocking, so it returns once everything enqueued before it has finished;
 * the unmap is enqueued before anything that follows. Each buffer is mapped
 * once per call over the span of elements the call touches, writable when C
 * lies in it: maps never overlap.
 *
 * One-row products (decoding a token: x [1, in] . W^T) are matrix-vector
 * products: sgemv reads W once, at memory bandwidth. Either way the product
 * runs with denormals kept (the workers' FTZ/DAZ, which PoCL sets for
 * kernels built with -cl-denorms-are-zero, is cleared for it), as on the
 * calling thread. */
#include "gemm_host.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DYTCL_HAVE_OPENBLAS
#include <cblas.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define DY_HAVE_MXCSR 1
#endif

const char *dytcl_gemm_path_name(dytcl_gemm_path_t p)
{
    return p == DYTCL_GEMM_HOST ? "host" : p == DYTCL_GEMM_CLBLAST ? "clblast" : "auto";
}

void dy_gemm_host_describe(const dytcl_ctx *ctx, char *out, size_t cap)
{
#ifdef DYTCL_HAVE_OPENBLAS
    if (ctx->gemm_parts > 0)
        snprintf(out, cap, "host BLAS queued as native kernels: %s, products in up to %d parts of one thread",
                 openblas_get_config(), ctx->gemm_parts);
    else
        snprintf(out, cap, "host BLAS on mapped buffers: %s, %d threads", openblas_get_config(),
                 openblas_get_num_threads());
#else
    snprintf(out, cap, "no host BLAS in this build (OpenBLAS was not found)");
#endif
}

/* The queued form where the device runs native kernels and the build has a
 * host BLAS, unless DYTCL_GEMM_QUEUED=0: ctx->gemm_parts (its compute units,
 * at most DY_GEMM_PARTS) and a queue for each part past the first. */
static dytcl_status queued_setup(dytcl_ctx *ctx)
{
#ifdef DYTCL_HAVE_OPENBLAS
    const char *env = getenv("DYTCL_GEMM_QUEUED");
    if (env && *env && strcmp(env, "0") && strcmp(env, "1"))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "DYTCL_GEMM_QUEUED=\"%s\": expected 0 or 1", env);
    cl_device_exec_capabilities caps = 0;
    if ((env && !strcmp(env, "0")) ||
        clGetDeviceInfo(ctx->device, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL) != CL_SUCCESS ||
        !(caps & CL_EXEC_NATIVE_KERNEL))
        return DYTCL_OK;
    int parts = ctx->info.compute_units < 1 ? 1 : (int)ctx->info.compute_units;
    if (parts > DY_GEMM_PARTS) parts = DY_GEMM_PARTS;
    for (int i = 1; i < parts; i++) {
        cl_int err;
        ctx->gemm_queues[i] = clCreateCommandQueue(ctx->context, ctx->device, 0, &err);
        if (err != CL_SUCCESS) {
            for (int j = 1; j < i; j++) clReleaseCommandQueue(ctx->gemm_queues[j]), ctx->gemm_queues[j] = NULL;
            return dy_cl_fail(ctx, err, "clCreateCommandQueue (host GEMM parts)");
        }
    }
    /* the parts are the threads: OpenBLAS's own would only wait and spin */
    if (parts > 1) openblas_set_num_threads(1);
    ctx->gemm_parts = parts;
#else
    (void)ctx;
#endif
    return DYTCL_OK;
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
    if (want == DYTCL_GEMM_HOST) {
        dytcl_status s = queued_setup(ctx);
        if (s) return s;
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

dytcl_status dy_gemm_fault(dytcl_ctx *ctx)
{
    if (!ctx->gemm_fault) return DYTCL_OK;
    return dy_fail(ctx, DYTCL_ERR_OPENCL, "host GEMM: a queued product found its buffers' storage moved and "
                   "computed nothing (set DYTCL_GEMM_QUEUED=0)");
}

#ifndef DYTCL_HAVE_OPENBLAS
dytcl_status dy_gemm_host(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                          dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                          dytcl_tensor C, int64_t stride_c, int batch)
{
    return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "gemm: this build has no host BLAS");
}

dytcl_status dy_gemm_host_pair(dytcl_ctx *ctx, const dy_gemm_args *x, const dy_gemm_args *y)
{
    (void)x, (void)y;
    return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "gemm: this build has no host BLAS");
}
#else

/* One product (or `batch` of them) on host pointers, row-major, leading
 * dimensions given. */
typedef struct {
    int trans_a, trans_b, M, N, K, lda, ldb, ldc, batch;
    float alpha, beta;
    int64_t stride_a, stride_b, stride_c;
} gemm_shape;

static void gemm_compute(const gemm_shape *g, const float *a, const float *b, float *c)
{
#ifdef DY_HAVE_MXCSR
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr & ~0x8040u); /* FTZ (bit 15) and DAZ (bit 6) off */
#endif
    for (int i = 0; i < g->batch; i++, a += g->stride_a, b += g->stride_b, c += g->stride_c) {
        if (g->M == 1) {
            /* c [N] = alpha op(B)^T a + beta c: with a [K] contiguous either
             * way (A is [1, K], or [K, 1] transposed). beta 0 must not read
             * c (it may hold NaN). */
            if (g->beta == 0)
                for (int j = 0; j < g->N; j++) c[j] = 0.0f;
            if (g->trans_b) /* B [N, K]: c = B a */
                cblas_sgemv(CblasRowMajor, CblasNoTrans, g->N, g->K, g->alpha, b, g->ldb, a, 1, g->beta, c, 1);
            else /* B [K, N]: c = B^T a */
                cblas_sgemv(CblasRowMajor, CblasTrans, g->K, g->N, g->alpha, b, g->ldb, a, 1, g->beta, c, 1);
        } else {
            cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans,
                        g->M, g->N, g->K, g->alpha, a, g->lda, b, g->ldb, g->beta, c, g->ldc);
        }
    }
#ifdef DY_HAVE_MXCSR
    _mm_setcsr(csr);
#endif
}

/* ------------------------------------------------------------- queued */

/* A product on the queued form: its shape, its buffers (each once) and
 * their storage as native kernels see it (learned once per buffer, learn),
 * and where its first matrices start. */
typedef struct {
    gemm_shape g;
    int nmem;
    cl_mem mem[3];
    float *want[3];             /* the storage of mem[0 .. nmem-1] */
    int ia, ib, ic;             /* A's, B's and C's buffer */
    size_t off_a, off_b, off_c; /* element offsets of its first matrices */
} gemm_product;

/* One or two products cut into chunks that the parts (one native kernel per
 * worker) take in turn from a counter, whichever is free first. Part 0, the
 * owner, runs on the context's queue and returns only when every chunk is
 * done (waiting for those the others are still computing), so what follows
 * on that queue needs no barrier; a part that starts late (its worker busy,
 * asleep or descheduled on a loaded machine) finds the chunks taken and
 * returns at once, and nothing waits for it. Chunks are the same whoever
 * computes them, so results do not depend on which part took which. The
 * last part to finish frees the job. */
typedef struct {
    atomic_int next;            /* the next chunk to take */
    atomic_int finished;        /* chunks computed */
    atomic_int refs;            /* parts (and the enqueuing call) that still hold the job */
    int nprod, nchunks, per[2]; /* products, chunks in all, chunks of product 0 */
    gemm_product prod[2];
    volatile int *fault;
} gemm_job;

/* A part's argument block. The runtime writes the storage of the command's
 * buffers into base[], but in an order of its own (PoCL 3.1 sorts them by
 * creation), so each buffer's learned storage is looked up among them:
 * found, it is the buffer's; not found, the part computes nothing and sets
 * *fault, which the context reports (and takes the job's chunks away). */
typedef struct {
    float *base[6];
    int nmem;
    int owner;                  /* part 0 */
    gemm_job *job;
    cl_mem mem[6]; /* for the enqueue */
} gemm_part;

/* [lo, hi) of n for chunk i of k: in multiples of q where every chunk gets
 * at least one, else of 1. */
static void band(int n, int k, int i, int q, int *lo, int *hi)
{
    if (n / q < k) q = 1;
    const int units = (n + q - 1) / q;
    *lo = (int)((int64_t)units * i / k) * q;
    *hi = i == k - 1 ? n : (int)((int64_t)units * (i + 1) / k) * q;
}

/* How a product is cut: along the batch when it has an entry for each
 * chunk; else along the larger of M and N, so that the operand every chunk
 * packs again is the smaller. */
static int cut_by(const gemm_shape *g, int k)
{
    return g->batch >= k ? 0 : g->M >= g->N ? 1 : 2;
}

/* Below this many multiply-adds a product stays whole (one chunk): cutting
 * it costs a hand-over between workers that it would not win back. */
#define DY_GEMM_SPLIT_MIN (1 << 20)
/* Chunks per part for a product alone: more chunks balance better, but
 * each chunk packs the operand it shares with the others again (at 4 per
 * part, 4 % more CPU time in a training step than at 1). A pair of
 * products gets parts / 2 chunks each: with two parts, each product whole
 * (nothing packed twice), the idle part taking the second if the other is
 * late. */
#define DY_GEMM_CHUNKS 2

/* The number of chunks a product is cut into when k are asked for. */
static int chunks(const gemm_shape *g, int k)
{
    if ((double)g->M * g->N * g->K * g->batch < DY_GEMM_SPLIT_MIN) return 1;
    const int by = cut_by(g, k), n = by == 0 ? g->batch : by == 1 ? g->M : g->N;
    return k < n ? k : n;
}

/* Chunk i of k (k from chunks()) of product p: the shape and the pointers. */
static void chunk_run(const gemm_product *p, int k, int i)
{
    const gemm_shape *g = &p->g;
    gemm_shape c = *g;
    size_t oa = p->off_a, ob = p->off_b, oc = p->off_c;
    if (k > 1) {
        const int by = cut_by(g, k), n = by == 0 ? g->batch : by == 1 ? g->M : g->N;
        int lo, hi;
        band(n, k, i, by == 0 ? 1 : 16, &lo, &hi);
        if (by == 0) {
            c.batch = hi - lo;
            oa += (size_t)(lo * g->stride_a), ob += (size_t)(lo * g->stride_b), oc += (size_t)(lo * g->stride_c);
        } else if (by == 1) { /* rows lo..hi of C and of op(A) */
            c.M = hi - lo;
            oa += g->trans_a ? (size_t)lo : (size_t)lo * (size_t)g->lda;
            oc += (size_t)lo * (size_t)g->ldc;
        } else { /* columns lo..hi of C and of op(B) */
            c.N = hi - lo;
            ob += g->trans_b ? (size_t)lo * (size_t)g->ldb : (size_t)lo;
            oc += (size_t)lo;
        }
    }
    gemm_compute(&c, p->want[p->ia] + oa, p->want[p->ib] + ob, p->want[p->ic] + oc);
}

static void job_release(gemm_job *j, int n)
{
    if (atomic_fetch_sub(&j->refs, n) == n) free(j);
}

static void CL_CALLBACK gemm_part_run(void *args)
{
    const gemm_part *a = args;
    gemm_job *j = a->job;
    int found = 1;
    for (int p = 0; p < j->nprod; p++)
        for (int m = 0; m < j->prod[p].nmem; m++) {
            int k = 0;
            while (k < a->nmem && a->base[k] != j->prod[p].want[m]) k++;
            found &= k < a->nmem;
        }
    int claimed = j->nchunks; /* chunks that were taken (all, unless a fault stopped them) */
    if (!found) {
        *j->fault = 1;
        const int was = atomic_fetch_add(&j->next, j->nchunks); /* no chunk is taken from here on */
        claimed = was < j->nchunks ? was : j->nchunks;
    }
    for (;;) {
        const int i = atomic_fetch_add(&j->next, 1);
        if (i >= j->nchunks) break;
        if (i < j->per[0]) chunk_run(&j->prod[0], j->per[0], i);
        else chunk_run(&j->prod[1], j->nchunks - j->per[0], i - j->per[0]);
        atomic_fetch_add(&j->finished, 1);
    }
    /* the owner returns when the chunks the others took are done too */
    while (a->owner && atomic_load(&j->finished) < claimed) sched_yield();
    job_release(j, 1);
}

typedef struct {
    float *base;
    float **out;
} learn_args;

static void CL_CALLBACK learn_run(void *args)
{
    const learn_args *a = args;
    *a->out = a->base;
}

/* b->storage: where native kernels see b's storage, from a native kernel
 * with b alone (nothing to sort), waited for (once per buffer). */
static dytcl_status learn(dytcl_ctx *ctx, dytcl_buf *b)
{
    float *got = NULL;
    learn_args a = {NULL, &got};
    const void *loc = &a.base;
    cl_int err = clEnqueueNativeKernel(ctx->queue, learn_run, &a, sizeof a, 1, &b->mem, &loc, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) return dy_cl_fail(ctx, err, "clEnqueueNativeKernel (host GEMM: a buffer's storage)");
    if (!got) return dy_fail(ctx, DYTCL_ERR_OPENCL, "host GEMM: the runtime gave a native kernel no storage for a buffer");
    b->storage = got;
    return DYTCL_OK;
}

/* The product as dy_gemm_host's arguments describe it, its buffers' storage
 * learned. */
static dytcl_status product_of(dytcl_ctx *ctx, const gemm_shape *g, dytcl_tensor A, dytcl_tensor B, dytcl_tensor C,
                               gemm_product *p)
{
    memset(p, 0, sizeof *p);
    p->g = *g, p->off_a = A.offset, p->off_b = B.offset, p->off_c = C.offset;
    const dytcl_tensor *t[3] = {&A, &B, &C};
    int *idx[3] = {&p->ia, &p->ib, &p->ic};
    for (int i = 0; i < 3; i++) {
        int j = 0;
        while (j < p->nmem && p->mem[j] != t[i]->buf->mem) j++;
        if (j == p->nmem) {
            dytcl_status s;
            if (!t[i]->buf->storage && (s = learn(ctx, t[i]->buf))) return s;
            p->mem[j] = t[i]->buf->mem, p->want[j] = t[i]->buf->storage, p->nmem++;
        }
        *idx[i] = j;
    }
    return DYTCL_OK;
}

static dytcl_status enqueue_part(dytcl_ctx *ctx, cl_command_queue q, gemm_part *a, cl_uint nwait,
                                 const cl_event *wait, cl_event *ev)
{
    const void *loc[6];
    for (int i = 0; i < a->nmem; i++) loc[i] = &a->base[i];
    cl_int err =
        clEnqueueNativeKernel(q, gemm_part_run, a, sizeof *a, (cl_uint)a->nmem, a->mem, loc, nwait, wait, ev);
    return err == CL_SUCCESS ? DYTCL_OK : dy_cl_fail(ctx, err, "clEnqueueNativeKernel (host GEMM)");
}

/* The products (one, or two that do not depend on each other) as one job
 * on min(chunks, ctx->gemm_parts) parts (gemm_job). */
static dytcl_status enqueue_job(dytcl_ctx *ctx, const gemm_product *prod, int nprod)
{
    dytcl_status s = dy_gemm_fault(ctx);
    if (s) return s;
    gemm_job *j = calloc(1, sizeof *j);
    if (!j) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "host GEMM: out of host memory");
    const int want = nprod == 1 ? ctx->gemm_parts * DY_GEMM_CHUNKS : (ctx->gemm_parts + 1) / 2;
    j->nprod = nprod, j->fault = &ctx->gemm_fault;
    for (int p = 0; p < nprod; p++) {
        j->prod[p] = prod[p];
        j->per[p] = chunks(&prod[p].g, want);
        j->nchunks += j->per[p];
    }
    const int parts = j->nchunks < ctx->gemm_parts ? j->nchunks : ctx->gemm_parts;
    atomic_init(&j->next, 0);
    atomic_init(&j->finished, 0);
    atomic_init(&j->refs, parts + 1); /* + 1: this call, until it has enqueued them all */
    gemm_part a = {{NULL}, 0, 0, j, {NULL}};
    for (int p = 0; p < nprod; p++) /* the buffers of both products, each once */
        for (int m = 0; m < prod[p].nmem; m++) {
            int k = 0;
            while (k < a.nmem && a.mem[k] != prod[p].mem[m]) k++;
            if (k == a.nmem) a.mem[a.nmem++] = prod[p].mem[m];
        }
    cl_event *evp = NULL, ev = NULL;
    if (ctx->profiling) evp = &ev;
    int sent = 0;
    if (parts == 1) {
        a.owner = 1;
        s = enqueue_part(ctx, ctx->queue, &a, 0, NULL, evp);
        sent += !s;
        if (ev) dy_keep_event(ctx, ev);
        job_release(j, 1 + (1 - sent));
        return s;
    }
    /* parts 1.. on their own queues once everything enqueued so far is
     * done; part 0 (the owner) on the context's queue */
    cl_event start = NULL;
    cl_int err = clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &start);
    if (err != CL_SUCCESS) s = dy_cl_fail(ctx, err, "clEnqueueMarkerWithWaitList (host GEMM)");
    for (int i = 1; i < parts && !s; i++) {
        s = enqueue_part(ctx, ctx->gemm_queues[i], &a, 1, &start, NULL);
        sent += !s;
        if (!s && (err = clFlush(ctx->gemm_queues[i])) != CL_SUCCESS) s = dy_cl_fail(ctx, err, "clFlush (host GEMM)");
    }
    /* the owner computes every chunk the others do not take: even when
     * sending a part failed, the product is whole */
    a.owner = 1;
    dytcl_status s0 = enqueue_part(ctx, ctx->queue, &a, 0, NULL, evp);
    sent += !s0;
    if (!s) s = s0;
    if (ev) dy_keep_event(ctx, ev);
    if (start) clReleaseEvent(start);
    job_release(j, 1 + (parts - sent)); /* this call's hold, and the parts never sent */
    return s;
}

/* ------------------------------------------------------------- mapped */

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

static dytcl_status gemm_mapped(dytcl_ctx *ctx, const gemm_shape *g, dytcl_tensor A, dytcl_tensor B,
                                dytcl_tensor C)
{
    const int64_t na = (g->batch - 1) * g->stride_a + (int64_t)g->M * g->K;
    const int64_t nb = (g->batch - 1) * g->stride_b + (int64_t)g->K * g->N;
    const int64_t nc = (g->batch - 1) * g->stride_c + (int64_t)g->M * g->N;
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
    if (!s)
        gemm_compute(g, sp[ia].ptr + (A.offset - sp[ia].lo), sp[ib].ptr + (B.offset - sp[ib].lo),
                     sp[ic].ptr + (C.offset - sp[ic].lo));

    /* Unmap in any case; the last unmap's event ends a profiled span. */
    for (int i = 0; i < mapped; i++) {
        cl_event ev = NULL;
        cl_int err = clEnqueueUnmapMemObject(ctx->queue, sp[i].mem, sp[i].ptr, 0, NULL,
                                             ctx->profiling && i == mapped - 1 ? &ev : NULL);
        if (err != CL_SUCCESS && !s) s = dy_cl_fail(ctx, err, "clEnqueueUnmapMemObject (host GEMM)");
        if (ev) dy_keep_event(ctx, ev);
    }
    return s;
}

static gemm_shape shape_of(const dy_gemm_args *p)
{
    const gemm_shape g = {p->trans_a, p->trans_b, p->M, p->N, p->K, p->trans_a ? p->M : p->K, p->trans_b ? p->K : p->N,
                          p->N, p->batch, p->alpha, p->beta, p->batch > 1 ? p->stride_a : 0,
                          p->batch > 1 ? p->stride_b : 0, p->batch > 1 ? p->stride_c : 0};
    return g;
}

dytcl_status dy_gemm_host(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                          dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                          dytcl_tensor C, int64_t stride_c, int batch)
{
    const dy_gemm_args p = {trans_a, trans_b, M, N, K, alpha, A, stride_a, B, stride_b, beta, C, stride_c, batch};
    const gemm_shape g = shape_of(&p);
    dytcl_status s;
    if (ctx->gemm_parts > 0) {
        gemm_product prod;
        if (!(s = product_of(ctx, &g, A, B, C, &prod))) s = enqueue_job(ctx, &prod, 1);
    } else {
        s = gemm_mapped(ctx, &g, A, B, C);
    }
    if (!s) ctx->stats.kernels_launched++;
    return s;
}

dytcl_status dy_gemm_host_pair(dytcl_ctx *ctx, const dy_gemm_args *x, const dy_gemm_args *y)
{
    if (ctx->gemm_parts < 2) {
        dytcl_status s = dy_gemm_host(ctx, x->trans_a, x->trans_b, x->M, x->N, x->K, x->alpha, x->A, x->stride_a, x->B,
                                      x->stride_b, x->beta, x->C, x->stride_c, x->batch);
        return s ? s : dy_gemm_host(ctx, y->trans_a, y->trans_b, y->M, y->N, y->K, y->alpha, y->A, y->stride_a, y->B,
                                    y->stride_b, y->beta, y->C, y->stride_c, y->batch);
    }
    const gemm_shape gx = shape_of(x), gy = shape_of(y);
    gemm_product prod[2];
    dytcl_status s = product_of(ctx, &gx, x->A, x->B, x->C, &prod[0]);
    if (!s) s = product_of(ctx, &gy, y->A, y->B, y->C, &prod[1]);
    if (!s) s = enqueue_job(ctx, prod, 2);
    if (!s) ctx->stats.kernels_launched += 2;
    return s;
}
#endif
