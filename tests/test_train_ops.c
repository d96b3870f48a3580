/* test_train_ops.c -- the fused ops of the training step against float64
 * references: the head split with RoPE on q and k in one pass
 * (dytcl_heads_split_rope) and its backward.
 *
 * As in the op harness (op_harness.h): random inputs rounded to float, every
 * tensor at an odd offset of its own buffer behind NaN poison that must
 * survive, outputs NaN before the call (an element left unwritten fails),
 * both kernel shapes (DYTCL_KERNEL_SHAPE rows and groups), each call made
 * twice and required to give the same bits. Shapes: one head of D 2, odd T,
 * grouped-query heads (Hk < H), positions far from 0 and two thetas. The
 * reference of the backward is itself checked against central finite
 * differences of the forward's reference (the op is linear in qkv: the
 * differences are exact up to rounding), and the device's backward against
 * that reference. Tolerance 1e-6 relative (the split only moves values;
 * RoPE is two products and a sum per value, with the angles' cos and sin
 * from the same double-precision table as dytcl_rope_forward). */
#include <limits.h>
#include <unistd.h>

#include "dev_util.h"
#include "ref_ops.h"

static unsigned long long rng = 2718;
static const double TOL = 1e-6;
enum { OFF = 3 }; /* poison elements before each tensor */

typedef struct {
    int B, T, H, Hk, D, pos;
    double theta;
} shape;

/* A buffer of OFF + n floats: NaN, then v (NaN when v is NULL); the view
 * from element OFF. */
static dytcl_tensor put(dytcl_ctx *ctx, const double *v, size_t n, int ndim, const int64_t *dims)
{
    double *h = malloc((n + OFF) * sizeof *h);
    for (size_t i = 0; i < n + OFF; i++) h[i] = i >= OFF && v ? v[i - OFF] : NAN;
    dytcl_buf *b = dev_from(ctx, h, n + OFF);
    free(h);
    dytcl_tensor t = {b, OFF, ndim, {0, 0, 0, 0}, DYTCL_F32};
    for (int i = 0; i < ndim; i++) t.shape[i] = dims[i];
    return t;
}

/* Reads a tensor back: the poison before it must be intact. */
static double *take(dytcl_ctx *ctx, dytcl_tensor t, size_t n, const char *what)
{
    double *h = malloc((n + OFF) * sizeof *h), *v = malloc(n * sizeof *v);
    dev_to(ctx, t.buf, h, n + OFF);
    for (int i = 0; i < OFF; i++) CHECK(isnan(h[i]), "%s: poison element %d written (%g)", what, i, h[i]);
    memcpy(v, h + OFF, n * sizeof *v);
    free(h);
    return v;
}

/* NaN over a tensor's n elements again (before a repeated call). */
static void poison(dytcl_ctx *ctx, dytcl_tensor t, size_t n)
{
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    CHECK_OK(ctx, dytcl_buf_write(ctx, t.buf, t.offset * sizeof *h, h, n * sizeof *h));
    free(h);
}

/* The float64 reference. qkv [B, T, (H + 2 Hk) D] <-> q [B, H, T, D], k, v
 * [B, Hk, T, D]; RoPE on q and k at positions t + pos (sign +1), or back
 * (sign -1) in the backward, which maps q, k, v into qkv. */
static void ref_split_rope(const shape *s, double sign, int back, double *qkv, double *q, double *k, double *v)
{
    const int B = s->B, T = s->T, H = s->H, Hk = s->Hk, D = s->D, W = (H + 2 * Hk) * D;
    const size_t nq = (size_t)B * H * T * D, nk = (size_t)B * Hk * T * D;
    double *tq = malloc(nq * sizeof *tq), *tk = malloc(nk * sizeof *tk);
    if (back) { /* turn dq, dk back first, then place */
        ref_rope(B * H, T, 1, D, s->pos, s->theta, sign, q, tq);
        ref_rope(B * Hk, T, 1, D, s->pos, s->theta, sign, k, tk);
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H + 2 * Hk; h++)
                for (int d = 0; d < D; d++) {
                    double *x = &qkv[(size_t)(b * T + t) * W + (size_t)h * D + d];
                    double *y = h < H ? &(back ? tq : q)[(((size_t)b * H + h) * T + t) * D + d]
                              : h < H + Hk ? &(back ? tk : k)[(((size_t)b * Hk + h - H) * T + t) * D + d]
                                           : &v[(((size_t)b * Hk + h - H - Hk) * T + t) * D + d];
                    if (back) *x = *y;
                    else *y = *x;
                }
    if (!back) { /* place, then turn q and k */
        memcpy(tq, q, nq * sizeof *tq), memcpy(tk, k, nk * sizeof *tk);
        ref_rope(B * H, T, 1, D, s->pos, s->theta, sign, tq, q);
        ref_rope(B * Hk, T, 1, D, s->pos, s->theta, sign, tk, k);
    }
    free(tq), free(tk);
}

