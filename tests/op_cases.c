/* op_cases.c -- the table of op cases (op_harness.h): for each op its
 * shapes, storage dtypes, inputs, outputs and tolerances, the float64
 * reference (ref_norms.c, ref_ops.c) on the harness's arrays and the call
 * through the public API on its 1-D device views. Grouped by op family:
 * "dyt" (DyT, Derf, add, copy, fill, residual + DyT), "norm" (RMSNorm,
 * LayerNorm, residual + RMSNorm), "ops" (the rest); test_ops runs them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_harness.h"
#include "ref_norms.h"
#include "ref_ops.h"

/* Entries leave their trailing fields at zero: no prep, no flags, f32 only, both kernel shapes. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NONE ((dytcl_tensor){0})

/* Table shorthands: an input drawn by a generator, by a fill function, as
 * int32 ids; an output compared as is, against a scale, from an input.
 * These are stored in the case's dtype; the P forms (parameters, their
 * gradients, statistics) stay f32. */
#define IN(size, gen, lo, hi) {size, gen, lo, hi, NULL, 0, 0}
#define FILL(size, fn) {size, OP_UNIFORM, 0, 0, fn, 0, 0}
#define IDS(size, fn) {size, OP_UNIFORM, 0, 0, fn, 1, 0}
#define OUT(size, tol) {size, tol, 0, 0, 0}
#define SCALED(size, tol) {size, tol, 1, 0, 0}
#define FROM(size, tol, j) {size, tol, 0, (j) + 1, 0}
#define PIN(size, gen, lo, hi) {size, gen, lo, hi, NULL, 0, 1}
#define PFILL(size, fn) {size, OP_UNIFORM, 0, 0, fn, 0, 1}
#define POUT(size, tol) {size, tol, 0, 0, 1}
#define PSCALED(size, tol) {size, tol, 1, 0, 1}
#define PFROM(size, tol, j) {size, tol, 0, (j) + 1, 1}

/* Variants (op_case.flags). */
enum {
    W = 1,      /* with a weight (norms: and a bias) */
    B = 2,      /* with a bias */
    DERF = 4,   /* Derf, not DyT */
    NCHW = 8,   /* channels first */
    ACC = 16,   /* backward: add into the parameter gradients */
    ALIAS = 32, /* an output passed as the input it starts from (in place) */
    LN = 64,    /* LayerNorm, not RMSNorm */
    POS = 128,  /* embeddings: with learned positions */
    BARE = 256, /* cross-entropy: no dlogits */
    BIG = 512,  /* fill: the value times op_big(dtype) */
};

#define D(s, i) op_dim(&(s), i)
/* The view [d0, d1] of a 1-D harness tensor. */
static dytcl_tensor t2(const op_run *r, dytcl_tensor t) { return op_view(t, 2, D(r->s, 0), D(r->s, 1), 0, 0); }

/* ---------------------------------------------- elementwise, 1-D [n] */

#define SIZES {{{1}}, {{3}}, {{17}}, {{255}}, {{256}}, {{257}}, {{4097}}, {{4101}}, {{100003}}}

static void ref_gelu_fwd(op_run *r)
{
    for (size_t i = 0; i < r->n[0][0]; i++) r->out[0][i] = ref_gelu(r->in[0][i]), r->scale[0][i] = r->in[0][i];
}
static dytcl_status call_gelu_fwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_gelu_forward(ctx, r->tout[0], r->tin[0]);
}
/* in: dy, x; out: dx */
static void ref_gelu_bwd(op_run *r)
{
    for (size_t i = 0; i < r->n[0][0]; i++)
        r->out[0][i] = r->in[0][i] * ref_gelu_grad(r->in[1][i]), r->scale[0][i] = r->in[0][i];
}
static dytcl_status call_gelu_bwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_gelu_backward(ctx, r->tout[0], r->tin[0], r->tin[1]);
}
static void ref_swiglu_fwd(op_run *r) { ref_swiglu((int)r->n[0][0], r->in[0], r->in[1], r->out[0]); }
static dytcl_status call_swiglu_fwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_swiglu_forward(ctx, r->tout[0], r->tin[0], r->tin[1]);
}
/* in: a, b, dy; out: da, db */
static void ref_swiglu_bwd(op_run *r)
{
    ref_swiglu_backward((int)r->n[0][0], r->in[0], r->in[1], r->in[2], r->out[0], r->out[1]);
}
static dytcl_status call_swiglu_bwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_swiglu_backward(ctx, r->tout[0], r->tout[1], r->tin[2], r->tin[0], r->tin[1]);
}
/* in: x, s [1]; out: y = s x */
static void ref_scale_fwd(op_run *r)
{
    for (size_t i = 0; i < r->n[0][0]; i++) r->out[0][i] = r->in[1][0] * r->in[0][i];
}
static dytcl_status call_scale_fwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_scale_forward(ctx, r->tout[0], r->tin[0], r->tin[1]);
}
/* in: dy, x, s [1]; out: dx = s dy, ds [1] = sum dy x */
static void ref_scale_bwd(op_run *r)
{
    r->out[1][0] = 0;
    for (size_t i = 0; i < r->n[0][0]; i++)
        r->out[0][i] = r->in[2][0] * r->in[0][i], r->out[1][0] += r->in[0][i] * r->in[1][i];
}
static dytcl_status call_scale_bwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_scale_backward(ctx, r->tout[0], r->tout[1], 0, r->tin[0], r->tin[1], r->tin[2]);
}
/* scale rows: in x [d0, d1], s [d0]; out y [d0, d1] = s[r] x[r, :] (ALIAS: over x) */
#define ROW_SIZES {{{1, 1}}, {{3, 5}}, {{4, 8}}, {{7, 257}}, {{2, 1023}}, {{64, 1}}, {{5, 25090}}}
/* a stochastic-depth mask: 0 or 1 / (1 - 0.3), and some other factors */
static void rows_mask(const op_shape *sh, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)sh, (void)dt;
    for (size_t i = 0; i < n; i++) v[i] = i % 3 == 0 ? 0.0 : i % 3 == 1 ? 1.0 / 0.7 : op_rand(rng, -2, 2);
}
static void ref_scale_rows(op_run *r)
{
    size_t rows = (size_t)D(r->s, 0), cols = (size_t)D(r->s, 1);
    for (size_t i = 0; i < rows * cols; i++) r->out[0][i] = r->in[1][i / cols] * r->in[0][i];
}
static dytcl_status call_scale_rows(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_scale_rows(ctx, r->tout[0], r->c->flags & ALIAS ? r->tout[0] : r->tin[0], r->tin[1]);
}
/* in: g; out: ||g|| [1], the clipping scale min(1, 1 / (||g|| + 1e-6)) [1] */
static void ref_grad_norm(op_run *r)
{
    double ss = 0;
    for (size_t i = 0; i < r->n[0][0]; i++) ss += r->in[0][i] * r->in[0][i];
    r->out[0][0] = sqrt(ss), r->out[1][0] = fmin(1.0, 1.0 / (sqrt(ss) + 1e-6));
}
static dytcl_status call_grad_norm(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_grad_norm(ctx, r->tout[0], r->tout[1], r->tin[0], 1.0f);
}

/* SwiGLU on a fused gate|up tensor ab [rows, 2, H] (a = ab[:, 0], b = ab[:, 1]). */
static void split_ab(const op_run *r, double *a, double *b)
{
    size_t rows = (size_t)D(r->s, 0), H = (size_t)D(r->s, 2);
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < H; c++) a[i * H + c] = r->in[0][i * 2 * H + c], b[i * H + c] = r->in[0][i * 2 * H + H + c];
}
static void ref_swiglu_packed_fwd(op_run *r)
{
    size_t n = r->n[1][0];
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    split_ab(r, a, b);
    ref_swiglu((int)n, a, b, r->out[0]);
    free(a), free(b);
}
static dytcl_status call_swiglu_packed_fwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_swiglu_packed_forward(ctx, op_view(r->tout[0], 2, D(r->s, 0), D(r->s, 2), 0, 0),
                                       op_view(r->tin[0], 2, D(r->s, 0), 2 * D(r->s, 2), 0, 0));
}
/* in: ab, dy; out: dab (flags ALIAS: written over ab) */
static void ref_swiglu_packed_bwd(op_run *r)
{
    size_t n = r->n[0][1], rows = (size_t)D(r->s, 0), H = (size_t)D(r->s, 2);
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *da = malloc(n * sizeof *a), *db = malloc(n * sizeof *b);
    split_ab(r, a, b);
    ref_swiglu_backward((int)n, a, b, r->in[1], da, db);
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < H; c++) r->out[0][i * 2 * H + c] = da[i * H + c], r->out[0][i * 2 * H + H + c] = db[i * H + c];
    free(a), free(b), free(da), free(db);
}
static dytcl_status call_swiglu_packed_bwd(dytcl_ctx *ctx, const op_run *r)
{
    int rows = D(r->s, 0), H = D(r->s, 2);
    dytcl_tensor dab = op_view(r->tout[0], 2, rows, 2 * H, 0, 0);
    return dytcl_swiglu_packed_backward(ctx, dab, op_view(r->tin[1], 2, rows, H, 0, 0),
                                        r->c->flags & ALIAS ? dab : op_view(r->tin[0], 2, rows, 2 * H, 0, 0));
}

