/* test_ops_half.c -- the ops in half-width storage (f16, bf16) against the
 * float64 references (tests/ref_*.c) computed on the half-rounded inputs.
 *
 * Tolerances. The device reads exact half values, computes in float32 and
 * rounds once at the store. So an output element differs from the float64
 * value w on the same inputs by at most
 *     u |w|         the rounding at the store (u: 2^-11 f16, 2^-8 bf16),
 *   + e32           float32 math, bounded as the f32 tests bound it: 1e-5
 *                   of the output's RMS (elementwise ops: 1e-6, one add),
 *   + 2^-25         f16 only: its subnormal step, an absolute error.
 * That bound is checked per element (check_out). Outputs that stay f32
 * (parameter gradients, mean, rstd) are sums of exact inputs and get the
 * f32 tests' tolerances. Past the format's range the result must be +-inf
 * (f16: 65520 and up, where round-to-nearest leaves 65504); bf16 keeps
 * float32's range, so 1e38 stays finite; NaN stays NaN. Every op runs on
 * odd shapes, outputs poisoned with NaN, views at odd offsets, in both
 * kernel shapes (a row per work-item, per work-group). */
#include <string.h>

#include "half_util.h"
#include "ref_norms.h"
#include "ref_ops.h"

static unsigned long long rng = 1414;

/* ------------------------------------------------------------- checking */

/* got against w per element, with the bound above; e32 = tol32 * S, S the
 * RMS of the finite want (or 0.1 the RMS of `scale`, when larger: the
 * gradient before an attenuation, as CHECK_CLOSE_SCALED). */
static void check_out(dytcl_ctx *ctx, const htensor *h, const double *want, const double *scale, double tol32,
                      const char *what)
{
    const dytcl_dtype dt = h->t.dtype;
    const double u = unit_roundoff(dt), big = overflow_at(dt), sub = dt == DYTCL_F16 ? 0x1p-25 : 0;
    double *got = malloc(h->n * sizeof *got), ss = 0, sc = 0;
    size_t nf = 0;
    hread(ctx, h, got);
    for (size_t i = 0; i < h->n; i++)
        if (isfinite(want[i]) && fabs(want[i]) < big) ss += want[i] * want[i], nf++;
    if (scale)
        for (size_t i = 0; i < h->n; i++) sc += scale[i] * scale[i];
    const double S = fmax(nf ? sqrt(ss / nf) : 0, scale ? 0.1 * sqrt(sc / h->n) : 0), e32 = tol32 * S;
    int bad = 0;
    for (size_t i = 0; i < h->n && bad < 3; i++) {
        const double w = want[i], g = got[i], bound = u * fabs(w) + e32 + sub;
        int ok;
        if (isnan(w)) ok = isnan(g);
        else if (fabs(w) >= big * (1 + u)) ok = g == copysign(INFINITY, w); /* past the range, for sure */
        else if (fabs(w) >= big * (1 - 2 * u)) ok = g == copysign(INFINITY, w) || fabs(g - w) <= bound;
        else ok = fabs(g - w) <= bound;
        if (!ok) {
            bad++;
            CHECK(ok, "%s (%s): element %zu is %.9g, want %.9g (bound %.3g)", what, dytcl_dtype_name(dt), i, g, w,
                  bound);
        }
    }
    free(got);
}

/* An f32 device vector against w, relative L2 error (the f32 tests' check). */
static void check_f32(dytcl_ctx *ctx, dytcl_buf *b, const double *w, size_t n, double tol, const char *what)
{
    double *got = malloc(n * sizeof *got);
    dev_to(ctx, b, got, n);
    double e = rel_err(got, w, n);
    CHECK(e <= tol, "%s: relative error %.3g > %.1g", what, e, tol);
    free(got);
}

/* Values past f16's range (which f32 math still holds), and values near
 * float's top that bf16 must keep: the "big" scale of the range cases. */
static double big_scale(dytcl_dtype dt)
{
    return dt == DYTCL_F16 ? 1e5 : 1e37;
}

static double *dalloc(size_t n)
{
    return calloc(n ? n : 1, sizeof(double));
}

#define T1(buf, k) dytcl_tensor_1d(buf, 0, k)
#define NONE ((dytcl_tensor){0})

/* --------------------------------------------------------- DyT and Derf */

/* x [rows, C] (channels last) or [N, C, HW] (rows = N, channels first).
 * range: weight scaled by big_scale (f16: y past 65504) and x[0] = NaN,
 * forward only. */