/* The backward's reference against central differences of the forward's:
 * L(qkv) = <q(qkv), gq> + <k(qkv), gk> + <v(qkv), gv>, dL/dqkv. */
static void check_reference_fd(const shape *s)
{
    const size_t nq = (size_t)s->B * s->H * s->T * s->D, nk = (size_t)s->B * s->Hk * s->T * s->D;
    const size_t n = nq + 2 * nk;
    double *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g), *out = malloc(n * sizeof *out);
    double *dx = malloc(n * sizeof *dx), *fd = malloc(n * sizeof *fd);
    rand_fill(x, n, &rng, -1, 1), rand_fill(g, n, &rng, -1, 1);
    ref_split_rope(s, -1, 1, dx, g, g + nq, g + nq + nk);
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double l[2];
        for (int side = 0; side < 2; side++) {
            const double keep = x[i];
            x[i] = keep + (side ? -h : h);
            ref_split_rope(s, 1, 0, x, out, out + nq, out + nq + nk);
            l[side] = 0;
            for (size_t j = 0; j < n; j++) l[side] += out[j] * g[j];
            x[i] = keep;
        }
        fd[i] = (l[0] - l[1]) / (2 * h);
    }
    const double e = rel_err(dx, fd, n);
    CHECK(e <= 1e-7, "split+RoPE backward reference vs finite differences [%d,%d,%d/%d,%d] pos %d: %.3g", s->B, s->T,
          s->H, s->Hk, s->D, s->pos, e);
    free(x), free(g), free(out), free(dx), free(fd);
}

static void run_case(dytcl_ctx *ctx, const shape *s, const char *kshape)
{
    const int B = s->B, T = s->T, H = s->H, Hk = s->Hk, D = s->D;
    const size_t nq = (size_t)B * H * T * D, nk = (size_t)B * Hk * T * D, n = nq + 2 * nk;
    const int64_t dq4[4] = {B, H, T, D}, dk4[4] = {B, Hk, T, D}, dp[2] = {(int64_t)B * T, (H + 2 * Hk) * D};
    char what[160];
    snprintf(what, sizeof what, "[%d,%d,%d/%d,%d] pos %d theta %g (%s)", B, T, H, Hk, D, s->pos, s->theta, kshape);
    double *qkv = malloc(n * sizeof *qkv), *want = malloc(n * sizeof *want), *g = malloc(n * sizeof *g);
    double *dwant = malloc(n * sizeof *dwant);
    rand_fill(qkv, n, &rng, -2, 2), round_float(qkv, n);
    rand_fill(g, n, &rng, -1, 1), round_float(g, n);
    ref_split_rope(s, 1, 0, qkv, want, want + nq, want + nq + nk);
    ref_split_rope(s, -1, 1, dwant, g, g + nq, g + nq + nk);

    /* forward: q, k, v from qkv */
    dytcl_tensor tqkv = put(ctx, qkv, n, 2, dp);
    dytcl_tensor tq = put(ctx, NULL, nq, 4, dq4), tk = put(ctx, NULL, nk, 4, dk4), tv = put(ctx, NULL, nk, 4, dk4);
    double *first[3] = {NULL, NULL, NULL};
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(ctx, dytcl_heads_split_rope(ctx, tq, tk, tv, tqkv, s->pos, (float)s->theta));
        dytcl_tensor outs[3] = {tq, tk, tv};
        const size_t ns[3] = {nq, nk, nk}, at[3] = {0, nq, nq + nk};
        for (int j = 0; j < 3; j++) {
            double *got = take(ctx, outs[j], ns[j], what);
            if (!rep) {
                const double e = rel_err(got, want + at[j], ns[j]);
                CHECK(e <= TOL, "split+RoPE %s output %d: error %.3g", what, j, e);
                first[j] = got;
                poison(ctx, outs[j], ns[j]);
            } else {
                CHECK(!memcmp(got, first[j], ns[j] * sizeof *got), "split+RoPE %s output %d differs between runs",
                      what, j);
                free(got), free(first[j]);
            }
        }
    }
    /* backward: dqkv from dq, dk, dv (read only: they must keep their values) */
    dytcl_tensor gq = put(ctx, g, nq, 4, dq4), gk = put(ctx, g + nq, nk, 4, dk4), gv = put(ctx, g + nq + nk, nk, 4, dk4);
    dytcl_tensor dqkv = put(ctx, NULL, n, 2, dp);
    double *dfirst = NULL;
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(ctx, dytcl_heads_split_rope_backward(ctx, dqkv, gq, gk, gv, s->pos, (float)s->theta));
        double *got = take(ctx, dqkv, n, what);
        if (!rep) {
            const double e = rel_err(got, dwant, n);
            CHECK(e <= TOL, "split+RoPE backward %s: error %.3g", what, e);
            dfirst = got;
            poison(ctx, dqkv, n);
        } else {
            CHECK(!memcmp(got, dfirst, n * sizeof *got), "split+RoPE backward %s differs between runs", what);
            free(got), free(dfirst);
        }
    }
    double *kept = take(ctx, gq, nq, what);
    CHECK(rel_err(kept, g, nq) == 0, "split+RoPE backward %s: dq changed", what);
    free(kept);
    dytcl_tensor all[] = {tqkv, tq, tk, tv, gq, gk, gv, dqkv};
    for (int i = 0; i < 8; i++) dytcl_buf_free(all[i].buf);
    free(qkv), free(want), free(g), free(dwant);
}