/* ------------------------------------ DyT and Derf: x [rows, C] or [N, C, H, W]
 * forward in: x, alpha [1], shift [1], w [C], b [C]; out: y
 * backward in: the same, dy (ACC: (dalpha, dshift), dw, db before); out: dx,
 * (dalpha, dshift) [2] (DyT: dalpha [1]), then dw (W), db (B) */

static ref_shape dyt_shape(const op_run *r)
{
    int C = D(r->s, 1), first = (r->c->flags & NCHW) != 0;
    return (ref_shape){r->n[0][0], C, first ? D(r->s, 2) * D(r->s, 3) : C, first};
}
static dytcl_tensor dyt_view(const op_run *r, dytcl_tensor t)
{
    return r->c->flags & NCHW ? op_view(t, 4, D(r->s, 0), D(r->s, 1), D(r->s, 2), D(r->s, 3)) : t2(r, t);
}
static dytcl_dyt_params dyt_params(const op_run *r)
{
    int f = r->c->flags;
    return (dytcl_dyt_params){r->tin[1], f & DERF ? r->tin[2] : NONE, f & W ? r->tin[3] : NONE,
                              f & B ? r->tin[4] : NONE, f & NCHW ? DYTCL_CHANNELS_FIRST : DYTCL_CHANNELS_LAST};
}
static void ref_dyt_fwd(op_run *r)
{
    int f = r->c->flags;
    ref_dyt_forward(f & DERF ? REF_DERF : REF_DYT, dyt_shape(r), r->in[0], r->in[1][0], r->in[2][0],
                    f & W ? r->in[3] : NULL, f & B ? r->in[4] : NULL, r->out[0]);
}
static dytcl_status call_dyt_fwd(dytcl_ctx *ctx, const op_run *r)
{
    dytcl_dyt_params p = dyt_params(r);
    return (r->c->flags & DERF ? dytcl_derf_forward : dytcl_dyt_forward)(ctx, dyt_view(r, r->tout[0]),
                                                                          dyt_view(r, r->tin[0]), &p);
}
/* out[k] = v (+ the input it starts from, when accumulating), m elements */
static void put(op_run *r, int k, const double *v, size_t m)
{
    int from = r->c->out[k].init;
    for (size_t i = 0; i < m; i++) r->out[k][i] = v[i] + (from ? r->in[from - 1][i] : 0);
}
static void ref_dyt_bwd(op_run *r)
{
    int f = r->c->flags, C = D(r->s, 1), k = 2;
    ref_shape s = dyt_shape(r);
    const double *w = f & W ? r->in[3] : NULL, *x = r->in[0], alpha = r->in[1][0];
    double das[2], *dw = malloc(C * sizeof *dw), *db = malloc(C * sizeof *db), sa = 0, ss = 0;
    ref_dyt_backward(f & DERF ? REF_DERF : REF_DYT, s, x, r->in[5], alpha, r->in[2][0], w, r->out[0], &das[0],
                     &das[1], dw, db);
    put(r, 1, das, r->n[1][1]);
    if (f & W) put(r, k++, dw, (size_t)C);
    if (f & B) put(r, k++, db, (size_t)C);
    /* dx = dy * w * alpha * act', and act' is tiny where the activation
     * saturates: measured against dy * w * alpha; dalpha and dshift, sums
     * of dy * w * act' * (x, 1), against ||dy * w * x|| and ||dy * w|| */
    for (size_t e = 0; e < s.n; e++) {
        int c = s.channels_first ? (int)((e / (size_t)s.inner) % (size_t)C) : (int)(e % (size_t)C);
        double g = r->in[5][e] * (w ? w[c] : 1.0);
        r->scale[0][e] = g * alpha, sa += g * x[e] * g * x[e], ss += g * g;
    }
    r->scale[1][0] = sqrt(sa);
    if (f & DERF) r->scale[1][1] = sqrt(ss);
    free(dw), free(db);
}
static dytcl_status call_dyt_bwd(dytcl_ctx *ctx, const op_run *r)
{
    int f = r->c->flags, k = 2;
    dytcl_dyt_params p = dyt_params(r);
    dytcl_dyt_grads g = {op_sub(r->tout[1], 0, 1), f & DERF ? op_sub(r->tout[1], 1, 1) : NONE,
                         NONE, NONE, (f & ACC) != 0};
    if (f & W) g.dweight = r->tout[k++];
    if (f & B) g.dbias = r->tout[k++];
    return (f & DERF ? dytcl_derf_backward : dytcl_dyt_backward)(ctx, dyt_view(r, r->tout[0]), &g,
                                                                  dyt_view(r, r->tin[5]), dyt_view(r, r->tin[0]), &p);
}

/* The residual stream: r_out = r + h (in float, as the device adds, then stored). */
static void residual_sum(const op_run *r, double *ro)
{
    for (size_t i = 0; i < r->n[0][0]; i++) ro[i] = op_store(r, r->in[0][i] + r->in[1][i]);
}
/* in: a, b; out: a + b */
static void ref_add(op_run *r) { residual_sum(r, r->out[0]); }
static dytcl_status call_add(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_add(ctx, t2(r, r->tout[0]), t2(r, r->tin[0]), t2(r, r->tin[1]));
}
/* in: r, h, alpha [1], w [C], b [C] (B); out: r_out (ALIAS: over r), y = DyT(r_out) */
static void ref_residual_dyt_fwd(op_run *r)
{
    int C = D(r->s, 1);
    residual_sum(r, r->out[0]);
    ref_dyt_forward(REF_DYT, (ref_shape){r->n[0][0], C, C, 0}, r->out[0], r->in[2][0], 0, r->in[3],
                    r->c->flags & B ? r->in[4] : NULL, r->out[1]);
}
static dytcl_status call_residual_dyt_fwd(dytcl_ctx *ctx, const op_run *r)
{
    dytcl_dyt_params p = {r->tin[2], NONE, r->tin[3], r->c->flags & B ? r->tin[4] : NONE, DYTCL_CHANNELS_LAST};
    dytcl_tensor ro = t2(r, r->tout[0]);
    return dytcl_residual_dyt_forward(ctx, ro, t2(r, r->tout[1]), r->c->flags & ALIAS ? ro : t2(r, r->tin[0]),
                                      t2(r, r->tin[1]), &p);
}
/* in: dy, dr_out, r_out, alpha [1], w [C], b [C] (B); out: d (ALIAS: written over dr_out), dalpha, dw, db (B) */
static void ref_residual_dyt_bwd(op_run *r)
{
    int C = D(r->s, 1);
    size_t n = r->n[0][0];
    ref_dyt_backward(REF_DYT, (ref_shape){n, C, C, 0}, r->in[2], r->in[0], r->in[3][0], 0, r->in[4], r->out[0],
                     r->out[1], NULL, r->out[2], r->c->flags & B ? r->out[3] : NULL);
    for (size_t i = 0; i < n; i++) r->out[0][i] += r->in[1][i];
}
static dytcl_status call_residual_dyt_bwd(dytcl_ctx *ctx, const op_run *r)
{
    int b = (r->c->flags & B) != 0;
    dytcl_dyt_params p = {r->tin[3], NONE, r->tin[4], b ? r->tin[5] : NONE, DYTCL_CHANNELS_LAST};
    dytcl_dyt_grads g = {r->tout[1], NONE, r->tout[2], b ? r->tout[3] : NONE, 0};
    dytcl_tensor d = t2(r, r->tout[0]);
    return dytcl_residual_dyt_backward(ctx, d, &g, t2(r, r->tin[0]), r->c->flags & ALIAS ? d : t2(r, r->tin[1]),
                                       t2(r, r->tin[2]), &p);
}

/* ---------------------------------------------- RMSNorm, LayerNorm: x [rows, C]
 * forward in: x, w [C], b [C]; out: y, rstd [rows], mean [rows] (LN)
 * backward in: x, w, dy, rstd, mean (LN) (ACC: then dw, db before); out:
 * dx, dw, db (LN). eps: the case's arg. */