static void run_dyt(dytcl_ctx *ctx, dytcl_dtype dt, int derf, int cf, int rows, int C, int HW, int range)
{
    const size_t n = (size_t)rows * C * (cf ? HW : 1);
    char what[128];
    snprintf(what, sizeof what, "%s %s %dx%dx%d%s", derf ? "derf" : "dyt", cf ? "nchw" : "nlc", rows, C,
             cf ? HW : 1, range ? " range" : "");
    double *x = dalloc(n), *dy = dalloc(n), *y = dalloc(n), *dx = dalloc(n), *sc = dalloc(n);
    double *w = dalloc(C), *b = dalloc(C), *dw = dalloc(C), *db = dalloc(C), ds[2], params[2] = {0.8, 0.2};
    rand_fill(x, n, &rng, -3, 3), rand_fill(dy, n, &rng, -1, 1);
    rand_fill(w, C, &rng, 0.5, 1.5), rand_fill(b, C, &rng, -0.5, 0.5);
    if (range) {
        for (int c = 0; c < C; c++) w[c] *= big_scale(dt);
        x[0] = NAN;
    }
    round_dt(x, n, dt), round_dt(dy, n, dt), round_float(w, C), round_float(b, C);
    ref_shape s = {n, C, cf ? HW : C, cf};
    ref_act act = derf ? REF_DERF : REF_DYT;
    const double shift = derf ? params[1] : 0;
    ref_dyt_forward(act, s, x, params[0], shift, w, b, y);
    htensor hx = hdev(ctx, dt, x, (int64_t)(n / C), C), hy = hdev(ctx, dt, NULL, (int64_t)(n / C), C);
    if (cf) {
        dytcl_tensor *ts[2] = {&hx.t, &hy.t};
        for (int i = 0; i < 2; i++) ts[i]->ndim = 3, ts[i]->shape[0] = rows, ts[i]->shape[1] = C, ts[i]->shape[2] = HW;
    }
    dytcl_buf *bp = dev_from(ctx, params, 2), *bw = dev_from(ctx, w, C), *bb = dev_from(ctx, b, C);
    dytcl_dyt_params p = {dytcl_tensor_1d(bp, 0, 1), derf ? dytcl_tensor_1d(bp, 1, 1) : NONE, T1(bw, C), T1(bb, C),
                          cf ? DYTCL_CHANNELS_FIRST : DYTCL_CHANNELS_LAST};
    CHECK_OK(ctx, (derf ? dytcl_derf_forward : dytcl_dyt_forward)(ctx, hy.t, hx.t, &p));
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    if (!range) {
        ref_dyt_backward(act, s, x, dy, params[0], shift, w, dx, &ds[0], &ds[1], dw, db);
        for (size_t e = 0; e < n; e++) {
            const int c = cf ? (int)((e / (size_t)HW) % (size_t)C) : (int)(e % (size_t)C);
            sc[e] = dy[e] * w[c] * params[0];
        }
        htensor hdy = hdev(ctx, dt, dy, (int64_t)(n / C), C), hdx = hdev(ctx, dt, NULL, (int64_t)(n / C), C);
        hdy.t = hx.t.ndim == 3 ? (dytcl_tensor){hdy.buf, HALF_OFF, 3, {rows, C, HW}, dt} : hdy.t;
        hdx.t = hx.t.ndim == 3 ? (dytcl_tensor){hdx.buf, HALF_OFF, 3, {rows, C, HW}, dt} : hdx.t;
        dytcl_buf *bg = dev_from(ctx, NULL, 2 + 2 * (size_t)C);
        dytcl_dyt_grads g = {dytcl_tensor_1d(bg, 0, 1), derf ? dytcl_tensor_1d(bg, 1, 1) : NONE,
                             dytcl_tensor_1d(bg, 2, C), dytcl_tensor_1d(bg, 2 + (size_t)C, C), 0};
        CHECK_OK(ctx, (derf ? dytcl_derf_backward : dytcl_dyt_backward)(ctx, hdx.t, &g, hdy.t, hx.t, &p));
        check_out(ctx, &hdx, dx, sc, 1e-5, what);
        double *gw = dalloc(2 + 2 * (size_t)C);
        dev_to(ctx, bg, gw, 2 + 2 * (size_t)C);
        CHECK(fabs(gw[0] - ds[0]) <= 1e-4 * fmax(1, fabs(ds[0])), "%s dalpha %.9g want %.9g", what, gw[0], ds[0]);
        if (derf) CHECK(fabs(gw[1] - ds[1]) <= 1e-4 * fmax(1, fabs(ds[1])), "%s dshift %.9g want %.9g", what, gw[1], ds[1]);
        CHECK(rel_err(gw + 2, dw, C) <= 1e-5, "%s dweight: %.3g", what, rel_err(gw + 2, dw, C));
        CHECK(rel_err(gw + 2 + C, db, C) <= 1e-5, "%s dbias: %.3g", what, rel_err(gw + 2 + C, db, C));
        free(gw);
        hfree(&hdy), hfree(&hdx);
        dytcl_buf_free(bg);
    }
    hfree(&hx), hfree(&hy);
    dytcl_buf_free(bp), dytcl_buf_free(bw), dytcl_buf_free(bb);
    free(x), free(dy), free(y), free(dx), free(sc), free(w), free(b), free(dw), free(db);
}

/* r_out = r + h (rounded once), y = DyT(r_out); backward on the r_out the
 * device stored: dres = dr_out + DyT'(dy). range: r, h up to 0.6 of the
 * format's top, so some r_out pass it (inf; bf16: float overflow) while y,
 * a tanh of it, stays finite. */
