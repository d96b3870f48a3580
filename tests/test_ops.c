/* test_ops.c -- GELU, SwiGLU, scale, RoPE, softmax + cross-entropy (and its
 * mean), embeddings, the gradient norm and AdamW: the "ops" cases of the op
 * table (op_cases.c: float64 references of ref_ops.c, NaN-poisoned outputs,
 * the same bits twice, both kernel shapes); every reference backward checked
 * by central finite differences (or, for the linear ops, as the transpose of
 * the forward); bad arguments refused with a status. */
#include <limits.h>
#include <string.h>

#include "dev_util.h"
#include "op_harness.h"
#include "ref_ops.h"

#define NONE ((dytcl_tensor){0})

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

/* ---- device checks: op_cases.c holds the ops' results; here what a table
 * does not: accumulating and in-place scale, and refusals. */

/* What a table does not hold: SwiGLU refuses mismatched sizes. */
static void run_swiglu_refusal(dytcl_ctx *ctx, int n)
{
    dytcl_buf *ba = dev_from(ctx, NULL, n), *bb = dev_from(ctx, NULL, n), *by = dev_from(ctx, NULL, n);
    CHECK(dytcl_swiglu_forward(ctx, dytcl_tensor_1d(by, 0, n), dytcl_tensor_1d(ba, 0, n),
                               dytcl_tensor_1d(bb, 0, n > 1 ? n - 1 : 2)) == DYTCL_ERR_INVALID_ARG,
          "swiglu with b of another size");
    dytcl_buf_free(ba), dytcl_buf_free(bb), dytcl_buf_free(by);
}

/* The scale backward's ds accumulated and the backward in place (dx = dy);
 * bad sizes refused. (Forward and backward themselves: op_table.) */
static void run_scale(dytcl_ctx *ctx, int n)
{
    double *x = calloc(n, 8), *dy = calloc(n, 8), *dx = calloc(n, 8), s = 1.7, ds = 0;
    rand_fill(x, (size_t)n, &rng, -3, 3), rand_fill(dy, (size_t)n, &rng, -1, 1);
    round_float(x, n), round_float(dy, n);
    for (int i = 0; i < n; i++) dx[i] = (double)(float)s * dy[i], ds += dy[i] * x[i];
    dytcl_buf *bx = dev_from(ctx, x, n), *bdy = dev_from(ctx, dy, n), *by = dev_from(ctx, NULL, n);
    dytcl_buf *bdx = dev_from(ctx, NULL, n), *bs = dev_from(ctx, &s, 1), *bds = dev_from(ctx, NULL, 1);
#define T(buf) dytcl_tensor_1d(buf, 0, n)
    CHECK_OK(ctx, dytcl_scale_backward(ctx, T(bdx), dytcl_tensor_1d(bds, 0, 1), 0, T(bdy), T(bx),
                                       dytcl_tensor_1d(bs, 0, 1)));
    CHECK_CLOSE(ctx, bds, &ds, 1, 1e-5, "scale ds n=%d", n);
    double ds2 = 2 * ds;
    CHECK_OK(ctx, dytcl_scale_backward(ctx, T(bdy), dytcl_tensor_1d(bds, 0, 1), 1, T(bdy), T(bx),
                                       dytcl_tensor_1d(bs, 0, 1)));
    CHECK_CLOSE(ctx, bds, &ds2, 1, 1e-5, "scale ds accumulated n=%d", n);
    CHECK_CLOSE(ctx, bdy, dx, (size_t)n, 1e-7, "scale dx in place n=%d", n);
    CHECK(dytcl_scale_forward(ctx, T(by), T(bx), dytcl_tensor_1d(bx, 0, 2)) == DYTCL_ERR_INVALID_ARG,
          "scale with s of 2 elements");
    CHECK(dytcl_scale_forward(ctx, dytcl_tensor_1d(by, 0, n + 1), T(bx), dytcl_tensor_1d(bs, 0, 1)) ==
              DYTCL_ERR_INVALID_ARG, "scale with y of another size");
#undef T
    dytcl_buf *all[] = {bx, bdy, by, bdx, bs, bds};
    for (int i = 0; i < 6; i++) dytcl_buf_free(all[i]);
    free(x), free(dy), free(dx);
}