static void ref_norm_fwd(op_run *r)
{
    int rows = D(r->s, 0), C = D(r->s, 1), f = r->c->flags;
    const double *w = f & W ? r->in[1] : NULL;
    if (f & LN) ref_layernorm_forward(rows, C, r->in[0], w, f & W ? r->in[2] : NULL, r->c->arg, r->out[0], r->out[2], r->out[1]);
    else ref_rmsnorm_forward(rows, C, r->in[0], w, r->c->arg, r->out[0], r->out[1]);
}
static dytcl_status call_norm_fwd(dytcl_ctx *ctx, const op_run *r)
{
    int f = r->c->flags;
    dytcl_tensor w = f & W ? r->tin[1] : NONE, y = t2(r, r->tout[0]), x = t2(r, r->tin[0]);
    if (f & LN)
        return dytcl_layernorm_forward(ctx, y, r->tout[2], r->tout[1], x, w, f & W ? r->tin[2] : NONE, (float)r->c->arg);
    return dytcl_rmsnorm_forward(ctx, y, r->tout[1], x, w, (float)r->c->arg);
}
/* The forward's saved statistics from x (in[xi]) into in[si] (rstd) and in[si + 1] (mean, LN). */
static void norm_stats(op_run *r, int xi, int si)
{
    int rows = D(r->s, 0), C = D(r->s, 1);
    double *y = malloc(r->n[0][xi] * sizeof *y);
    if (r->c->flags & LN) ref_layernorm_forward(rows, C, r->in[xi], NULL, NULL, r->c->arg, y, r->in[si + 1], r->in[si]);
    else ref_rmsnorm_forward(rows, C, r->in[xi], NULL, r->c->arg, y, r->in[si]);
    free(y);
}
static void prep_norm_bwd(op_run *r) { norm_stats(r, 0, 3); }
static void ref_norm_bwd(op_run *r)
{
    int rows = D(r->s, 0), C = D(r->s, 1), f = r->c->flags;
    const double *w = f & W ? r->in[1] : NULL, *dy = r->in[2];
    double *dw = malloc(C * sizeof *dw), *db = malloc(C * sizeof *db);
    if (f & LN) ref_layernorm_backward(rows, C, r->in[0], w, dy, r->c->arg, r->out[0], dw, db);
    else ref_rmsnorm_backward(rows, C, r->in[0], w, dy, r->c->arg, r->out[0], dw);
    put(r, 1, dw, (size_t)C);
    if (f & LN) put(r, 2, db, (size_t)C);
    /* the gradient into the norm: rstd * dy * w */
    for (size_t i = 0; i < r->n[0][0]; i++) r->scale[0][i] = r->in[3][i / (size_t)C] * dy[i] * (w ? w[i % (size_t)C] : 1.0);
    free(dw), free(db);
}
static dytcl_status call_norm_bwd(dytcl_ctx *ctx, const op_run *r)
{
    int f = r->c->flags, acc = (f & ACC) != 0;
    dytcl_tensor w = f & W ? r->tin[1] : NONE, dx = t2(r, r->tout[0]), dy = t2(r, r->tin[2]), x = t2(r, r->tin[0]);
    if (f & LN)
        return dytcl_layernorm_backward(ctx, dx, r->tout[1], r->tout[2], acc, dy, x, r->tin[4], r->tin[3], w);
    return dytcl_rmsnorm_backward(ctx, dx, r->tout[1], acc, dy, x, r->tin[3], w);
}
/* in: r, h, w [C]; out: r_out, y = RMSNorm(r_out), rstd [rows] */
static void ref_residual_rms_fwd(op_run *r)
{
    residual_sum(r, r->out[0]);
    ref_rmsnorm_forward(D(r->s, 0), D(r->s, 1), r->out[0], r->in[2], r->c->arg, r->out[1], r->out[2]);
}
static dytcl_status call_residual_rms_fwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_residual_rmsnorm_forward(ctx, t2(r, r->tout[0]), t2(r, r->tout[1]), r->tout[2], t2(r, r->tin[0]),
                                          t2(r, r->tin[1]), r->tin[2], (float)r->c->arg);
}
/* in: dy, dr_out, r_out, w [C], rstd [rows]; out: d (written over dr_out), dw */
static void prep_residual_rms_bwd(op_run *r) { norm_stats(r, 2, 4); }
static void ref_residual_rms_bwd(op_run *r)
{
    ref_rmsnorm_backward(D(r->s, 0), D(r->s, 1), r->in[2], r->in[3], r->in[0], r->c->arg, r->out[0], r->out[1]);
    for (size_t i = 0; i < r->n[0][0]; i++) r->out[0][i] += r->in[1][i];
}
static dytcl_status call_residual_rms_bwd(dytcl_ctx *ctx, const op_run *r)
{
    dytcl_tensor d = t2(r, r->tout[0]);
    return dytcl_residual_rmsnorm_backward(ctx, d, r->tout[1], 0, t2(r, r->tin[0]), d, t2(r, r->tin[2]), r->tin[4],
                                           r->tin[3]);
}

/* ---------------------------------------------- RoPE: x [B, T, H, D], offset k, theta arg */

static void ref_rope_fwd(op_run *r)
{
    ref_rope(D(r->s, 0), D(r->s, 1), D(r->s, 2), D(r->s, 3), r->s.k, r->c->arg, 1, r->in[0], r->out[0]);
}
static dytcl_tensor rope_view(const op_run *r, dytcl_tensor t)
{
    return op_view(t, 4, D(r->s, 0), D(r->s, 1), D(r->s, 2), D(r->s, 3));
}
static dytcl_status call_rope_fwd(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_rope_forward(ctx, rope_view(r, r->tout[0]), rope_view(r, r->tin[0]), r->s.k, (float)r->c->arg);
}
/* in: dy; out: dx (ALIAS: in place, dx = dy) */
static void ref_rope_bwd(op_run *r)
{
    ref_rope(D(r->s, 0), D(r->s, 1), D(r->s, 2), D(r->s, 3), r->s.k, r->c->arg, -1, r->in[0], r->out[0]);
}
static dytcl_status call_rope_bwd(dytcl_ctx *ctx, const op_run *r)
{
    dytcl_tensor d = rope_view(r, r->tout[0]);
    return dytcl_rope_backward(ctx, d, r->c->flags & ALIAS ? d : rope_view(r, r->tin[0]), r->s.k, (float)r->c->arg);
}

/* ---------------------------------------------- cross-entropy: logits [rows, V]
 * in: logits, targets (int32); out: loss [rows], dlogits (not with BARE;
 * ALIAS: over the logits). grad_scale = 1 / (rows not ignored). */

/* uniform in [-8, 8), and a logit of 80 (exp would overflow without the max) */
static void ce_logits(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt;
    op_fill(v, n, OP_UNIFORM, -8, 8, rng);
    if (n > 2) v[1] = 80.0;
}
/* every fifth row ignored (-1), the others uniform in [0, V) */
static void ce_targets(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)dt;
    for (size_t i = 0; i < n; i++) v[i] = i % 5 == 4 ? -1 : floor(op_rand(rng, 0, D(*s, 1)));
}
static void ce_ignored(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt, (void)rng;
    for (size_t i = 0; i < n; i++) v[i] = -1;
}
/* the first target past V: a NaN loss for its row and the mean */
static void ce_out_of_range(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    ce_targets(s, dt, v, n, rng);
    v[0] = D(*s, 1) + 5;
}
/* losses in [0, 5), the first NaN (its target is not ignored) */
static void ce_nan_loss(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt;
    op_fill(v, n, OP_UNIFORM, 0, 5, rng);
    v[0] = NAN;
}
/* the ids of input j as int, and the grad scale 1 / (rows not ignored) */
static int *ce_ids(const op_run *r, int j, double *scale)
{
    size_t n = r->n[0][j];
    int *t = malloc(n * sizeof *t), kept = 0;
    for (size_t i = 0; i < n; i++) t[i] = (int)r->in[j][i], kept += t[i] != -1;
    if (scale) *scale = kept ? 1.0 / kept : 1.0;
    return t;
}
static void ref_ce_fwd(op_run *r)
{
    int rows = D(r->s, 0), V = D(r->s, 1);
    double scale;
    int *t = ce_ids(r, 1, &scale), *bad = calloc((size_t)rows, sizeof *bad);
    for (int i = 0; i < rows; i++)
        if (t[i] >= V) bad[i] = 1, t[i] = -1;
    ref_ce_smoothed(rows, V, r->in[0], t, r->c->arg, scale, r->out[0], r->c->flags & BARE ? NULL : r->out[1]);
    for (int i = 0; i < rows; i++)
        if (bad[i]) r->out[0][i] = NAN;
    free(t), free(bad);
}
static dytcl_status call_ce_fwd(dytcl_ctx *ctx, const op_run *r)
{
    double scale;
    free(ce_ids(r, 1, &scale));
    dytcl_tensor dz = r->c->flags & BARE ? NONE : t2(r, r->tout[1]);
    dytcl_tensor z = r->c->flags & ALIAS ? dz : t2(r, r->tin[0]);
    if (r->c->arg != 0) return dytcl_cross_entropy_smoothed(ctx, r->tout[0], dz, z, r->tin[1], (float)r->c->arg, (float)scale);
    return dytcl_cross_entropy(ctx, r->tout[0], dz, z, r->tin[1], (float)scale);
}
/* in: loss [rows], targets; out: the mean over the rows not ignored */
static void ref_ce_mean(op_run *r)
{
    double scale, sum = 0;
    int *t = ce_ids(r, 1, &scale), kept = 0;
    for (size_t i = 0; i < r->n[0][0]; i++)
        if (t[i] != -1) sum += r->in[0][i], kept++;
    r->out[0][0] = kept ? sum * scale : 0;
    free(t);
}
static dytcl_status call_ce_mean(dytcl_ctx *ctx, const op_run *r)
{
    return dytcl_cross_entropy_mean(ctx, r->tout[0], r->tin[0], r->tin[1]);
}