static void run_residual_dyt(dytcl_ctx *ctx, dytcl_dtype dt, int rows, int C, int range)
{
    const size_t n = (size_t)rows * C;
    char what[96];
    snprintf(what, sizeof what, "residual dyt %dx%d%s", rows, C, range ? " range" : "");
    double *r = dalloc(n), *h = dalloc(n), *ro = dalloc(n), *rod = dalloc(n), *y = dalloc(n), *dy = dalloc(n);
    double *dro = dalloc(n), *d = dalloc(n), *w = dalloc(C), *b = dalloc(C), *dw = dalloc(C), *db = dalloc(C);
    double alpha = 0.6, da, dsh;
    const double top = range ? 0.6 * overflow_at(dt) : 2; /* range: finite inputs, some sums past the top */
    rand_fill(r, n, &rng, -top, top), rand_fill(h, n, &rng, -top, top), rand_fill(dy, n, &rng, -1, 1);
    rand_fill(dro, n, &rng, -1, 1), rand_fill(w, C, &rng, 0.5, 1.5), rand_fill(b, C, &rng, -0.5, 0.5);
    round_dt(r, n, dt), round_dt(h, n, dt), round_dt(dy, n, dt), round_dt(dro, n, dt);
    round_float(w, C), round_float(b, C);
    for (size_t i = 0; i < n; i++) ro[i] = r[i] + h[i];
    ref_shape s = {n, C, C, 0};
    htensor hr = hdev(ctx, dt, r, rows, C), hh = hdev(ctx, dt, h, rows, C), hro = hdev(ctx, dt, NULL, rows, C);
    htensor hy = hdev(ctx, dt, NULL, rows, C);
    dytcl_buf *ba = dev_from(ctx, &alpha, 1), *bw = dev_from(ctx, w, C), *bb = dev_from(ctx, b, C);
    dytcl_dyt_params p = {T1(ba, 1), NONE, T1(bw, C), T1(bb, C), DYTCL_CHANNELS_LAST};
    CHECK_OK(ctx, dytcl_residual_dyt_forward(ctx, hro.t, hy.t, hr.t, hh.t, &p));
    check_out(ctx, &hro, ro, NULL, 1e-6, what);
    hread(ctx, &hro, rod); /* y and the backward see r_out as stored */
    ref_dyt_forward(REF_DYT, s, rod, alpha, 0, w, b, y);
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    if (!range) {
        ref_dyt_backward(REF_DYT, s, rod, dy, alpha, 0, w, d, &da, &dsh, dw, db);
        for (size_t i = 0; i < n; i++) d[i] += dro[i];
        htensor hdy = hdev(ctx, dt, dy, rows, C), hd = hdev(ctx, dt, dro, rows, C);
        dytcl_buf *bg = dev_from(ctx, NULL, 1 + 2 * (size_t)C);
        dytcl_dyt_grads g = {T1(bg, 1), NONE, dytcl_tensor_1d(bg, 1, C), dytcl_tensor_1d(bg, 1 + (size_t)C, C), 0};
        /* dres written over dr_out: the documented aliasing */
        CHECK_OK(ctx, dytcl_residual_dyt_backward(ctx, hd.t, &g, hdy.t, hd.t, hro.t, &p));
        check_out(ctx, &hd, d, NULL, 1e-5, what);
        double *gw = dalloc(1 + 2 * (size_t)C);
        dev_to(ctx, bg, gw, 1 + 2 * (size_t)C);
        CHECK(fabs(gw[0] - da) <= 1e-4 * fmax(1, fabs(da)), "%s dalpha %.9g want %.9g", what, gw[0], da);
        CHECK(rel_err(gw + 1, dw, C) <= 1e-5 && rel_err(gw + 1 + C, db, C) <= 1e-5, "%s dweight, dbias", what);
        free(gw);
        hfree(&hdy), hfree(&hd);
        dytcl_buf_free(bg);
    }
    hfree(&hr), hfree(&hh), hfree(&hro), hfree(&hy);
    dytcl_buf_free(ba), dytcl_buf_free(bw), dytcl_buf_free(bb);
    free(r), free(h), free(ro), free(rod), free(y), free(dy), free(dro), free(d), free(w), free(b), free(dw), free(db);
}

/* ------------------------------------------------------- RMSNorm, LayerNorm */

/* range: weight scaled by big_scale and x[0] = NaN (row 0 all NaN),
 * forward only. */