/* Bad arguments: refused with a status, nothing run. */
static void run_refusals(dytcl_ctx *ctx)
{
    const int64_t d4[4] = {1, 2, 3, 4}, odd4[4] = {1, 2, 3, 5}, dp[2] = {3, 24}, dpo[2] = {3, 30};
    dytcl_tensor q = put(ctx, NULL, 24, 4, d4), k = put(ctx, NULL, 24, 4, d4), v = put(ctx, NULL, 24, 4, d4);
    dytcl_tensor qkv = put(ctx, NULL, 72, 2, dp);
    dytcl_tensor oq = put(ctx, NULL, 30, 4, odd4), ok = put(ctx, NULL, 30, 4, odd4), ov = put(ctx, NULL, 30, 4, odd4);
    dytcl_tensor oqkv = put(ctx, NULL, 90, 2, dpo);
    CHECK(dytcl_heads_split_rope(ctx, oq, ok, ov, oqkv, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG, "D = 5 accepted");
    CHECK(dytcl_heads_split_rope(ctx, q, k, v, qkv, 0, NAN) == DYTCL_ERR_INVALID_ARG, "theta NaN accepted");
    CHECK(dytcl_heads_split_rope(ctx, q, k, v, qkv, 0, 1.0f) == DYTCL_ERR_INVALID_ARG, "theta 1 accepted");
    CHECK(dytcl_heads_split_rope(ctx, q, k, v, qkv, -1, 10000.0f) == DYTCL_ERR_INVALID_ARG, "pos -1 accepted");
    CHECK(dytcl_heads_split_rope(ctx, q, k, v, qkv, INT_MAX - 1, 10000.0f) == DYTCL_ERR_INVALID_ARG,
          "positions past INT_MAX accepted");
    CHECK(dytcl_heads_split_rope(ctx, q, k, v, dytcl_tensor_1d(qkv.buf, OFF, 71), 0, 10000.0f) ==
              DYTCL_ERR_INVALID_ARG, "qkv of 71 elements accepted");
    /* q over qkv's elements */
    dytcl_tensor over = q;
    over.buf = qkv.buf;
    CHECK(dytcl_heads_split_rope(ctx, over, k, v, qkv, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG, "q over qkv accepted");
    CHECK(dytcl_heads_split_rope_backward(ctx, qkv, over, k, v, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG,
          "dq over dqkv accepted");
    dytcl_tensor all[] = {q, k, v, qkv, oq, ok, ov, oqkv};
    for (int i = 0; i < 8; i++) dytcl_buf_free(all[i].buf);
}

int main(void)
{
    const shape shapes[] = {{1, 1, 1, 1, 2, 0, 10000}, {2, 7, 3, 3, 16, 0, 10000},  {2, 5, 4, 2, 24, 5, 10000},
                            {3, 33, 2, 1, 64, 0, 500000}, {1, 129, 6, 3, 10, 1000, 10000}, {2, 64, 4, 4, 64, 0, 10000}};
    const int ns = check_small() ? 3 : (int)(sizeof shapes / sizeof shapes[0]);
    for (int i = 0; i < 3; i++) check_reference_fd(&shapes[i]);
    const char *kshapes[2] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", kshapes[sh], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
        for (int i = 0; i < ns; i++) run_case(ctx, &shapes[i], kshapes[sh]);
        if (!sh) run_refusals(ctx);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_train_ops");
}
