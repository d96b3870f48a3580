/* test_ops.c -- every op from one table (op_cases.c, run by op_harness.c):
 * float64 references on inputs rounded to the storage, NaN-poisoned
 * outputs at odd offsets, a tolerance per dtype, the same bits twice, both
 * kernel shapes. Here: the references' backward formulas against central
 * finite differences of their forwards (or, for the linear ops, as the
 * transpose of the forward), and the checks a table does not hold
 * (op_extra.c).
 *
 *   test_ops [f32|f16|bf16|all [dyt|norm|ops]]
 *
 * runs the table in one storage dtype (all: every one; the default) and
 * one op family (default: all); the finite differences and op_extra with
 * f32 and all. ctest runs one entry per dtype, so that they share the
 * cores; they share one program cache (DYTCL_CACHE_DIR). */
#include <limits.h>
#include <string.h>

#include "op_harness.h"
#include "ref_norms.h"
#include "ref_ops.h"

static unsigned long long rng = 2024;

/* ---- the references' backward formulas against finite differences */

static void check_fd(void)
{
    double worst = 0, h = 1e-6;
    for (double x = -4; x <= 4; x += 0.37) /* GELU' */
        worst = fmax(worst, fabs((ref_gelu(x + h) - ref_gelu(x - h)) / (2 * h) - ref_gelu_grad(x)));
    for (double a = -4; a <= 4; a += 0.41) { /* SwiGLU' in a and b (dy = 1) */
        double b = 1.3, one = 1, da, db, yp, ym, ap = a + h, am = a - h, bp = b + h, bm = b - h;
        ref_swiglu_backward(1, &a, &b, &one, &da, &db);
        ref_swiglu(1, &ap, &b, &yp), ref_swiglu(1, &am, &b, &ym);
        worst = fmax(worst, fabs((yp - ym) / (2 * h) - da));
        ref_swiglu(1, &a, &bp, &yp), ref_swiglu(1, &a, &bm, &ym);
        worst = fmax(worst, fabs((yp - ym) / (2 * h) - db));
    }
    /* RoPE is linear: its backward must be the transpose, <R x, y> = <x, R^T y> */
    enum { D = 6 };
    double x[D], y[D], rx[D], ry[D], lhs = 0, rhs = 0;
    rand_fill(x, D, &rng, -1, 1), rand_fill(y, D, &rng, -1, 1);
    ref_rope(1, 1, 1, D, 5, 10000, 1, x, rx);
    ref_rope(1, 1, 1, D, 5, 10000, -1, y, ry);
    for (int i = 0; i < D; i++) lhs += rx[i] * y[i], rhs += x[i] * ry[i];
    worst = fmax(worst, fabs(lhs - rhs));
    /* embeddings too: <E(wte, wpe), dout> = <wte, dwte> + <wpe, dwpe> */
    enum { R = 6, T = 3, V = 4, C = 2 };
    const int tok[R] = {0, 3, 3, 1, 0, 3};
    double wte[V * C], wpe[T * C], dout[R * C], out[R * C], dwte[V * C] = {0}, dwpe[T * C] = {0};
    rand_fill(wte, V * C, &rng, -1, 1), rand_fill(wpe, T * C, &rng, -1, 1), rand_fill(dout, R * C, &rng, -1, 1);
    ref_embed(R, T, V, C, tok, wte, wpe, out);
    ref_embed_backward(R, T, V, C, tok, dout, dwte, dwpe);
    lhs = rhs = 0;
    for (int i = 0; i < R * C; i++) lhs += out[i] * dout[i];
    for (int i = 0; i < V * C; i++) rhs += wte[i] * dwte[i];
    for (int i = 0; i < T * C; i++) rhs += wpe[i] * dwpe[i];
    worst = fmax(worst, fabs(lhs - rhs));
    /* cross-entropy: d(scale * loss)/dz = dlogits */
    enum { NV = 7 };
    double z[NV], dz[NV], l1, l2;
    int t = 3;
    rand_fill(z, NV, &rng, -3, 3);
    ref_ce(1, NV, z, &t, 0.5, &l1, dz);
    for (int v = 0; v < NV; v++) {
        double keep = z[v];
        z[v] = keep + h, ref_ce(1, NV, z, &t, 0.5, &l1, NULL);
        z[v] = keep - h, ref_ce(1, NV, z, &t, 0.5, &l2, NULL);
        z[v] = keep;
        worst = fmax(worst, fabs(0.5 * (l1 - l2) / (2 * h) - dz[v]));
    }
    /* with label smoothing: d(scale * loss)/dz = dlogits, and the loss is the
     * cross-entropy against (1 - e) onehot + e / V written out */
    for (int k = 0; k < 3; k++) {
        const double e = k == 0 ? 0.1 : k == 1 ? 0.5 : 1.0;
        double want = 0, lse = 0, m = -INFINITY;
        ref_ce_smoothed(1, NV, z, &t, e, 0.5, &l1, dz);
        for (int v = 0; v < NV; v++) m = fmax(m, z[v]);
        for (int v = 0; v < NV; v++) lse += exp(z[v] - m);
        lse = m + log(lse);
        for (int v = 0; v < NV; v++) want -= ((1 - e) * (v == t) + e / NV) * (z[v] - lse);
        worst = fmax(worst, fabs(l1 - want));
        for (int v = 0; v < NV; v++) {
            double keep = z[v];
            z[v] = keep + h, ref_ce_smoothed(1, NV, z, &t, e, 0.5, &l1, NULL);
            z[v] = keep - h, ref_ce_smoothed(1, NV, z, &t, e, 0.5, &l2, NULL);
            z[v] = keep;
            worst = fmax(worst, fabs(0.5 * (l1 - l2) / (2 * h) - dz[v]));
        }
    }
    CHECK(worst < 1e-7, "reference backward vs finite differences: %.3g", worst);
}