static void run_norm(dytcl_ctx *ctx, dytcl_dtype dt, int ln, int rows, int C, int range)
{
    const size_t n = (size_t)rows * C;
    const double eps = 1e-5;
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d%s", ln ? "layernorm" : "rmsnorm", rows, C, range ? " range" : "");
    double *x = dalloc(n), *dy = dalloc(n), *y = dalloc(n), *dx = dalloc(n), *sc = dalloc(n);
    double *w = dalloc(C), *b = dalloc(C), *dw = dalloc(C), *db = dalloc(C), *mean = dalloc(rows), *rstd = dalloc(rows);
    rand_fill(x, n, &rng, -3, 3), rand_fill(dy, n, &rng, -1, 1);
    for (size_t i = 0; i < n; i++) x[i] += 1; /* an offset LayerNorm removes */
    rand_fill(w, C, &rng, 0.5, 1.5), rand_fill(b, C, &rng, -0.5, 0.5);
    if (range) {
        for (int c = 0; c < C; c++) w[c] *= big_scale(dt);
        x[0] = NAN;
    }
    round_dt(x, n, dt), round_dt(dy, n, dt), round_float(w, C), round_float(b, C);
    if (ln) ref_layernorm_forward(rows, C, x, w, b, eps, y, mean, rstd);
    else ref_rmsnorm_forward(rows, C, x, w, eps, y, rstd);
    htensor hx = hdev(ctx, dt, x, rows, C), hy = hdev(ctx, dt, NULL, rows, C);
    dytcl_buf *bw = dev_from(ctx, w, C), *bb = dev_from(ctx, b, C), *bm = dev_from(ctx, NULL, rows);
    dytcl_buf *brs = dev_from(ctx, NULL, rows), *bdw = dev_from(ctx, NULL, C), *bdb = dev_from(ctx, NULL, C);
    if (ln) CHECK_OK(ctx, dytcl_layernorm_forward(ctx, hy.t, T1(bm, rows), T1(brs, rows), hx.t, T1(bw, C), T1(bb, C),
                                                  (float)eps));
    else CHECK_OK(ctx, dytcl_rmsnorm_forward(ctx, hy.t, T1(brs, rows), hx.t, T1(bw, C), (float)eps));
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    check_f32(ctx, brs, rstd, rows, 1e-5, what);
    if (ln) check_f32(ctx, bm, mean, rows, 1e-5, what);
    if (!range) {
        if (ln) ref_layernorm_backward(rows, C, x, w, dy, eps, dx, dw, db);
        else ref_rmsnorm_backward(rows, C, x, w, dy, eps, dx, dw);
        for (size_t i = 0; i < n; i++) sc[i] = rstd[i / (size_t)C] * dy[i] * w[i % (size_t)C];
        htensor hdy = hdev(ctx, dt, dy, rows, C), hdx = hdev(ctx, dt, NULL, rows, C);
        if (ln) CHECK_OK(ctx, dytcl_layernorm_backward(ctx, hdx.t, T1(bdw, C), T1(bdb, C), 0, hdy.t, hx.t,
                                                       T1(bm, rows), T1(brs, rows), T1(bw, C)));
        else CHECK_OK(ctx, dytcl_rmsnorm_backward(ctx, hdx.t, T1(bdw, C), 0, hdy.t, hx.t, T1(brs, rows), T1(bw, C)));
        check_out(ctx, &hdx, dx, sc, 1e-5, what);
        check_f32(ctx, bdw, dw, C, 1e-5, what);
        if (ln) check_f32(ctx, bdb, db, C, 1e-5, what);
        hfree(&hdy), hfree(&hdx);
    }
    hfree(&hx), hfree(&hy);
    dytcl_buf *all[] = {bw, bb, bm, brs, bdw, bdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dytcl_buf_free(all[i]);
    free(x), free(dy), free(y), free(dx), free(sc), free(w), free(b), free(dw), free(db), free(mean), free(rstd);
}

/* r_out = r + h, y = RMSNorm(r_out as stored); backward with dr_out. */
static void run_residual_norm(dytcl_ctx *ctx, dytcl_dtype dt, int rows, int C)
{
    const size_t n = (size_t)rows * C;
    char what[64];
    snprintf(what, sizeof what, "residual rmsnorm %dx%d", rows, C);
    double *r = dalloc(n), *h = dalloc(n), *ro = dalloc(n), *rod = dalloc(n), *y = dalloc(n), *dy = dalloc(n);
    double *dro = dalloc(n), *d = dalloc(n), *w = dalloc(C), *dw = dalloc(C), *rs = dalloc(rows);
    rand_fill(r, n, &rng, -2, 2), rand_fill(h, n, &rng, -2, 2), rand_fill(dy, n, &rng, -1, 1);
    rand_fill(dro, n, &rng, -1, 1), rand_fill(w, C, &rng, 0.5, 1.5);
    round_dt(r, n, dt), round_dt(h, n, dt), round_dt(dy, n, dt), round_dt(dro, n, dt), round_float(w, C);
    for (size_t i = 0; i < n; i++) ro[i] = r[i] + h[i];
    htensor hr = hdev(ctx, dt, r, rows, C), hh = hdev(ctx, dt, h, rows, C), hro = hdev(ctx, dt, NULL, rows, C);
    htensor hy = hdev(ctx, dt, NULL, rows, C), hdy = hdev(ctx, dt, dy, rows, C), hd = hdev(ctx, dt, dro, rows, C);
    dytcl_buf *bw = dev_from(ctx, w, C), *bdw = dev_from(ctx, NULL, C), *brs = dev_from(ctx, NULL, rows);
    CHECK_OK(ctx, dytcl_residual_rmsnorm_forward(ctx, hro.t, hy.t, T1(brs, rows), hr.t, hh.t, T1(bw, C), 1e-6f));
    check_out(ctx, &hro, ro, NULL, 1e-6, what);
    hread(ctx, &hro, rod);
    ref_rmsnorm_forward(rows, C, rod, w, 1e-6, y, rs);
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    check_f32(ctx, brs, rs, rows, 1e-5, what);
    ref_rmsnorm_backward(rows, C, rod, w, dy, 1e-6, d, dw);
    for (size_t i = 0; i < n; i++) d[i] += dro[i];
    CHECK_OK(ctx, dytcl_residual_rmsnorm_backward(ctx, hd.t, T1(bdw, C), 0, hdy.t, hd.t, hro.t, T1(brs, rows),
                                                  T1(bw, C)));
    check_out(ctx, &hd, d, NULL, 1e-5, what);
    check_f32(ctx, bdw, dw, C, 1e-5, what);
    hfree(&hr), hfree(&hh), hfree(&hro), hfree(&hy), hfree(&hdy), hfree(&hd);
    dytcl_buf_free(bw), dytcl_buf_free(bdw), dytcl_buf_free(brs);
    free(r), free(h), free(ro), free(rod), free(y), free(dy), free(dro), free(d), free(w), free(dw), free(rs);
}

/* ------------------------------------------------------- add, copy, fill */

/* range: |a|, |b| up to 0.6 of the format's top, so that some sums pass it
 * (f16: inf) and bf16 sums near 2e38 stay finite. */
static void run_add_copy_fill(dytcl_ctx *ctx, dytcl_dtype dt, size_t n, int range)
{
    char what[64];
    snprintf(what, sizeof what, "add/copy/fill n=%zu%s", n, range ? " range" : "");
    const double top = range ? 0.6 * overflow_at(dt) : 2;
    double *a = dalloc(n), *b = dalloc(n), *s = dalloc(n), *got = dalloc(n);
    rand_fill(a, n, &rng, -top, top), rand_fill(b, n, &rng, -top, top);
    if (range) a[n / 2] = NAN;
    round_dt(a, n, dt), round_dt(b, n, dt);
    for (size_t i = 0; i < n; i++) s[i] = a[i] + b[i];
    htensor ha = hdev(ctx, dt, a, 1, (int64_t)n), hb = hdev(ctx, dt, b, 1, (int64_t)n);
    htensor ho = hdev(ctx, dt, NULL, 1, (int64_t)n);
    CHECK_OK(ctx, dytcl_add(ctx, ho.t, ha.t, hb.t));
    check_out(ctx, &ho, s, NULL, 1e-6, what);
    /* copy in one dtype moves the bits: exactly a */
    CHECK_OK(ctx, dytcl_copy(ctx, ho.t, ha.t));
    hread(ctx, &ho, got);
    for (size_t i = 0; i < n; i++)
        if (!(got[i] == a[i] || (isnan(got[i]) && isnan(a[i])))) {
            CHECK(0, "%s: copy element %zu is %g, want %g", what, i, got[i], a[i]);
            break;
        }
    /* fill rounds the value once */
    const double v = range ? 0.9 * big_scale(dt) : 1.2345678;
    for (size_t i = 0; i < n; i++) s[i] = v;
    CHECK_OK(ctx, dytcl_fill(ctx, ho.t, (float)v));
    check_out(ctx, &ho, s, NULL, 0, what);
    hfree(&ha), hfree(&hb), hfree(&ho);
    free(a), free(b), free(s), free(got);
}

/* dytcl_copy between every pair of dtypes, bit for bit against the host's
 * rounding: values near and past each format's limits, subnormals, ties,
 * signed zeros, infinities, NaN. */
static void run_conversions(dytcl_ctx *ctx)
{
    static const double special[] = {0.0, -0.0, 1.0, -1.5, 65504.0, 65519.0, 65520.0, -65536.0, 70000.0, 1e5,
                                     1e38, -3e38, 3.3895e38, 6.1e-5, 5.96e-8, 2.9e-8, 1e-7, 1.00048828125,
                                     1.0009765625, 1.001953125, 1.00390625, 1.0078125, 1.01171875, INFINITY,
                                     -INFINITY, NAN, 1e-30, 0.1, 1.0 / 3.0};
    const size_t ns = sizeof special / sizeof special[0], n = ns + 29; /* and random ones: an odd count */
    double *v = dalloc(n), *want = dalloc(n), *got = dalloc(n);
    memcpy(v, special, sizeof special);
    rand_fill(v + ns, n - ns, &rng, -1e4, 1e4);
    round_float(v, n);
    const dytcl_dtype all[3] = {DYTCL_F32, DYTCL_F16, DYTCL_BF16};
    for (int i = 0; i < 3; i++) {
        double *src = dalloc(n);
        memcpy(src, v, n * sizeof *src);
        round_dt(src, n, all[i]); /* the values src holds: the device's input */
        htensor hs = hdev(ctx, all[i], src, 1, (int64_t)n);
        for (int j = 0; j < 3; j++) {
            htensor hd = hdev(ctx, all[j], NULL, 1, (int64_t)n);
            CHECK_OK(ctx, dytcl_copy(ctx, hd.t, hs.t));
            hread(ctx, &hd, got);
            for (size_t k = 0; k < n; k++) {
                /* float -> half is one rounding; half -> half goes through float exactly */
                want[k] = all[j] == DYTCL_F16 ? f16_value(f16_bits(src[k]))
                          : all[j] == DYTCL_BF16 ? bf16_value(bf16_bits((float)src[k])) : src[k];
                int ok = isnan(want[k]) ? isnan(got[k]) : got[k] == want[k] && signbit(got[k]) == signbit(want[k]);
                CHECK(ok, "copy %s -> %s: %.9g became %.9g, want %.9g", dytcl_dtype_name(all[i]),
                      dytcl_dtype_name(all[j]), src[k], got[k], want[k]);
            }
            hfree(&hd);
        }
        hfree(&hs);
        free(src);
    }
    free(v), free(want), free(got);
}

/* ----------------------------------------------- GELU, SwiGLU, RoPE, embedding */

/* range: one x is NaN, dy scaled by big_scale (f16: dy itself past the
 * range, inf, and dx with it). */
static void run_gelu(dytcl_ctx *ctx, dytcl_dtype dt, size_t n, int range)
{
    char what[48];
    snprintf(what, sizeof what, "gelu n=%zu%s", n, range ? " range" : "");
    double *x = dalloc(n), *dy = dalloc(n), *y = dalloc(n), *dx = dalloc(n);
    rand_fill(x, n, &rng, -4, 4), rand_fill(dy, n, &rng, -1, 1);
    if (range) {
        for (size_t i = 0; i < n; i++) dy[i] *= big_scale(dt);
        x[0] = NAN;
    }
    round_dt(x, n, dt), round_dt(dy, n, dt);
    for (size_t i = 0; i < n; i++) y[i] = ref_gelu(x[i]), dx[i] = dy[i] * ref_gelu_grad(x[i]);
    htensor hx = hdev(ctx, dt, x, 1, (int64_t)n), hy = hdev(ctx, dt, NULL, 1, (int64_t)n);
    htensor hdy = hdev(ctx, dt, dy, 1, (int64_t)n);
    CHECK_OK(ctx, dytcl_gelu_forward(ctx, hy.t, hx.t));
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    CHECK_OK(ctx, dytcl_gelu_backward(ctx, hy.t, hdy.t, hx.t));
    check_out(ctx, &hy, dx, NULL, 1e-5, what);
    hfree(&hx), hfree(&hy), hfree(&hdy);
    free(x), free(dy), free(y), free(dx);
}

/* Both forms: separate a, b [rows, H], and packed ab [rows, 2H]. range: a
 * and b scaled (f16: 300 * 300 past the range; bf16: 1e19 * 1e19 = 1e38). */
static void run_swiglu(dytcl_ctx *ctx, dytcl_dtype dt, int rows, int H, int range)
{
    const size_t n = (size_t)rows * H;
    char what[64];
    snprintf(what, sizeof what, "swiglu %dx%d%s", rows, H, range ? " range" : "");
    const double sc = range ? (dt == DYTCL_F16 ? 300 : 1e19) : 3;
    double *ab = dalloc(2 * n), *a = dalloc(n), *b = dalloc(n), *dy = dalloc(n), *y = dalloc(n);
    double *da = dalloc(n), *db = dalloc(n), *dab = dalloc(2 * n);
    rand_fill(ab, 2 * n, &rng, -sc, sc), rand_fill(dy, n, &rng, -1, 1);
    if (range) ab[0] = NAN;
    round_dt(ab, 2 * n, dt), round_dt(dy, n, dt);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < H; c++)
            a[(size_t)r * H + c] = ab[(size_t)r * 2 * H + c], b[(size_t)r * H + c] = ab[(size_t)r * 2 * H + H + c];
    ref_swiglu((int)n, a, b, y);
    ref_swiglu_backward((int)n, a, b, dy, da, db);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < H; c++)
            dab[(size_t)r * 2 * H + c] = da[(size_t)r * H + c], dab[(size_t)r * 2 * H + H + c] = db[(size_t)r * H + c];
    htensor ha = hdev(ctx, dt, a, rows, H), hb = hdev(ctx, dt, b, rows, H), hab = hdev(ctx, dt, ab, rows, 2 * H);
    htensor hy = hdev(ctx, dt, NULL, rows, H), hdy = hdev(ctx, dt, dy, rows, H);
    htensor hda = hdev(ctx, dt, NULL, rows, H), hdb = hdev(ctx, dt, NULL, rows, H);
    htensor hdab = hdev(ctx, dt, NULL, rows, 2 * H);
    CHECK_OK(ctx, dytcl_swiglu_forward(ctx, hy.t, ha.t, hb.t));
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    CHECK_OK(ctx, dytcl_swiglu_packed_forward(ctx, hy.t, hab.t));
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    if (!range) {
        CHECK_OK(ctx, dytcl_swiglu_backward(ctx, hda.t, hdb.t, hdy.t, ha.t, hb.t));
        check_out(ctx, &hda, da, NULL, 1e-5, what);
        check_out(ctx, &hdb, db, NULL, 1e-5, what);
        CHECK_OK(ctx, dytcl_swiglu_packed_backward(ctx, hdab.t, hdy.t, hab.t));
        check_out(ctx, &hdab, dab, NULL, 1e-5, what);
    }
    hfree(&ha), hfree(&hb), hfree(&hab), hfree(&hy), hfree(&hdy), hfree(&hda), hfree(&hdb), hfree(&hdab);
    free(ab), free(a), free(b), free(dy), free(y), free(da), free(db), free(dab);
}