/* ---------------------------------------------- embeddings: shape [B, T, V, C]
 * forward in: tokens [B*T], wte [V, C], wpe [T, C]; out: [B*T, C]
 * backward in: tokens, dout (ACC: dwte, dwpe before); out: dwte, dwpe (POS) */

/* every third row token 1 (a bucket past the heapsort threshold when there
 * are enough rows), the others uniform, the last out of range and (from 3
 * rows) the middle one -1: NaN rows, not counted in the gradients */
static void embed_tokens(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    int V = D(*s, 2);
    (void)dt;
    for (size_t i = 0; i < n; i++) v[i] = i % 3 == 0 ? 1 % V : floor(op_rand(rng, 0, V));
    v[n - 1] = V + 3;
    if (n >= 3) v[n / 2] = -1;
}
static void ref_embed_fwd(op_run *r)
{
    int *t = ce_ids(r, 0, NULL);
    ref_embed((int)r->n[0][0], D(r->s, 1), D(r->s, 2), D(r->s, 3), t, r->in[1], r->c->flags & POS ? r->in[2] : NULL,
              r->out[0]);
    for (size_t i = 0; i < r->n[1][0]; i++) r->out[0][i] = op_store(r, r->out[0][i]); /* one float addition */
    free(t);
}
static dytcl_status call_embed_fwd(dytcl_ctx *ctx, const op_run *r)
{
    int rows = (int)r->n[0][0], T = D(r->s, 1), C = D(r->s, 3);
    return dytcl_embedding_forward(ctx, op_view(r->tout[0], 2, rows, C, 0, 0), r->tin[0],
                                   op_view(r->tin[1], 2, D(r->s, 2), C, 0, 0),
                                   r->c->flags & POS ? op_view(r->tin[2], 2, T, C, 0, 0) : NONE, T);
}
static void ref_embed_bwd(op_run *r)
{
    int *t = ce_ids(r, 0, NULL), pos = (r->c->flags & POS) != 0;
    for (int k = 0; k < r->c->n_out; k++) memset(r->out[k], 0, r->n[1][k] * sizeof(double));
    ref_embed_backward((int)r->n[0][0], D(r->s, 1), D(r->s, 2), D(r->s, 3), t, r->in[1], r->out[0],
                       pos ? r->out[1] : NULL);
    for (int k = 0; k < r->c->n_out; k++) put(r, k, r->out[k], r->n[1][k]);
    free(t);
}
static dytcl_status call_embed_bwd(dytcl_ctx *ctx, const op_run *r)
{
    int rows = (int)r->n[0][0], T = D(r->s, 1), C = D(r->s, 3), f = r->c->flags;
    return dytcl_embedding_backward(ctx, op_view(r->tout[0], 2, D(r->s, 2), C, 0, 0),
                                    f & POS ? op_view(r->tout[1], 2, T, C, 0, 0) : NONE, (f & ACC) != 0,
                                    op_view(r->tin[1], 2, rows, C, 0, 0), r->tin[0], T);
}

/* ---------------------------------------------- AdamW: [n], step k
 * in: p, g, m, v, decay mask, grad scale [1]; out: p, m, v (updated in
 * place). Without W: no mask and no scale (every parameter decays, the raw
 * gradient). Hyperparameters as float, as the device sees them. */

static const dytcl_adamw_config adamw_cfg = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};

static void adamw_mask(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt, (void)rng;
    for (size_t i = 0; i < n; i++) v[i] = i % 3 != 0;
}
static void ref_adamw_step(op_run *r)
{
    size_t n = r->n[0][0];
    int with = (r->c->flags & W) != 0;
    double *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) g[i] = r->in[1][i] * (with ? r->in[5][0] : 1.0);
    memcpy(r->out[0], r->in[0], n * sizeof(double));
    memcpy(r->out[1], r->in[2], n * sizeof(double));
    memcpy(r->out[2], r->in[3], n * sizeof(double));
    const dytcl_adamw_config *c = &adamw_cfg;
    ref_adamw((int)n, r->out[0], g, r->out[1], r->out[2], with ? r->in[4] : NULL, c->lr, c->beta1, c->beta2, c->eps,
              c->weight_decay, r->s.k);
    free(g);
}
static dytcl_status call_adamw(dytcl_ctx *ctx, const op_run *r)
{
    int with = (r->c->flags & W) != 0;
    return dytcl_adamw(ctx, r->tout[0], r->tin[1], r->tout[1], r->tout[2], with ? r->tin[4] : NONE,
                       with ? r->tin[5] : NONE, &adamw_cfg, r->s.k);
}

/* ---------------------------------------------- copy, fill: [n] */

static void ref_copy(op_run *r) { memcpy(r->out[0], r->in[0], r->n[0][0] * sizeof(double)); }
static dytcl_status call_copy(dytcl_ctx *ctx, const op_run *r) { return dytcl_copy(ctx, r->tout[0], r->tin[0]); }
/* the value (BIG: times op_big) as a float, rounded once at the store */
static float fill_value(const op_run *r) { return (float)(r->c->arg * (r->c->flags & BIG ? op_big(r->dt) : 1)); }
static void ref_fill(op_run *r)
{
    for (size_t i = 0; i < r->n[1][0]; i++) r->out[0][i] = op_store(r, fill_value(r));
}
static dytcl_status call_fill(dytcl_ctx *ctx, const op_run *r) { return dytcl_fill(ctx, r->tout[0], fill_value(r)); }

/* ---------------------------------------------- inputs at a format's limits
 * (the "range" cases, f16 and bf16): past f16's top, near float's top. */

/* uniform in [-3, 3) (the residual stream) */
static void uniform3(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt;
    op_fill(v, n, OP_UNIFORM, -3, 3, rng);
}
/* uniform in [-3, 3) (x, the norms' input), the first NaN */
static void nan_first(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt;
    op_fill(v, n, OP_UNIFORM, -3, 3, rng);
    v[0] = NAN;
}
/* uniform in [-4, 4) (GELU's x), the first NaN */
static void nan_first4(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s, (void)dt;
    op_fill(v, n, OP_UNIFORM, -4, 4, rng);
    v[0] = NAN;
}
/* a weight in [0.5, 1.5) times op_big: f16 outputs past 65504 */
static void big_weight(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s;
    op_fill(v, n, OP_UNIFORM, 0.5, 1.5, rng);
    for (size_t i = 0; i < n; i++) v[i] = (float)(v[i] * op_big(dt));
}
/* uniform in [-1, 1) times op_big (GELU's dy: f16 stores it as +-inf; an embedding table) */
static void big_signed(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s;
    op_fill(v, n, OP_UNIFORM, -1, 1, rng);
    for (size_t i = 0; i < n; i++) v[i] = (float)(v[i] * op_big(dt));
}
/* uniform within 0.6 of the format's top, so that some sums pass it (f16:
 * inf; bf16: float overflow) */
