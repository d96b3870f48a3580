/* gemm_tune.c -- dytcl_gemm_tune: a bounded search for CLBlast's SGEMM
 * parameters on the current device (`dytcl tune gemm`).
 *
 * Each candidate costs a compile of CLBlast's GEMM program (seconds on
 * PoCL), so the search is a greedy walk rather than a sweep: from a start
 * point that suits the device type, try one change at a time from a short
 * list (tile sizes, work-items per tile, vector widths, K step, local memory
 * staging, the direct kernel), keep a change when it is faster, and stop
 * starting candidates when the time budget is spent. A candidate must first
 * compute a 131x260x200 product in every transpose to float32 accuracy (a
 * constraint CLBlast does not check can give wrong results); then it is
 * timed at the given shape in NN, NT and TN (the three products of a linear
 * layer), the best of `reps` device times each, and scored by the total
 * flops over the summed times. CLBlast's own parameters are measured first
 * when this process has not overridden them yet, so a search that finds
 * nothing better says so and saves nothing.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_tune.h"

/* The start point on GPUs: 16x16 work-items over 64x64 tiles, float2. */
static const dy_gemm_params gpu_start = {
    .xgemm = {0, 64, 64, 16, 16, 16, 16, 16, 2, 2, 2, 0, 0, 1, 1, 1},
    .direct = {0},
    .min_indirect = 384,
};

/* The changes tried, in order, each applied to the best so far. The direct
 * kernel for every size (XGEMM_MIN_INDIRECT_SIZE beyond any shape) comes
 * with its own parameters. */
static const char *const moves[] = {
    "MWG=128 NWG=64",
    "MWG=64 NWG=128",
    "MWG=32 NWG=32",
    "MDIMC=8 NDIMC=8 MDIMA=8 NDIMB=8",
    "MDIMC=4 NDIMC=8 MDIMA=4 NDIMB=8",
    "MDIMC=16 NDIMC=16 MDIMA=16 NDIMB=16",
    "VWM=4 VWN=4",
    "VWM=4 VWN=8",
    "VWM=8 VWN=4",
    "KWG=16",
    "KWG=64",
    "SA=0 SB=0",
    "SA=1 SB=0",
    "KWI=8",
    "MWG=128 NWG=128",
    "XGEMM_MIN_INDIRECT_SIZE=65536 WGD=32 MDIMCD=8 NDIMCD=8 MDIMAD=8 NDIMBD=8 KWID=2 VWMD=4 VWND=4 PADA=1 PADB=1",
    "XGEMM_MIN_INDIRECT_SIZE=65536 WGD=64 MDIMCD=8 NDIMCD=8 MDIMAD=8 NDIMBD=8 KWID=2 VWMD=8 VWND=8 PADA=1 PADB=1",
};

typedef struct {
    dytcl_ctx *ctx;
    const dytcl_gemm_tune_options *opt;
    int M, N, K, reps;
    dytcl_buf *a, *b, *c;          /* the timed shape; A and B hold M*K and K*N numbers */
    dytcl_buf *va, *vb, *vc;       /* the check: VM x VN x VK */
    float *va_h, *vb_h;
    double *ref;                   /* [3][VM*VN]: NN, NT, TN in float64 */
} tuner;

enum { VM = 131, VN = 260, VK = 200 };
static const int trans[3][2] = {{0, 0}, {0, 1}, {1, 0}};

static void say(const tuner *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(const tuner *t, const char *fmt, ...)
{
    if (!t->opt->progress) return;
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->opt->progress(t->opt->user, line);
}

/* A buffer of n floats, filled from a fixed pseudo-random sequence in [-1, 1]
 * (kept on the host when keep is not NULL). */
static dytcl_status random_buf(dytcl_ctx *ctx, size_t n, unsigned seed, dytcl_buf **out, float **keep)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "gemm tune: no memory for %zu floats", n);
    unsigned long long x = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = (float)((double)(x >> 11) / 9007199254740992.0 * 2 - 1);
    }
    dytcl_status s = dytcl_buf_create(ctx, n * sizeof *h, out);
    if (!s) s = dytcl_buf_write(ctx, *out, 0, h, n * sizeof *h);
    if (keep && !s) *keep = h;
    else free(h);
    return s;
}

/* Row-major float64 op(A) op(B) for the check (A: VM*VK numbers, B: VK*VN). */
static void reference(const float *A, const float *B, int ta, int tb, double *C)
{
    for (int i = 0; i < VM; i++)
        for (int j = 0; j < VN; j++) {
            double s = 0;
            for (int k = 0; k < VK; k++)
                s += (double)(ta ? A[k * VM + i] : A[i * VK + k]) * (tb ? B[j * VK + k] : B[k * VN + j]);
            C[i * VN + j] = s;
        }
}