/* SwiGLU on a fused [rows, 2H] gate|up tensor, forward and backward, then
 * the backward in place (dab = ab). */

/* Bad arguments of the ops whose results op_cases.c checks: refused with a
 * status, never run. */
static void run_refusals(dytcl_ctx *ctx)
{
    enum { N = 64 };
    dytcl_buf *b = dev_from(ctx, NULL, N), *c = dev_from(ctx, NULL, N);
    dytcl_tensor x = dytcl_tensor_1d(b, 0, N), y = dytcl_tensor_1d(c, 0, N);
    /* SwiGLU packed: ab must be [rows, 2H] */
    CHECK(dytcl_swiglu_packed_forward(ctx, dytcl_tensor_2d(c, 0, 4, 8), dytcl_tensor_2d(b, 0, 4, 8)) ==
              DYTCL_ERR_INVALID_ARG, "swiglu packed with ab [rows, H]");
    /* scale rows: x must split into s's rows */
    CHECK(dytcl_scale_rows(ctx, y, x, dytcl_tensor_1d(c, 0, 5)) == DYTCL_ERR_INVALID_ARG, "scale rows: 64 in 5 rows");
    CHECK(dytcl_scale_rows(ctx, dytcl_tensor_1d(c, 0, 32), x, dytcl_tensor_1d(c, 0, 4)) == DYTCL_ERR_INVALID_ARG,
          "scale rows: y shorter than x");
    /* RoPE */
    dytcl_tensor r4 = {b, 0, 4, {1, 2, 2, 16}, DYTCL_F32}, q4 = {c, 0, 4, {1, 2, 2, 16}, DYTCL_F32};
    dytcl_tensor odd = {b, 0, 4, {1, 2, 32, 1}, DYTCL_F32}, three = {b, 0, 3, {1, 2, 32}, DYTCL_F32};
    CHECK(dytcl_rope_forward(ctx, odd, odd, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG, "rope with D = 1");
    CHECK(dytcl_rope_forward(ctx, three, three, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG, "rope on 3 dims");
    CHECK(dytcl_rope_forward(ctx, q4, r4, 0, NAN) == DYTCL_ERR_INVALID_ARG, "rope with theta NaN");
    CHECK(dytcl_rope_forward(ctx, q4, r4, -1, 10000.0f) == DYTCL_ERR_INVALID_ARG, "rope with offset -1");
    CHECK(dytcl_rope_forward(ctx, q4, r4, INT_MAX - 1, 10000.0f) == DYTCL_ERR_INVALID_ARG,
          "rope with positions past INT_MAX");
    /* the last positions an int holds: a table of the call's own positions */
    CHECK_OK(ctx, dytcl_rope_forward(ctx, q4, r4, INT_MAX - 2, 10000.0f));
    /* cross-entropy: logits [4, 8], targets [4] */
    int ids[4] = {0, 1, 2, -1};
    dytcl_buf *bt = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, sizeof ids, &bt));
    if (bt) CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, ids, sizeof ids));
    dytcl_tensor z = dytcl_tensor_2d(b, 0, 4, 8), dz = dytcl_tensor_2d(c, 0, 4, 8), tt = dytcl_tensor_1d(bt, 0, 4);
    dytcl_tensor loss = dytcl_tensor_1d(c, 32, 4), mean = dytcl_tensor_1d(c, 40, 1);
    CHECK(dytcl_cross_entropy(ctx, loss, dz, z, tt, NAN) == DYTCL_ERR_INVALID_ARG, "grad_scale NaN");
    CHECK(dytcl_cross_entropy_smoothed(ctx, loss, dz, z, tt, -0.1f, 1.0f) == DYTCL_ERR_INVALID_ARG,
          "label smoothing -0.1");
    CHECK(dytcl_cross_entropy_smoothed(ctx, loss, dz, z, tt, NAN, 1.0f) == DYTCL_ERR_INVALID_ARG, "label smoothing NaN");
    CHECK(dytcl_cross_entropy_smoothed(ctx, loss, dz, z, tt, 1.5f, 1.0f) == DYTCL_ERR_INVALID_ARG, "label smoothing 1.5");
    CHECK(dytcl_cross_entropy(ctx, loss, dz, z, dytcl_tensor_1d(bt, 0, 3), 1.0f) == DYTCL_ERR_INVALID_ARG,
          "targets too short");
    CHECK(dytcl_cross_entropy_mean(ctx, mean, loss, dytcl_tensor_1d(bt, 0, 3)) == DYTCL_ERR_INVALID_ARG,
          "mean: targets too short");
    CHECK(dytcl_cross_entropy(ctx, loss, dytcl_tensor_1d(c, 0, 31), z, tt, 1.0f) == DYTCL_ERR_INVALID_ARG,
          "dlogits with fewer elements");
    /* embeddings: tokens [4], wte [4, 8], T = 2 */
    dytcl_tensor wte = dytcl_tensor_2d(b, 32, 4, 8), out = dytcl_tensor_2d(c, 0, 4, 8);
    CHECK(dytcl_embedding_forward(ctx, out, tt, wte, NONE, 3) == DYTCL_ERR_INVALID_ARG,
          "T that does not divide the tokens");
    CHECK(dytcl_embedding_forward(ctx, out, tt, dytcl_tensor_1d(b, 32, 32), NONE, 2) == DYTCL_ERR_INVALID_ARG,
          "wte not 2-D");
    CHECK(dytcl_embedding_backward(ctx, wte, NONE, 0, dytcl_tensor_1d(c, 0, 31), tt, 2) == DYTCL_ERR_INVALID_ARG,
          "dout of another size");
    /* the gradient norm and AdamW: params, grads, m, v of 16 */
    dytcl_tensor p = dytcl_tensor_1d(b, 0, 16), g = dytcl_tensor_1d(b, 16, 16), m = dytcl_tensor_1d(c, 0, 16);
    dytcl_tensor v = dytcl_tensor_1d(c, 16, 16), norm = dytcl_tensor_1d(c, 32, 1), scale = dytcl_tensor_1d(c, 33, 1);
    const dytcl_adamw_config cfg = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
    const float bad[] = {NAN, INFINITY};
    for (int q = 0; q < 2; q++)
        for (int f = 0; f < 5; f++) {
            dytcl_adamw_config cf = cfg;
            float *field[5] = {&cf.lr, &cf.beta1, &cf.beta2, &cf.eps, &cf.weight_decay};
            *field[f] = bad[q];
            CHECK(dytcl_adamw(ctx, p, g, m, v, NONE, NONE, &cf, 5) == DYTCL_ERR_INVALID_ARG,
                  "adamw accepted %g in field %d", bad[q], f);
        }
    dytcl_adamw_config cf = cfg;
    cf.beta1 = 1.0f;
    CHECK(dytcl_adamw(ctx, p, g, m, v, NONE, NONE, &cf, 5) == DYTCL_ERR_INVALID_ARG, "beta1 = 1");
    CHECK(dytcl_adamw(ctx, p, g, m, v, NONE, NONE, &cfg, 0) == DYTCL_ERR_INVALID_ARG, "step 0");
    CHECK(dytcl_adamw(ctx, p, g, m, v, NONE, NONE, NULL, 5) == DYTCL_ERR_INVALID_ARG, "cfg NULL");
    CHECK(dytcl_adamw(ctx, p, g, dytcl_tensor_1d(c, 0, 15), v, NONE, NONE, &cfg, 5) == DYTCL_ERR_INVALID_ARG,
          "m of another size");
    CHECK(dytcl_grad_norm(ctx, norm, scale, g, NAN) == DYTCL_ERR_INVALID_ARG, "grad norm max_norm NaN");
    CHECK(dytcl_grad_norm(ctx, NONE, scale, g, 1.0f) == DYTCL_ERR_INVALID_ARG, "grad norm without norm");
    (void)x, (void)y;
    dytcl_buf_free(b), dytcl_buf_free(c), dytcl_buf_free(bt);
}

int main(void)
{
    check_fd();
    check_failures += op_run_table("ops", getenv("DYTCL_TEST_CACHE"), &rng);
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    const int ns[] = {1, 3, 255, 256, 257, 4097, 100003};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        if (!check_small() || ns[i] < 5000) run_swiglu_refusal(ctx, ns[i]), run_scale(ctx, ns[i]);
    run_refusals(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_ops");
}