/* L = sum(y * dy), the loss whose gradients the backward returns. */
static double dyt_loss(ref_act act, ref_shape s, const double *x, double alpha, double shift, const double *w,
                   const double *b, const double *dy)
{
    double *y = malloc(s.n * sizeof *y), l = 0;
    ref_dyt_forward(act, s, x, alpha, shift, w, b, y);
    for (size_t i = 0; i < s.n; i++) l += y[i] * dy[i];
    free(y);
    return l;
}

static void check_dyt_fd(ref_act act, ref_shape s)
{
    size_t n = s.n;
    double *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *dx = malloc(n * sizeof *dx);
    double w[16], b[16], dw[16], db[16], alpha = 0.7, shift = 0.2, da, ds;
    rand_fill(x, n, &rng, -3, 3);
    rand_fill(dy, n, &rng, -1, 1);
    rand_fill(w, (size_t)s.C, &rng, 0.5, 1.5);
    rand_fill(b, (size_t)s.C, &rng, -1, 1);
    ref_dyt_backward(act, s, x, dy, alpha, shift, w, dx, &da, &ds, dw, db);
    const double h = 1e-6;
    double worst = 0;
#define FD(var, analytic)                                                                      \
    do {                                                                                       \
        double keep = var;                                                                     \
        var = keep + h;                                                                        \
        double lp = dyt_loss(act, s, x, alpha, shift, w, b, dy);                                   \
        var = keep - h;                                                                        \
        double lm = dyt_loss(act, s, x, alpha, shift, w, b, dy);                                   \
        var = keep;                                                                            \
        double num = (lp - lm) / (2 * h), e = fabs(num - (analytic)) / fmax(1.0, fabs(num));   \
        if (e > worst) worst = e;                                                              \
    } while (0)
    for (size_t i = 0; i < n; i++) FD(x[i], dx[i]);
    for (int c = 0; c < s.C; c++) {
        FD(w[c], dw[c]);
        FD(b[c], db[c]);
    }
    FD(alpha, da);
    if (act == REF_DERF) FD(shift, ds);
#undef FD
    CHECK(worst < 1e-7, "%s reference backward vs finite differences: error %.3g",
          act == REF_DYT ? "DyT" : "Derf", worst);
    free(x), free(dy), free(dx);
}