static dytcl_status tuner_init(tuner *t)
{
    dytcl_ctx *ctx = t->ctx;
    dytcl_status s;
    if ((s = random_buf(ctx, (size_t)t->M * t->K, 1, &t->a, NULL)) ||
        (s = random_buf(ctx, (size_t)t->K * t->N, 2, &t->b, NULL)) ||
        (s = dytcl_buf_create(ctx, (size_t)t->M * t->N * sizeof(float), &t->c)) ||
        (s = random_buf(ctx, (size_t)VM * VK, 3, &t->va, &t->va_h)) ||
        (s = random_buf(ctx, (size_t)VK * VN, 4, &t->vb, &t->vb_h)) ||
        (s = dytcl_buf_create(ctx, (size_t)VM * VN * sizeof(float), &t->vc)))
        return s;
    if (!(t->ref = malloc(sizeof(double) * 3 * VM * VN)))
        return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "gemm tune: no memory for the reference");
    for (int i = 0; i < 3; i++) reference(t->va_h, t->vb_h, trans[i][0], trans[i][1], t->ref + (size_t)i * VM * VN);
    return DYTCL_OK;
}

static void tuner_free(tuner *t)
{
    dytcl_buf *bufs[] = {t->a, t->b, t->c, t->va, t->vb, t->vc};
    for (int i = 0; i < 6; i++) dytcl_buf_free(bufs[i]);
    free(t->va_h), free(t->vb_h), free(t->ref);
}

/* The parameters in effect must compute the check product in every
 * transpose: *err is the worst relative error (the first GEMM compiles). */
static dytcl_status check(tuner *t, double *err)
{
    dytcl_ctx *ctx = t->ctx;
    float *got = malloc(sizeof(float) * VM * VN);
    if (!got) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "gemm tune: no memory");
    dytcl_status s = DYTCL_OK;
    *err = 0;
    for (int i = 0; i < 3 && !s; i++) {
        dytcl_tensor A = dytcl_tensor_1d(t->va, 0, VM * VK), B = dytcl_tensor_1d(t->vb, 0, VK * VN);
        dytcl_tensor C = dytcl_tensor_1d(t->vc, 0, VM * VN);
        if ((s = dytcl_fill(ctx, C, NAN)) || (s = dytcl_gemm(ctx, trans[i][0], trans[i][1], VM, VN, VK, 1, A, B, 0, C)) ||
            (s = dytcl_buf_read(ctx, t->vc, 0, got, sizeof(float) * VM * VN)))
            break;
        double num = 0, den = 0;
        const double *ref = t->ref + (size_t)i * VM * VN;
        for (int j = 0; j < VM * VN; j++) num += (got[j] - ref[j]) * (got[j] - ref[j]), den += ref[j] * ref[j];
        double e = isnan(num) ? INFINITY : sqrt(num / den);
        if (!(e <= *err)) *err = e;
    }
    free(got);
    return s;
}

/* GFLOP/s of the parameters in effect at the timed shape (NN, NT, TN). */
static dytcl_status measure(tuner *t, double *gflops)
{
    dytcl_ctx *ctx = t->ctx;
    dytcl_tensor A = dytcl_tensor_1d(t->a, 0, (int64_t)t->M * t->K), B = dytcl_tensor_1d(t->b, 0, (int64_t)t->K * t->N);
    dytcl_tensor C = dytcl_tensor_1d(t->c, 0, (int64_t)t->M * t->N);
    double total_ns = 0;
    dytcl_status s = DYTCL_OK;
    for (int i = 0; i < 3 && !s; i++) {
        double best = INFINITY;
        for (int r = -1; r < t->reps && !s; r++) { /* r = -1: warm-up, untimed */
            double ns = 0;
            if ((s = dytcl_profile_begin(ctx)) ||
                (s = dytcl_gemm(ctx, trans[i][0], trans[i][1], t->M, t->N, t->K, 1, A, B, 0, C))) {
                double ignore;
                dytcl_profile_end(ctx, &ignore);
                break;
            }
            if ((s = dytcl_profile_end(ctx, &ns))) break;
            if (r >= 0 && ns < best) best = ns;
        }
        total_ns += best;
    }
    *gflops = s ? 0 : 3 * 2.0 * t->M * t->N * t->K / total_ns;
    return s;
}

/* Applies p, checks and times it; *gflops = 0 when p is rejected (the
 * reason goes to the progress callback). Fails only on errors that are not
 * the candidate's fault (memory). */
static dytcl_status evaluate(tuner *t, const dy_gemm_params *p, const char *label, double *gflops)
{
    dytcl_ctx *ctx = t->ctx;
    *gflops = 0;
    char why[160];
    if (p && !dy_gemm_params_valid(ctx, p, why, sizeof why)) {
        say(t, "  %-40s skipped: %s", label, why);
        return DYTCL_OK;
    }
    double t0 = (dytcl_now_ms() / 1e3), err = 0;
    dytcl_status s = p ? dy_gemm_apply(ctx, p) : DYTCL_OK;
    if (!s) s = check(t, &err);
    if (s == DYTCL_ERR_HOST_MEMORY) return s;
    if (!s && !(err < 1e-5)) {
        say(t, "  %-40s rejected: relative error %.3g in the check", label, err);
        return DYTCL_OK;
    }
    double t1 = (dytcl_now_ms() / 1e3);
    if (!s) s = measure(t, gflops);
    if (s == DYTCL_ERR_HOST_MEMORY) return s;
    if (s) {
        say(t, "  %-40s rejected: %s: %s", label, dytcl_status_name(s), dytcl_last_error(ctx));
        *gflops = 0;
        return DYTCL_OK;
    }
    say(t, "  %-40s %7.1f GFLOP/s  (compile+check %.1f s, timing %.1f s)", label, *gflops, t1 - t0,
        (dytcl_now_ms() / 1e3) - t1);
    return DYTCL_OK;
}