static void near_top(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s;
    op_fill(v, n, OP_UNIFORM, -0.6 * overflow_at(dt), 0.6 * overflow_at(dt), rng);
}
static void near_top_nan(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    near_top(s, dt, v, n, rng);
    v[n / 2] = NAN;
}
/* SwiGLU's a and b: f16 300 * 300 past the range; bf16 1e19 * 1e19 = 1e38 */
static void swiglu_big(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s;
    double top = dt == DYTCL_F16 ? 300 : 1e19;
    op_fill(v, n, OP_UNIFORM, -top, top, rng);
}
static void swiglu_big_nan(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    swiglu_big(s, dt, v, n, rng);
    v[0] = NAN;
}
/* RoPE's x: f16 6e4 turned by 1 radian passes 65504; bf16 1e38 stays finite */
static void rope_big(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng)
{
    (void)s;
    double top = dt == DYTCL_F16 ? 6e4 : 1e38;
    op_fill(v, n, OP_UNIFORM, -top, top, rng);
    if (n > 1) v[1] = NAN;
}

/* ---------------------------------------------- the table */

/* DyT/Derf forward and backward of one variant on the given shapes, in
 * every dtype; x drawn in [-lo, lo) with zeros and a tiny value (OP_TINY);
 * alpha, shift, w, b f32. */
#define DYT_IN(lo) IN(OP_ALL, OP_TINY, -(lo), (lo)), PIN(OP_ONE, OP_UNIFORM, 0.2, 1.2), \
                   PIN(OP_ONE, OP_UNIFORM, -0.3, 0.3), PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)
#define DYT_PAIR(name, f, lo, nout, ...)                                                                       \
    {"dyt", name, 5, 1, {DYT_IN(lo)}, {OUT(OP_ALL, 1e-5)}, __VA_ARGS__, ref_dyt_fwd, call_dyt_fwd, NULL, f, 0,   \
     .dtypes = OP_EVERY},                                                                                      \
    {"dyt", name " backward", 6, nout, {DYT_IN(lo), IN(OP_ALL, OP_UNIFORM, -1, 1)},                             \
     {SCALED(OP_ALL, 1e-5), PSCALED((f) & DERF ? OP_TWO : OP_ONE, 1e-4), POUT(OP_D1, 1e-5), POUT(OP_D1, 1e-5)}, \
     __VA_ARGS__, ref_dyt_bwd, call_dyt_bwd, NULL, f, 0, .dtypes = OP_EVERY}
/* outputs: dx, (dalpha, dshift), then one each for the weight and the bias */
#define NOUT(f) (2 + !!((f) & W) + !!((f) & B))
#define DYT_ROWS {{{1, 1}}, {{3, 7}}, {{3, 17}}, {{1, 4097}}, {{37, 1000}}, {{41, 1001}}, {{5, 8}}, {{129, 17}}, {{2, 4101}}, {{512, 4096}}}
#define DYT_ALL(act, name)                                                                                    \
    DYT_PAIR(name, act, 4, NOUT(act), DYT_ROWS), DYT_PAIR(name " w", (act) | W, 4, NOUT((act) | W), DYT_ROWS), \
    DYT_PAIR(name " w b", (act) | W | B, 4, NOUT((act) | W | B), DYT_ROWS),                                   \
    /* saturation: |alpha x| far past where tanh and erf reach +-1 */                                         \
    DYT_PAIR(name " saturated", (act) | W | B, 1e4, NOUT((act) | W | B), {{{16, 33}}}),                        \
    DYT_PAIR(name " NCHW w b", (act) | W | B | NCHW, 4, NOUT((act) | W | B), {{{2, 3, 5, 7}}, {{3, 16, 9, 9}}, {{2, 3, 35, 1}}}), \
    DYT_PAIR(name " NCHW w", (act) | W | NCHW, 4, NOUT((act) | W), {{{1, 4, 1, 1}}, {{2, 5, 3, 3}}}),           \
    DYT_PAIR(name " NCHW", (act) | NCHW, 4, NOUT(act), {{{3, 16, 9, 9}}, {{1, 3, 1, 13}}}),                     \
    /* f16 and bf16 limits: w * op_big (f16: y past 65504, +-inf), x[0] NaN */                                 \
    {"dyt", name " range", 5, 1, {FILL(OP_ALL, nan_first), PIN(OP_ONE, OP_UNIFORM, 0.2, 1.2),                   \
     PIN(OP_ONE, OP_UNIFORM, -0.3, 0.3), PFILL(OP_D1, big_weight), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)},          \
     {OUT(OP_ALL, 1e-5)}, {{{3, 17}}}, ref_dyt_fwd, call_dyt_fwd, NULL, (act) | W | B, 0, .dtypes = OP_HALF},   \
    {"dyt", name " NCHW range", 5, 1, {FILL(OP_ALL, nan_first), PIN(OP_ONE, OP_UNIFORM, 0.2, 1.2),              \
     PIN(OP_ONE, OP_UNIFORM, -0.3, 0.3), PFILL(OP_D1, big_weight), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)},          \
     {OUT(OP_ALL, 1e-5)}, {{{2, 3, 5, 1}}}, ref_dyt_fwd, call_dyt_fwd, NULL, (act) | W | B | NCHW, 0,          \
     .dtypes = OP_HALF}

/* accumulate: the parameter gradients start from inputs 6.. ((dalpha, dshift), dw, db) */
#define DYT_ACC(name, f, ...)                                                                                   \
    {"dyt", name, 9, 4,                                                                                        \
     {DYT_IN(4), IN(OP_ALL, OP_UNIFORM, -1, 1), PIN((f) & DERF ? OP_TWO : OP_ONE, OP_UNIFORM, -1, 1),           \
      PIN(OP_D1, OP_UNIFORM, -1, 1), PIN(OP_D1, OP_UNIFORM, -1, 1)},                                           \
     {SCALED(OP_ALL, 1e-5), {(f) & DERF ? OP_TWO : OP_ONE, 1e-4, 1, 7, 1}, PFROM(OP_D1, 1e-5, 7), PFROM(OP_D1, 1e-5, 8)}, \
     __VA_ARGS__, ref_dyt_bwd, call_dyt_bwd, NULL, (f) | ACC, 0, .dtypes = OP_EVERY}
#define DYT_ACC_ROWS {{{1, 1}}, {{3, 7}}, {{1, 4097}}, {{37, 1000}}, {{5, 8}}, {{129, 17}}}

#define RES_ROWS {{{1, 1}}, {{3, 7}}, {{3, 17}}, {{17, 768}}, {{64, 4095}}}
/* residual + DyT, with a bias (B) or not: r, h, alpha, w (, b) */
#define RES_DYT_IN(f, gen) FILL(OP_ALL, gen), FILL(OP_ALL, gen), PIN(OP_ONE, OP_CONST, 0.5, 0),                    \
                           PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)
#define RES_DYT(name, f, ...)                                                                                   \
    {"dyt", name, 4 + !!((f) & B), 2, {RES_DYT_IN(f, uniform3)}, {OUT(OP_ALL, 0), OUT(OP_ALL, 1e-5)},          \
     __VA_ARGS__, ref_residual_dyt_fwd, call_residual_dyt_fwd, NULL, f, .dtypes = OP_EVERY},                   \
    /* in place: r_out over r */                                                                              \
    {"dyt", name " in place", 4 + !!((f) & B), 2, {RES_DYT_IN(f, uniform3)}, {FROM(OP_ALL, 0, 0), OUT(OP_ALL, 1e-5)}, \
     __VA_ARGS__, ref_residual_dyt_fwd, call_residual_dyt_fwd, NULL, (f) | ALIAS, .dtypes = OP_EVERY},         \
    {"dyt", name " backward", 5 + !!((f) & B), 3 + !!((f) & B),                                                \
     {IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -6, 6),              \
      PIN(OP_ONE, OP_CONST, 0.5, 0), PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)},      \
     {OUT(OP_ALL, 1e-5), POUT(OP_ONE, 1e-4), POUT(OP_D1, 1e-5), POUT(OP_D1, 1e-5)}, __VA_ARGS__,               \
     ref_residual_dyt_bwd, call_residual_dyt_bwd, NULL, f, .dtypes = OP_EVERY},                                \
    /* d written over dr_out: the documented aliasing */                                                      \
    {"dyt", name " backward in place", 5 + !!((f) & B), 3 + !!((f) & B),                                       \
     {IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -6, 6),              \
      PIN(OP_ONE, OP_CONST, 0.5, 0), PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)},      \
     {FROM(OP_ALL, 1e-5, 1), POUT(OP_ONE, 1e-4), POUT(OP_D1, 1e-5), POUT(OP_D1, 1e-5)}, __VA_ARGS__,           \
     ref_residual_dyt_bwd, call_residual_dyt_bwd, NULL, (f) | ALIAS, .dtypes = OP_EVERY}