/* x [B, T, H, D]; range: x scaled (f16: 6e4 turned by 1 radian passes
 * 65504; bf16: 1e38 stays finite). */
static void run_rope(dytcl_ctx *ctx, dytcl_dtype dt, int B, int T, int H, int D, int range)
{
    const size_t n = (size_t)B * T * H * D;
    char what[64];
    snprintf(what, sizeof what, "rope %dx%dx%dx%d%s", B, T, H, D, range ? " range" : "");
    const double sc = range ? (dt == DYTCL_F16 ? 6e4 : 1e38) : 2;
    double *x = dalloc(n), *y = dalloc(n), *back = dalloc(n);
    rand_fill(x, n, &rng, -sc, sc);
    if (range) x[1] = NAN;
    round_dt(x, n, dt);
    ref_rope(B, T, H, D, 1, 10000.0, 1, x, y);
    ref_rope(B, T, H, D, 1, 10000.0, -1, x, back);
    htensor hx = hdev(ctx, dt, x, (int64_t)B * T, (int64_t)H * D), hy = hdev(ctx, dt, NULL, (int64_t)B * T, (int64_t)H * D);
    dytcl_tensor tx = {hx.buf, HALF_OFF, 4, {B, T, H, D}, dt}, ty = {hy.buf, HALF_OFF, 4, {B, T, H, D}, dt};
    CHECK_OK(ctx, dytcl_rope_forward(ctx, ty, tx, 1, 10000.0f));
    check_out(ctx, &hy, y, NULL, 1e-5, what);
    CHECK_OK(ctx, dytcl_rope_backward(ctx, ty, tx, 1, 10000.0f));
    check_out(ctx, &hy, back, NULL, 1e-5, what);
    hfree(&hx), hfree(&hy);
    free(x), free(y), free(back);
}