static int same_params(const dy_gemm_params *a, const dy_gemm_params *b)
{
    return !memcmp(a->xgemm, b->xgemm, sizeof a->xgemm) && !memcmp(a->direct, b->direct, sizeof a->direct) &&
           a->min_indirect == b->min_indirect;
}

dytcl_status dytcl_gemm_tune(dytcl_ctx *ctx, const dytcl_gemm_tune_options *options, dytcl_gemm_tune_result *res)
{
    DY_CHECK_CTX(ctx);
    if (!res) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_gemm_tune: res is NULL");
    memset(res, 0, sizeof *res);
    dytcl_gemm_tune_options opt = {0};
    if (options) opt = *options;
    if (opt.budget_seconds <= 0) opt.budget_seconds = 120;
    tuner t = {.ctx = ctx, .opt = &opt, .M = opt.M ? opt.M : 1024, .N = opt.N ? opt.N : 3072,
               .K = opt.K ? opt.K : 768, .reps = opt.reps ? opt.reps : 2};
    if (t.M < 1 || t.N < 1 || t.K < 1 || t.reps < 1 || t.reps > 100)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_gemm_tune: shape %dx%dx%d, reps %d", t.M, t.N, t.K, t.reps);
    const double start = (dytcl_now_ms() / 1e3);
    dytcl_status s = tuner_init(&t);
    const int pristine = !dy_gemm_overridden(ctx->device);
    ctx->gemm_ready = DY_GEMM_SEARCH; /* dytcl_gemm: leave the parameters to us */
    const int path = ctx->gemm_path;
    ctx->gemm_path = DYTCL_GEMM_CLBLAST; /* the search times CLBlast, whatever the context's GEMMs use */
    say(&t, "tuning SGEMM on %s (%s) at %dx%dx%d, budget %.0f s", ctx->info.name, ctx->info.platform, t.M, t.N, t.K,
        opt.budget_seconds);

    /* CLBlast's own parameters, when they are still in effect. */
    if (!s && pristine) s = evaluate(&t, NULL, "CLBlast's own parameters", &res->defaults_gflops);
    /* Start from this device's tuning file when there is one. */
    dy_gemm_params best = ctx->info.is_cpu ? dy_gemm_pocl_cpu : gpu_start, cand;
    if (dy_gemm_file_load(ctx, &cand)) best = cand;
    if (!s) s = evaluate(&t, &best, "start", &res->start_gflops);
    double best_gf = res->start_gflops;
    res->tried = 1 + (pristine != 0);
    for (size_t i = 0; !s && i < sizeof moves / sizeof moves[0]; i++) {
        if ((dytcl_now_ms() / 1e3) - start > opt.budget_seconds) {
            say(&t, "  budget spent: %zu of %zu changes not tried", sizeof moves / sizeof moves[0] - i,
                sizeof moves / sizeof moves[0]);
            break;
        }
        cand = best;
        if (dy_gemm_params_parse(&cand, moves[i]) != 0 || same_params(&cand, &best)) continue;
        double gf = 0;
        s = evaluate(&t, &cand, moves[i], &gf);
        res->tried++;
        if (gf > best_gf * 1.02) best = cand, best_gf = gf; /* 2%: above the timing noise */
    }
    res->seconds = (dytcl_now_ms() / 1e3) - start;
    res->best_gflops = best_gf;
    dy_gemm_params_str(&best, res->best, sizeof res->best);

    /* Keep the winner in this process, and save it unless CLBlast's own won. */
    if (!s && best_gf > 0) s = dy_gemm_apply(ctx, &best);
    if (!s && best_gf > 0 && best_gf >= res->defaults_gflops && !opt.no_save && ctx->cache_dir[0]) {
        char note[160];
        snprintf(note, sizeof note, "%.1f GFLOP/s at %dx%dx%d (NN NT TN); CLBlast's own %.1f", best_gf, t.M, t.N, t.K,
                 res->defaults_gflops);
        if (!(s = dy_gemm_file_save(ctx, &best, note))) dy_gemm_file_path(ctx, res->path, sizeof res->path);
    }
    if (!s && best_gf < res->defaults_gflops)
        say(&t, "CLBlast's own parameters were the fastest: nothing saved (this process keeps the best tried)");
    tuner_free(&t);
    ctx->gemm_path = path;
    return s;
}