#define NORM_ROWS {{{1, 1}}, {{3, 7}}, {{1, 4097}}, {{37, 1000}}, {{41, 1001}}, {{5, 8}}, {{129, 17}}, {{2, 4101}}, {{64, 768}}, {{512, 4096}}}
#define NORM_ACC_ROWS {{{1, 1}}, {{3, 7}}, {{1, 4097}}, {{37, 1000}}, {{5, 8}}, {{129, 17}}, {{64, 768}}}
/* RMSNorm/LayerNorm forward and backward: x in [0, 2 range) (an offset
 * LayerNorm must remove), eps 1e-5; w, b f32 */
#define NORM_IN(range) IN(OP_ALL, OP_UNIFORM, 0, 2 * (range)), PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), \
                       PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)
/* backward: x, w, dy, then rstd and mean (derived from x by prep_norm_bwd) */
#define NORM_BWD_IN(range) IN(OP_ALL, OP_UNIFORM, 0, 2 * (range)), PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), \
                           IN(OP_ALL, OP_UNIFORM, -1, 1), PIN(OP_D0, OP_CONST, 0, 0), PIN(OP_D0, OP_CONST, 0, 0)
#define NORM_PAIR(name, f, range, ...)                                                                         \
    {"norm", name, 3, (f) & LN ? 3 : 2, {NORM_IN(range)}, {OUT(OP_ALL, 1e-5), POUT(OP_D0, 1e-5), POUT(OP_D0, 1e-5)}, \
     __VA_ARGS__, ref_norm_fwd, call_norm_fwd, NULL, f, 1e-5, .dtypes = OP_EVERY},                             \
    {"norm", name " backward", (f) & LN ? 5 : 4, (f) & LN ? 3 : 2, {NORM_BWD_IN(range)},                       \
     {SCALED(OP_ALL, 1e-5), POUT(OP_D1, 1e-5), POUT(OP_D1, 1e-5)}, __VA_ARGS__, ref_norm_bwd, call_norm_bwd,    \
     prep_norm_bwd, f, 1e-5, .dtypes = OP_EVERY}
/* f16 and bf16 limits: w * op_big, x[0] NaN (row 0 all NaN), forward */
#define NORM_RANGE(name, f)                                                                                    \
    {"norm", name, 3, (f) & LN ? 3 : 2,                                                                        \
     {FILL(OP_ALL, nan_first), PFILL(OP_D1, big_weight), PIN(OP_D1, OP_UNIFORM, -0.5, 0.5)},                   \
     {OUT(OP_ALL, 1e-5), POUT(OP_D0, 1e-5), POUT(OP_D0, 1e-5)}, {{{3, 17}}}, ref_norm_fwd, call_norm_fwd, NULL, f, \
     1e-5, .dtypes = OP_HALF}

/* Cross-entropy and its mean of one targets generator (f32 only: the logits
 * are refused in half precision, op_refusals.c). */
#define CE_SHAPES {{{1, 3}}, {{3, 1}}, {{17, 257}}, {{5, 33}}, {{3, 50257}}, {{1, 50257}}}

/* Embeddings, with or without positions: out in the case's dtype from the
 * f32 tables; the backward from dout in that dtype into f32 gradients. */
#define EMBED_IN(wte) IDS(OP_D0 | OP_D1, embed_tokens), wte, PIN(OP_D1 | OP_D3, OP_UNIFORM, -1, 1)
#define EMBED(name, f, ...)                                                                                     \
    {"ops", name, (f) & POS ? 3 : 2, 1, {EMBED_IN(PIN(OP_D2 | OP_D3, OP_UNIFORM, -1, 1))},                      \
     {OUT(OP_D0 | OP_D1 | OP_D3, 0)}, __VA_ARGS__, ref_embed_fwd, call_embed_fwd, NULL, f, 0,                  \
     .dtypes = OP_EVERY, .one_shape = 1},                                                                      \
    {"ops", name " backward", 2, (f) & POS ? 2 : 1,                                                            \
     {IDS(OP_D0 | OP_D1, embed_tokens), IN(OP_D0 | OP_D1 | OP_D3, OP_UNIFORM, -1, 1)},                         \
     {POUT(OP_D2 | OP_D3, 1e-6), POUT(OP_D1 | OP_D3, 1e-6)}, __VA_ARGS__, ref_embed_bwd, call_embed_bwd, NULL, f, \
     0, .dtypes = OP_EVERY, .one_shape = 1},                                                                   \
    {"ops", name " backward accumulate", 4, (f) & POS ? 2 : 1,                                                 \
     {IDS(OP_D0 | OP_D1, embed_tokens), IN(OP_D0 | OP_D1 | OP_D3, OP_UNIFORM, -1, 1),                          \
      PIN(OP_D2 | OP_D3, OP_UNIFORM, -1, 1), PIN(OP_D1 | OP_D3, OP_UNIFORM, -1, 1)},                           \
     {PFROM(OP_D2 | OP_D3, 1e-6, 2), PFROM(OP_D1 | OP_D3, 1e-6, 3)}, __VA_ARGS__, ref_embed_bwd, call_embed_bwd, \
     NULL, (f) | ACC, 0, .dtypes = OP_EVERY, .one_shape = 1}

#define ROPE_SMALL {{{1, 1, 1, 2}}, {{2, 7, 3, 16}}, {{1, 5, 4, 128}, 3}, {{3, 3, 2, 96}, 17}, {{2, 3, 1, 6}, 5}, {{2, 5, 3, 18}, 1}}
/* Far positions: a table from 0 (pow2 sizes up to 16 MiB), then one of the
 * call's own positions only (300000 x 64: 77 MB from 0), then from 0 again
 * (f32: the table does not depend on the storage). */
#define ROPE_FAR {{{1, 9, 2, 64}, 1000}, {{2, 5, 3, 10}, 700}, {{1, 2, 3, 64}, 300000}, {{1, 3, 2, 8}, 100000}}
#define ROPE(name, theta, tol, dts, ...)                                                                         \
    {"ops", name, 1, 1, {IN(OP_ALL, OP_UNIFORM, -1, 1)}, {OUT(OP_ALL, tol)}, __VA_ARGS__, ref_rope_fwd,          \
     call_rope_fwd, NULL, 0, theta, .dtypes = dts, .one_shape = 1},                                             \
    {"ops", name " backward", 1, 1, {IN(OP_ALL, OP_UNIFORM, -1, 1)}, {OUT(OP_ALL, tol)}, __VA_ARGS__,            \
     ref_rope_bwd, call_rope_bwd, NULL, 0, theta, .dtypes = dts, .one_shape = 1},                               \
    {"ops", name " backward in place", 1, 1, {IN(OP_ALL, OP_UNIFORM, -1, 1)}, {FROM(OP_ALL, tol, 0)}, __VA_ARGS__, \
     ref_rope_bwd, call_rope_bwd, NULL, ALIAS, theta, .dtypes = dts, .one_shape = 1}

#define ADAMW_IN                                                                                               \
    IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -2, 2), IN(OP_ALL, OP_UNIFORM, -0.1, 0.1),            \
        IN(OP_ALL, OP_UNIFORM, 0, 0.01), FILL(OP_ALL, adamw_mask), IN(OP_ONE, OP_UNIFORM, 0.2, 1)
#define ADAMW_STEPS {{{1}, 1}, {{3}, 2}, {{255}, 3}, {{256}, 1}, {{257}, 4}, {{4097}, 2}, {{100003}, 3}, {{8192 * 3 + 5}, 7}}

/* Elementwise ops in every dtype; their "range" twins in f16 and bf16. */
#define HALF_SIZES {{{1}}, {{3}}, {{17}}, {{4101}}}
#define ANY .dtypes = OP_EVERY, .one_shape = 1
#define RANGE .dtypes = OP_HALF, .one_shape = 1