/* L = sum(y * dy) for the finite differences. */
static double norm_loss(int ln, int rows, int C, const double *x, const double *w, const double *b, const double *dy)
{
    size_t n = (size_t)rows * C;
    double *y = malloc(n * sizeof *y), l = 0;
    if (ln) ref_layernorm_forward(rows, C, x, w, b, 1e-5, y, NULL, NULL);
    else ref_rmsnorm_forward(rows, C, x, w, 1e-5, y, NULL);
    for (size_t i = 0; i < n; i++) l += y[i] * dy[i];
    free(y);
    return l;
}

static void check_norm_fd(int ln)
{
    enum { ROWS = 3, C = 7, N = ROWS * C };
    double x[N], dy[N], dx[N], w[C], b[C], dw[C], db[C];
    rand_fill(x, N, &rng, -2, 2), rand_fill(dy, N, &rng, -1, 1);
    rand_fill(w, C, &rng, 0.5, 1.5), rand_fill(b, C, &rng, -1, 1);
    if (ln) ref_layernorm_backward(ROWS, C, x, w, dy, 1e-5, dx, dw, db);
    else ref_rmsnorm_backward(ROWS, C, x, w, dy, 1e-5, dx, dw);
    double worst = 0, h = 1e-6;
#define FD(var, analytic)                                                                     \
    do {                                                                                      \
        double keep = var;                                                                    \
        var = keep + h;                                                                       \
        double lp = norm_loss(ln, ROWS, C, x, w, b, dy);                                           \
        var = keep - h;                                                                       \
        double lm = norm_loss(ln, ROWS, C, x, w, b, dy);                                           \
        var = keep;                                                                           \
        double e = fabs((lp - lm) / (2 * h) - (analytic)) / fmax(1.0, fabs(analytic));        \
        if (e > worst) worst = e;                                                             \
    } while (0)
    for (int i = 0; i < N; i++) FD(x[i], dx[i]);
    for (int c = 0; c < C; c++) {
        FD(w[c], dw[c]);
        if (ln) FD(b[c], db[c]);
    }
#undef FD
    CHECK(worst < 1e-7, "%s reference backward vs finite differences: %.3g", ln ? "LayerNorm" : "RMSNorm", worst);
}

static void check_references(void)
{
    check_fd();
    check_dyt_fd(REF_DYT, (ref_shape){3 * 7, 7, 7, 0});
    check_dyt_fd(REF_DERF, (ref_shape){3 * 7, 7, 7, 0});
    check_dyt_fd(REF_DYT, (ref_shape){2 * 3 * 4, 3, 4, 1});
    check_dyt_fd(REF_DERF, (ref_shape){2 * 3 * 4, 3, 4, 1});
    check_norm_fd(0);
    check_norm_fd(1);
}

int main(int argc, char **argv)
{
    const char *dts = argc > 1 ? argv[1] : "all", *group = argc > 2 ? argv[2] : NULL;
    const char *names[3] = {"f32", "f16", "bf16"}, *cache = getenv("DYTCL_CACHE_DIR");
    int which = !strcmp(dts, "all") ? OP_EVERY : 0;
    for (int d = 0; d < 3; d++)
        if (!strcmp(dts, names[d])) which = 1 << d;
    if (!which || (group && strcmp(group, "dyt") && strcmp(group, "norm") && strcmp(group, "ops"))) {
        fprintf(stderr, "usage: test_ops [f32|f16|bf16|all [dyt|norm|ops]]\n");
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "test_ops %s%s%s", dts, group ? " " : "", group ? group : "");
    if (which & OP_F32) check_references();
    for (int d = 0; d < 3; d++)
        if (which & (1 << d)) check_failures += op_run_table((dytcl_dtype)d, group, cache, &rng);
    if (which & OP_F32) {
        dytcl_ctx *ctx = check_ctx(cache);
        check_failures += op_extra(ctx, &rng);
        dytcl_ctx_free(ctx);
    }
    return check_done(name);
}