/* out rows in dt from f32 tables; a token out of range gives a NaN row.
 * range: the table scaled by big_scale. Backward from a dt dout. */
static void run_embed(dytcl_ctx *ctx, dytcl_dtype dt, int rows, int T, int V, int C, int range)
{
    const size_t n = (size_t)rows * C;
    char what[64];
    snprintf(what, sizeof what, "embedding %d rows V=%d C=%d%s", rows, V, C, range ? " range" : "");
    int *tok = malloc(rows * sizeof *tok);
    double *wte = dalloc((size_t)V * C), *wpe = dalloc((size_t)T * C), *out = dalloc(n), *dout = dalloc(n);
    double *dwte = dalloc((size_t)V * C), *dwpe = dalloc((size_t)T * C);
    for (int r = 0; r < rows; r++) tok[r] = (int)check_rand(&rng, 0, V);
    tok[rows / 2] = -1;
    rand_fill(wte, (size_t)V * C, &rng, -1, 1), rand_fill(wpe, (size_t)T * C, &rng, -0.1, 0.1);
    if (range)
        for (size_t i = 0; i < (size_t)V * C; i++) wte[i] *= big_scale(dt);
    rand_fill(dout, n, &rng, -1, 1);
    round_float(wte, (size_t)V * C), round_float(wpe, (size_t)T * C), round_dt(dout, n, dt);
    ref_embed(rows, T, V, C, tok, wte, wpe, out);
    memset(dwte, 0, (size_t)V * C * sizeof *dwte), memset(dwpe, 0, (size_t)T * C * sizeof *dwpe);
    ref_embed_backward(rows, T, V, C, tok, dout, dwte, dwpe);
    dytcl_buf *bt = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, rows * sizeof *tok, &bt));
    if (bt) CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, tok, rows * sizeof *tok));
    dytcl_buf *bwte = dev_from(ctx, wte, (size_t)V * C), *bwpe = dev_from(ctx, wpe, (size_t)T * C);
    dytcl_buf *bdwte = dev_from(ctx, NULL, (size_t)V * C), *bdwpe = dev_from(ctx, NULL, (size_t)T * C);
    htensor ho = hdev(ctx, dt, NULL, rows, C), hdo = hdev(ctx, dt, dout, rows, C);
    CHECK_OK(ctx, dytcl_embedding_forward(ctx, ho.t, T1(bt, rows), dytcl_tensor_2d(bwte, 0, V, C),
                                          dytcl_tensor_2d(bwpe, 0, T, C), T));
    check_out(ctx, &ho, out, NULL, 1e-6, what);
    CHECK_OK(ctx, dytcl_embedding_backward(ctx, dytcl_tensor_2d(bdwte, 0, V, C), dytcl_tensor_2d(bdwpe, 0, T, C), 0,
                                           hdo.t, T1(bt, rows), T));
    check_f32(ctx, bdwte, dwte, (size_t)V * C, 1e-6, what);
    check_f32(ctx, bdwpe, dwpe, (size_t)T * C, 1e-6, what);
    hfree(&ho), hfree(&hdo);
    dytcl_buf_free(bt), dytcl_buf_free(bwte), dytcl_buf_free(bwpe), dytcl_buf_free(bdwte), dytcl_buf_free(bdwpe);
    free(tok), free(wte), free(wpe), free(out), free(dout), free(dwte), free(dwpe);
}