const op_case op_cases[] = {
    /* For x << 0, GELU is a difference of nearly equal terms (1 + tanh), in
     * float32 as in any float32 implementation: it is measured against |x|,
     * and its gradient against dy (scaled). */
    {"ops", "gelu", 1, 1, {IN(OP_ALL, OP_EDGES, -6, 6)}, {SCALED(OP_ALL, 1e-5)}, SIZES, ref_gelu_fwd, call_gelu_fwd,
     ANY},
    {"ops", "gelu backward", 2, 1, {IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_EDGES, -6, 6)},
     {SCALED(OP_ALL, 1e-5)}, SIZES, ref_gelu_bwd, call_gelu_bwd, ANY},
    /* x[0] NaN; dy * op_big (f16: dy itself +-inf, and dx with it) */
    {"ops", "gelu range", 1, 1, {FILL(OP_ALL, nan_first4)}, {SCALED(OP_ALL, 1e-5)}, {{{101}}}, ref_gelu_fwd,
     call_gelu_fwd, RANGE},
    {"ops", "gelu backward range", 2, 1, {FILL(OP_ALL, big_signed), FILL(OP_ALL, nan_first4)},
     {SCALED(OP_ALL, 1e-5)}, {{{101}}}, ref_gelu_bwd, call_gelu_bwd, RANGE},
    {"ops", "swiglu", 2, 1, {IN(OP_ALL, OP_EDGES, -6, 6), IN(OP_ALL, OP_UNIFORM, -2, 2)}, {OUT(OP_ALL, 1e-5)}, SIZES,
     ref_swiglu_fwd, call_swiglu_fwd, ANY},
    {"ops", "swiglu backward", 3, 2,
     {IN(OP_ALL, OP_EDGES, -6, 6), IN(OP_ALL, OP_UNIFORM, -2, 2), IN(OP_ALL, OP_UNIFORM, -1, 1)},
     {OUT(OP_ALL, 1e-5), OUT(OP_ALL, 1e-5)}, SIZES, ref_swiglu_bwd, call_swiglu_bwd, ANY},
    {"ops", "swiglu range", 2, 1, {FILL(OP_ALL, swiglu_big_nan), FILL(OP_ALL, swiglu_big)}, {OUT(OP_ALL, 1e-5)},
     {{{51}}}, ref_swiglu_fwd, call_swiglu_fwd, RANGE},
    /* SwiGLU packed: ab [rows, 2, H] */
    {"ops", "swiglu packed", 1, 1, {IN(OP_ALL, OP_UNIFORM, -6, 6)}, {OUT(OP_D0 | OP_D2, 1e-5)},
     {{{1, 2, 1}}, {{3, 2, 5}}, {{3, 2, 17}}, {{17, 2, 257}}, {{2, 2, 1029}}}, ref_swiglu_packed_fwd,
     call_swiglu_packed_fwd, ANY},
    {"ops", "swiglu packed backward", 2, 1, {IN(OP_ALL, OP_UNIFORM, -6, 6), IN(OP_D0 | OP_D2, OP_UNIFORM, -1, 1)},
     {OUT(OP_ALL, 1e-5)}, {{{1, 2, 1}}, {{3, 2, 5}}, {{3, 2, 17}}, {{17, 2, 257}}, {{2, 2, 1029}}},
     ref_swiglu_packed_bwd, call_swiglu_packed_bwd, ANY},
    {"ops", "swiglu packed backward in place", 2, 1,
     {IN(OP_ALL, OP_UNIFORM, -6, 6), IN(OP_D0 | OP_D2, OP_UNIFORM, -1, 1)}, {FROM(OP_ALL, 1e-5, 0)},
     {{{1, 2, 1}}, {{3, 2, 5}}, {{17, 2, 257}}}, ref_swiglu_packed_bwd, call_swiglu_packed_bwd, NULL, ALIAS, ANY},
    {"ops", "swiglu packed range", 1, 1, {FILL(OP_ALL, swiglu_big_nan)}, {OUT(OP_D0 | OP_D2, 1e-5)},
     {{{3, 2, 17}}}, ref_swiglu_packed_fwd, call_swiglu_packed_fwd, RANGE},
    {"ops", "scale", 2, 1, {IN(OP_ALL, OP_UNIFORM, -3, 3), IN(OP_ONE, OP_CONST, 1.7, 0)}, {OUT(OP_ALL, 1e-7)}, SIZES,
     ref_scale_fwd, call_scale_fwd, .one_shape = 1},
    {"ops", "scale backward", 3, 2,
     {IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -3, 3), IN(OP_ONE, OP_CONST, 1.7, 0)},
     {OUT(OP_ALL, 1e-7), OUT(OP_ONE, 1e-5)}, SIZES, ref_scale_bwd, call_scale_bwd, .one_shape = 1},
    /* a factor per row: x [d0, d1] in place and not, rows of every length mod 4 */
    {"ops", "scale rows", 2, 1, {IN(OP_ALL, OP_UNIFORM, -3, 3), FILL(OP_D0, rows_mask)}, {OUT(OP_ALL, 1e-7)}, ROW_SIZES,
     ref_scale_rows, call_scale_rows, .one_shape = 1},
    {"ops", "scale rows in place", 2, 1, {IN(OP_ALL, OP_UNIFORM, -3, 3), FILL(OP_D0, rows_mask)},
     {FROM(OP_ALL, 1e-7, 0)}, ROW_SIZES, ref_scale_rows, call_scale_rows, NULL, ALIAS, .one_shape = 1},
    /* a reduction in both shapes: blocks of 8192 and a tail */
    {"ops", "grad norm", 1, 2, {IN(OP_ALL, OP_UNIFORM, -2, 2)}, {OUT(OP_ONE, 1e-5), OUT(OP_ONE, 1e-5)},
     {{{1}}, {{3}}, {{255}}, {{256}}, {{257}}, {{4097}}, {{100003}}, {{8192 * 3 + 5}}}, ref_grad_norm, call_grad_norm},
    {"ops", "adamw", 6, 3, {ADAMW_IN}, {FROM(OP_ALL, 1e-5, 0), FROM(OP_ALL, 1e-5, 2), FROM(OP_ALL, 1e-5, 3)},
     ADAMW_STEPS, ref_adamw_step, call_adamw, NULL, W, .one_shape = 1},
    {"ops", "adamw without mask and scale", 4, 3, {ADAMW_IN},
     {FROM(OP_ALL, 1e-5, 0), FROM(OP_ALL, 1e-5, 2), FROM(OP_ALL, 1e-5, 3)}, ADAMW_STEPS, ref_adamw_step, call_adamw,
     .one_shape = 1},

    ROPE("rope", 10000, 1e-5, OP_EVERY, ROPE_SMALL),
    ROPE("rope far", 10000, 1e-5, OP_F32, ROPE_FAR),
    /* another theta (LLaMA 3 uses 500000) */
    ROPE("rope theta 5e5", 500000, 1e-5, OP_EVERY, ROPE_SMALL),
    ROPE("rope far theta 5e5", 500000, 1e-5, OP_F32, ROPE_FAR),
    /* x near the format's top (f16: results past it), x[1] NaN */
    {"ops", "rope range", 1, 1, {FILL(OP_ALL, rope_big)}, {OUT(OP_ALL, 1e-5)}, {{{1, 3, 2, 64}, 1}}, ref_rope_fwd,
     call_rope_fwd, NULL, 0, 10000, RANGE},
    {"ops", "rope backward range", 1, 1, {FILL(OP_ALL, rope_big)}, {OUT(OP_ALL, 1e-5)}, {{{1, 3, 2, 64}, 1}},
     ref_rope_bwd, call_rope_bwd, NULL, 0, 10000, RANGE},

    {"ops", "cross-entropy", 2, 2, {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_targets)},
     {OUT(OP_D0, 1e-5), OUT(OP_ALL, 1e-5)}, CE_SHAPES, ref_ce_fwd, call_ce_fwd},
    {"ops", "cross-entropy in place", 2, 2, {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_targets)},
     {OUT(OP_D0, 1e-5), FROM(OP_ALL, 1e-5, 0)}, {{{3, 1}}, {{17, 257}}, {{5, 33}}}, ref_ce_fwd, call_ce_fwd, NULL,
     ALIAS},
    /* every row ignored: losses and gradients 0 */
    /* label smoothing (arg): targets (1 - e) onehot + e / V */
    {"ops", "cross-entropy smoothed 0.1", 2, 2, {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_targets)},
     {OUT(OP_D0, 1e-5), OUT(OP_ALL, 1e-5)}, CE_SHAPES, ref_ce_fwd, call_ce_fwd, NULL, 0, 0.1},
    {"ops", "cross-entropy smoothed 1 in place", 2, 2, {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_targets)},
     {OUT(OP_D0, 1e-5), FROM(OP_ALL, 1e-5, 0)}, {{{3, 1}}, {{17, 257}}, {{5, 33}}, {{2, 50257}}}, ref_ce_fwd,
     call_ce_fwd, NULL, ALIAS, 1.0},
    {"ops", "cross-entropy smoothed 0.3 target out of range", 2, 1,
     {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_out_of_range)}, {OUT(OP_D0, 1e-5)}, {{{1, 3}}, {{17, 257}}}, ref_ce_fwd,
     call_ce_fwd, NULL, BARE, 0.3},
    {"ops", "cross-entropy all ignored", 2, 2, {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_ignored)},
     {OUT(OP_D0, 0), OUT(OP_ALL, 0)}, {{{1, 3}}, {{17, 257}}}, ref_ce_fwd, call_ce_fwd},
    /* a bad target: a NaN loss for its row, no crash */
    {"ops", "cross-entropy target out of range", 2, 1, {FILL(OP_ALL, ce_logits), IDS(OP_D0, ce_out_of_range)},
     {OUT(OP_D0, 1e-5)}, {{{1, 3}}, {{17, 257}}, {{5, 33}}}, ref_ce_fwd, call_ce_fwd, NULL, BARE},
    {"ops", "cross-entropy mean", 2, 1, {IN(OP_D0, OP_UNIFORM, 0, 5), IDS(OP_D0, ce_targets)}, {OUT(OP_ONE, 1e-5)},
     {{{1, 3}}, {{3, 1}}, {{17, 257}}, {{5, 33}}, {{1000, 7}}, {{100003, 2}}}, ref_ce_mean, call_ce_mean},
    {"ops", "cross-entropy mean all ignored", 2, 1, {IN(OP_D0, OP_UNIFORM, 0, 5), IDS(OP_D0, ce_ignored)},
     {OUT(OP_ONE, 0)}, {{{1, 3}}, {{17, 257}}}, ref_ce_mean, call_ce_mean},
    /* the NaN loss of a bad target: a NaN mean */
    {"ops", "cross-entropy mean of a NaN loss", 2, 1, {FILL(OP_D0, ce_nan_loss), IDS(OP_D0, ce_targets)},
     {OUT(OP_ONE, 1e-5)}, {{{1, 3}}, {{17, 257}}}, ref_ce_mean, call_ce_mean},

    EMBED("embedding", POS, {{{1, 1, 3, 1}}, {{2, 7, 11, 33}}, {{2, 7, 11, 17}}, {{3, 17, 257, 257}}, {{1, 5, 50257, 16}}}),
    EMBED("embedding without positions", 0, {{{1, 3, 3, 5}}, {{4, 64, 256, 48}}}),
    /* the table * op_big: f16 rows past 65504 */
    {"ops", "embedding range", 3, 1, {EMBED_IN(PFILL(OP_D2 | OP_D3, big_signed))}, {OUT(OP_D0 | OP_D1 | OP_D3, 0)},
     {{{2, 3, 5, 9}}}, ref_embed_fwd, call_embed_fwd, NULL, POS, 0, RANGE},

    DYT_ALL(0, "dyt"),
    DYT_ALL(DERF, "derf"),
    DYT_ACC("dyt backward accumulate", W | B, DYT_ACC_ROWS),
    DYT_ACC("dyt NCHW backward accumulate", W | B | NCHW, {{{2, 3, 5, 7}}, {{1, 4, 1, 1}}}),
    DYT_ACC("derf backward accumulate", DERF | W | B, DYT_ACC_ROWS),
    DYT_ACC("derf NCHW backward accumulate", DERF | W | B | NCHW, {{{2, 3, 5, 7}}, {{1, 4, 1, 1}}}),
    {"dyt", "add", 2, 1, {IN(OP_ALL, OP_UNIFORM, -3, 3), IN(OP_ALL, OP_UNIFORM, -3, 3)}, {OUT(OP_ALL, 0)}, RES_ROWS,
     ref_add, call_add, ANY},
    /* some sums past the format's top (f16: inf; bf16 sums near 2e38 finite), one NaN */
    {"dyt", "add range", 2, 1, {FILL(OP_ALL, near_top_nan), FILL(OP_ALL, near_top)}, {OUT(OP_ALL, 0)}, {{{1, 101}}},
     ref_add, call_add, RANGE},
    /* copy in one dtype moves the bits; fill rounds the value once */
    {"dyt", "copy", 1, 1, {IN(OP_ALL, OP_UNIFORM, -2, 2)}, {OUT(OP_ALL, 0)}, HALF_SIZES, ref_copy, call_copy, ANY},
    {"dyt", "copy range", 1, 1, {FILL(OP_ALL, near_top_nan)}, {OUT(OP_ALL, 0)}, {{{101}}}, ref_copy, call_copy, RANGE},
    {"dyt", "fill", 0, 1, {{0}}, {OUT(OP_ALL, 0)}, HALF_SIZES, ref_fill, call_fill, NULL, 0, 1.2345678, ANY},
    {"dyt", "fill range", 0, 1, {{0}}, {OUT(OP_ALL, 0)}, {{{101}}}, ref_fill, call_fill, NULL, BIG, 0.9, RANGE},
    RES_DYT("residual dyt", 0, RES_ROWS),
    RES_DYT("residual dyt w b", B, RES_ROWS),
    /* r, h within 0.6 of the format's top: some r_out past it (f16: inf;
     * bf16: float overflow) while y, a tanh of it, stays finite */
    {"dyt", "residual dyt range", 5, 2, {RES_DYT_IN(B, near_top)}, {OUT(OP_ALL, 0), OUT(OP_ALL, 1e-5)}, {{{3, 17}}},
     ref_residual_dyt_fwd, call_residual_dyt_fwd, NULL, B, .dtypes = OP_HALF},

    NORM_PAIR("rmsnorm", 0, 3, NORM_ROWS),
    NORM_PAIR("rmsnorm w", W, 3, NORM_ROWS),
    NORM_PAIR("layernorm", LN, 3, NORM_ROWS),
    NORM_PAIR("layernorm w b", LN | W, 3, NORM_ROWS),
    NORM_PAIR("layernorm large", LN | W, 1e3, {{{16, 300}}}), /* large values with a large offset */
    NORM_PAIR("rmsnorm small", W, 1e-3, {{{16, 300}}}),       /* small values: eps matters */
    NORM_RANGE("rmsnorm range", W),
    NORM_RANGE("layernorm range", LN | W),
    /* accumulate: dw (and db) start from inputs 5.. (after x, w, dy, rstd, mean) */
    {"norm", "rmsnorm backward accumulate", 6, 2,
     {NORM_BWD_IN(3), PIN(OP_D1, OP_UNIFORM, -1, 1)},
     {SCALED(OP_ALL, 1e-5), PFROM(OP_D1, 1e-5, 5)}, NORM_ACC_ROWS, ref_norm_bwd, call_norm_bwd,
     prep_norm_bwd, W | ACC, 1e-5, .dtypes = OP_EVERY},
    {"norm", "layernorm backward accumulate", 7, 3,
     {NORM_BWD_IN(3), PIN(OP_D1, OP_UNIFORM, -1, 1), PIN(OP_D1, OP_UNIFORM, -1, 1)},
     {SCALED(OP_ALL, 1e-5), PFROM(OP_D1, 1e-5, 5), PFROM(OP_D1, 1e-5, 6)}, NORM_ACC_ROWS,
     ref_norm_bwd, call_norm_bwd, prep_norm_bwd, LN | W | ACC, 1e-5, .dtypes = OP_EVERY},
    {"norm", "residual rmsnorm", 3, 3,
     {IN(OP_ALL, OP_UNIFORM, -2, 2), IN(OP_ALL, OP_UNIFORM, -2, 2), PIN(OP_D1, OP_UNIFORM, 0.5, 1.5)},
     {OUT(OP_ALL, 0), OUT(OP_ALL, 1e-5), POUT(OP_D0, 1e-5)}, {{{1, 13}}, {{3, 7}}, {{3, 17}}, {{33, 1000}}, {{2, 4101}}},
     ref_residual_rms_fwd, call_residual_rms_fwd, NULL, 0, 1e-6, .dtypes = OP_EVERY},
    /* d written over dr_out: the documented aliasing */
    {"norm", "residual rmsnorm backward", 5, 2,
     {IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -1, 1), IN(OP_ALL, OP_UNIFORM, -4, 4),
      PIN(OP_D1, OP_UNIFORM, 0.5, 1.5), PIN(OP_D0, OP_CONST, 0, 0)},
     {FROM(OP_ALL, 1e-5, 1), POUT(OP_D1, 1e-5)}, {{{1, 13}}, {{3, 7}}, {{3, 17}}, {{33, 1000}}, {{2, 4101}}},
     ref_residual_rms_bwd, call_residual_rms_bwd, prep_residual_rms_bwd, 0, 1e-6, .dtypes = OP_EVERY},
};
const int op_n_cases = (int)(sizeof op_cases / sizeof op_cases[0]);