/* ------------------------------------------------ refusals and mixed calls */

static void expect_error(dytcl_ctx *ctx, dytcl_status s, const char *needle, const char *what)
{
    CHECK(s == DYTCL_ERR_INVALID_ARG, "%s: status %s, want DYTCL_ERR_INVALID_ARG", what, dytcl_status_name(s));
    CHECK(strstr(dytcl_last_error(ctx), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
          dytcl_last_error(ctx), needle);
}

static void run_refusals(dytcl_ctx *ctx)
{
    dytcl_buf *b = dev_from(ctx, NULL, 256);
    dytcl_tensor f32 = dytcl_tensor_2d(b, 0, 4, 8), f32b = dytcl_tensor_2d(b, 32, 4, 8);
    dytcl_tensor f16 = dytcl_tensor_as(dytcl_tensor_2d(b, 128, 4, 8), DYTCL_F16);
    dytcl_tensor bf16 = dytcl_tensor_as(dytcl_tensor_2d(b, 192, 4, 8), DYTCL_BF16);
    dytcl_tensor vec = dytcl_tensor_1d(b, 224, 8), one = dytcl_tensor_1d(b, 240, 1);
    dytcl_adamw_config cfg = {1e-3f, 0.9f, 0.999f, 1e-8f, 0};
    /* f32-only ops name the half-width tensor */
    expect_error(ctx, dytcl_adamw(ctx, f32, f16, f32b, dytcl_tensor_2d(b, 64, 4, 8), NONE, NONE, &cfg, 1),
                 "grads is f16 but params is f32", "adamw with f16 grads");
    expect_error(ctx, dytcl_adamw(ctx, bf16, bf16, bf16, bf16, NONE, NONE, &cfg, 1), "tensor params is bf16; this op takes f32",
                 "adamw in bf16");
    expect_error(ctx, dytcl_cross_entropy(ctx, dytcl_tensor_1d(b, 100, 4), NONE, f16, dytcl_tensor_1d(b, 104, 4), 1.0f),
                 "tensor logits is f16; this op takes f32", "cross-entropy on f16 logits");
    /* the parameters stay f32 */
    dytcl_dyt_params p = {one, NONE, dytcl_tensor_as(vec, DYTCL_F16), NONE, DYTCL_CHANNELS_LAST};
    expect_error(ctx, dytcl_dyt_forward(ctx, f16, f16, &p), "tensor weight is f16; this op takes f32",
                 "dyt with an f16 weight");
    expect_error(ctx, dytcl_rmsnorm_forward(ctx, f16, dytcl_tensor_as(dytcl_tensor_1d(b, 240, 4), DYTCL_BF16), f16,
                                            NONE, 1e-5f),
                 "tensor rstd is bf16; this op takes f32", "rmsnorm with a bf16 rstd");
    /* one call, one activation dtype: mixing is refused, naming both */
    p.weight = vec;
    expect_error(ctx, dytcl_dyt_forward(ctx, f16, bf16, &p), "tensor y is f16 but x is bf16", "dyt f16 <- bf16");
    expect_error(ctx, dytcl_add(ctx, f32b, f32, f16), "tensor b is f16 but a is f32", "add f32 + f16");
    expect_error(ctx, dytcl_gelu_forward(ctx, f32, bf16), "tensor x is bf16 but y is f32", "gelu f32 <- bf16");
    expect_error(ctx, dytcl_rmsnorm_forward(ctx, bf16, one, f16, NONE, 1e-5f), "tensor y is bf16 but x is f16",
                 "rmsnorm bf16 <- f16");
    /* ... except dytcl_copy, which converts (run_conversions) */
    CHECK_OK(ctx, dytcl_copy(ctx, bf16, f16));
    dytcl_buf_free(b);
}

int main(void)
{
    const char *shape_names[] = {"rows", "groups"};
    const dytcl_dtype dts[2] = {DYTCL_F16, DYTCL_BF16};
    const int shapes[][2] = {{1, 1}, {1, 3}, {3, 17}, {2, 4101}, {37, 1000}, {5, 8}};
    const size_t ns = sizeof shapes / sizeof shapes[0];
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_CACHE_DIR"));
        printf("kernel shape: %s\n", shape_names[sh]);
        for (int d = 0; d < 2; d++) {
            const dytcl_dtype dt = dts[d];
            for (size_t i = 0; i < ns; i++) {
                const int rows = shapes[i][0], C = shapes[i][1];
                if (check_small() && rows * C > 5000) continue;
                for (int derf = 0; derf < 2; derf++) run_dyt(ctx, dt, derf, 0, rows, C, 1, 0);
                for (int ln = 0; ln < 2; ln++) run_norm(ctx, dt, ln, rows, C, 0);
                run_residual_dyt(ctx, dt, rows, C, 0);
                run_residual_norm(ctx, dt, rows, C);
            }
            for (int derf = 0; derf < 2; derf++) run_dyt(ctx, dt, derf, 1, 2, 3, 35, 0); /* channels first */
            /* out of range: each forward once */
            for (int derf = 0; derf < 2; derf++) {
                run_dyt(ctx, dt, derf, 0, 3, 17, 1, 1);
                run_dyt(ctx, dt, derf, 1, 2, 3, 5, 1);
            }
            for (int ln = 0; ln < 2; ln++) run_norm(ctx, dt, ln, 3, 17, 1);
            run_residual_dyt(ctx, dt, 3, 17, 1);
            if (sh == 0) { /* the ops with one kernel shape: once */
                const size_t sizes[] = {1, 3, 17, 4101};
                for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                    run_add_copy_fill(ctx, dt, sizes[i], 0);
                    run_gelu(ctx, dt, sizes[i], 0);
                }
                run_add_copy_fill(ctx, dt, 101, 1);
                run_gelu(ctx, dt, 101, 1);
                run_swiglu(ctx, dt, 1, 1, 0), run_swiglu(ctx, dt, 3, 17, 0), run_swiglu(ctx, dt, 2, 1029, 0);
                run_swiglu(ctx, dt, 3, 17, 1);
                run_rope(ctx, dt, 1, 1, 1, 2, 0), run_rope(ctx, dt, 2, 5, 3, 18, 0), run_rope(ctx, dt, 1, 3, 2, 64, 1);
                run_embed(ctx, dt, 1, 1, 5, 3, 0), run_embed(ctx, dt, 2 * 7, 7, 11, 17, 0);
                run_embed(ctx, dt, 6, 3, 5, 9, 1);
            }
        }
        if (sh == 0) {
            run_conversions(ctx);
            run_refusals(ctx);
        }
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_ops_half");
}
