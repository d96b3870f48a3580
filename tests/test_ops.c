/* test_ops.c -- GELU, SwiGLU, RoPE, softmax + cross-entropy (and its mean),
 * embeddings, the gradient norm and AdamW against the float64 references of
 * ref_ops.c; every reference backward checked by central finite differences
 * (or, for the linear ops, as the transpose of the forward); outputs
 * poisoned with NaN first; reductions bit-identical on a second run; bad
 * arguments refused with a status. */
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
    CHECK(worst < 1e-7, "reference backward vs finite differences: %.3g", worst);
}

/* ---- device checks */

/* The elementwise ops as table entries (op_harness.h): inputs, outputs,
 * tolerances, a float64 reference and the call. */
#define SIZES {1, 3, 255, 256, 257, 4097, 100003}

static void ref_gelu_fwd(size_t n, const double *const *in, double *const *out)
{
    for (size_t i = 0; i < n; i++) out[0][i] = ref_gelu(in[0][i]);
}
static dytcl_status call_gelu_fwd(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_gelu_forward(ctx, out[0], in[0]);
}
/* in: dy, x; out: dx */
static void ref_gelu_bwd(size_t n, const double *const *in, double *const *out)
{
    for (size_t i = 0; i < n; i++) out[0][i] = in[0][i] * ref_gelu_grad(in[1][i]);
}
static dytcl_status call_gelu_bwd(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_gelu_backward(ctx, out[0], in[0], in[1]);
}
static void ref_swiglu_fwd(size_t n, const double *const *in, double *const *out)
{
    ref_swiglu((int)n, in[0], in[1], out[0]);
}
static dytcl_status call_swiglu_fwd(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_swiglu_forward(ctx, out[0], in[0], in[1]);
}
/* in: a, b, dy; out: da, db */
static void ref_swiglu_bwd(size_t n, const double *const *in, double *const *out)
{
    ref_swiglu_backward((int)n, in[0], in[1], in[2], out[0], out[1]);
}
static dytcl_status call_swiglu_bwd(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_swiglu_backward(ctx, out[0], out[1], in[2], in[0], in[1]);
}
/* in: x, s [1]; out: y = s x */
static void ref_scale_fwd(size_t n, const double *const *in, double *const *out)
{
    for (size_t i = 0; i < n; i++) out[0][i] = in[1][0] * in[0][i];
}
static dytcl_status call_scale_fwd(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_scale_forward(ctx, out[0], in[0], in[1]);
}
/* in: dy, x, s [1]; out: dx = s dy, ds [1] = sum dy x */
static void ref_scale_bwd(size_t n, const double *const *in, double *const *out)
{
    out[1][0] = 0;
    for (size_t i = 0; i < n; i++) out[0][i] = in[2][0] * in[0][i], out[1][0] += in[0][i] * in[1][i];
}
static dytcl_status call_scale_bwd(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_scale_backward(ctx, out[0], out[1], 0, in[0], in[1], in[2]);
}

/* in: g; out: ||g|| [1], the clipping scale min(1, 1 / (||g|| + 1e-6)) [1] */
static void ref_grad_norm(size_t n, const double *const *in, double *const *out)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += in[0][i] * in[0][i];
    out[0][0] = sqrt(ss), out[1][0] = fmin(1.0, 1.0 / (sqrt(ss) + 1e-6));
}
static dytcl_status call_grad_norm(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out)
{
    return dytcl_grad_norm(ctx, out[0], out[1], in[0], 1.0f);
}

/* For x << 0, GELU is a difference of nearly equal terms (1 + tanh), in
 * float32 as in any float32 implementation: it is measured against |x|, and
 * its gradient against dy (scaled_by). */
static const op_case op_table[] = {
    {"gelu", 1, 1, {{0, OP_EDGES, -6, 6}}, {{0, 1e-5, 1}}, SIZES, ref_gelu_fwd, call_gelu_fwd},
    {"gelu backward", 2, 1, {{0, OP_UNIFORM, -1, 1}, {0, OP_EDGES, -6, 6}}, {{0, 1e-5, 1}}, SIZES, ref_gelu_bwd,
     call_gelu_bwd},
    {"swiglu", 2, 1, {{0, OP_EDGES, -6, 6}, {0, OP_UNIFORM, -2, 2}}, {{0, 1e-5, 0}}, SIZES, ref_swiglu_fwd,
     call_swiglu_fwd},
    {"swiglu backward", 3, 2, {{0, OP_EDGES, -6, 6}, {0, OP_UNIFORM, -2, 2}, {0, OP_UNIFORM, -1, 1}},
     {{0, 1e-5, 0}, {0, 1e-5, 0}}, SIZES, ref_swiglu_bwd, call_swiglu_bwd},
    {"scale", 2, 1, {{0, OP_UNIFORM, -3, 3}, {1, OP_CONST, 1.7, 0}}, {{0, 1e-7, 0}}, SIZES, ref_scale_fwd,
     call_scale_fwd},
    {"scale backward", 3, 2, {{0, OP_UNIFORM, -1, 1}, {0, OP_UNIFORM, -3, 3}, {1, OP_CONST, 1.7, 0}},
     {{0, 1e-7, 0}, {1, 1e-5, 0}}, SIZES, ref_scale_bwd, call_scale_bwd},
    /* a reduction in both shapes: blocks of 8192 and a tail */
    {"grad norm", 1, 2, {{0, OP_UNIFORM, -2, 2}}, {{1, 1e-5, 0}, {1, 1e-5, 0}},
     {1, 3, 255, 256, 257, 4097, 100003, 8192 * 3 + 5}, ref_grad_norm, call_grad_norm},
};

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
static void run_swiglu_packed(dytcl_ctx *ctx, int rows, int H)
{
    size_t n = (size_t)rows * H;
    double *ab = malloc(2 * n * 8), *a = malloc(n * 8), *b = malloc(n * 8), *dy = malloc(n * 8), *y = malloc(n * 8);
    double *dab = malloc(2 * n * 8), *da = malloc(n * 8), *db = malloc(n * 8);
    rand_fill(ab, 2 * n, &rng, -6, 6), rand_fill(dy, n, &rng, -1, 1);
    round_float(ab, 2 * n), round_float(dy, n);
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int c = 0; c < H; c++) a[r * H + c] = ab[r * 2 * H + c], b[r * H + c] = ab[r * 2 * H + H + c];
    ref_swiglu((int)n, a, b, y);
    ref_swiglu_backward((int)n, a, b, dy, da, db);
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int c = 0; c < H; c++) dab[r * 2 * H + c] = da[r * H + c], dab[r * 2 * H + H + c] = db[r * H + c];
    dytcl_buf *bab = dev_from(ctx, ab, 2 * n), *bdy = dev_from(ctx, dy, n), *by = dev_from(ctx, NULL, n);
    dytcl_buf *bdab = dev_from(ctx, NULL, 2 * n);
    dytcl_tensor tab = dytcl_tensor_2d(bab, 0, rows, 2 * H), ty = dytcl_tensor_2d(by, 0, rows, H);
    dytcl_tensor tdy = dytcl_tensor_2d(bdy, 0, rows, H);
    CHECK_OK(ctx, dytcl_swiglu_packed_forward(ctx, ty, tab));
    CHECK_CLOSE(ctx, by, y, n, 1e-5, "swiglu packed [%d, 2x%d]", rows, H);
    CHECK_OK(ctx, dytcl_swiglu_packed_backward(ctx, dytcl_tensor_2d(bdab, 0, rows, 2 * H), tdy, tab));
    CHECK_CLOSE(ctx, bdab, dab, 2 * n, 1e-5, "swiglu packed backward [%d, 2x%d]", rows, H);
    CHECK_OK(ctx, dytcl_swiglu_packed_backward(ctx, tab, tdy, tab));
    CHECK_CLOSE(ctx, bab, dab, 2 * n, 1e-5, "swiglu packed backward in place [%d, 2x%d]", rows, H);
    CHECK(dytcl_swiglu_packed_forward(ctx, ty, dytcl_tensor_2d(bab, 0, rows, H)) == DYTCL_ERR_INVALID_ARG,
          "swiglu packed with ab [rows, H]");
    dytcl_buf_free(bab), dytcl_buf_free(bdy), dytcl_buf_free(by), dytcl_buf_free(bdab);
    free(ab), free(a), free(b), free(dy), free(y), free(dab), free(da), free(db);
}

static void run_rope(dytcl_ctx *ctx, int B, int T, int H, int D, int off)
{
    size_t n = (size_t)B * T * H * D;
    double *x = malloc(n * 8), *y = malloc(n * 8);
    rand_fill(x, n, &rng, -1, 1), round_float(x, n);
    ref_rope(B, T, H, D, off, 10000, 1, x, y);
    dytcl_buf *bx = dev_from(ctx, x, n), *by = dev_from(ctx, NULL, n);
    dytcl_tensor tx = {bx, 0, 4, {B, T, H, D}, DYTCL_F32}, ty = {by, 0, 4, {B, T, H, D}, DYTCL_F32};
    CHECK_OK(ctx, dytcl_rope_forward(ctx, ty, tx, off, 10000.0f));
    /* float32 angles: error grows with the position (see the header) */
    double tol = off + T > 500 ? 2e-4 : 1e-5;
    CHECK_CLOSE(ctx, by, y, n, tol, "rope [%d,%d,%d,%d] offset %d", B, T, H, D, off);
    CHECK_OK(ctx, dytcl_rope_backward(ctx, ty, ty, off, 10000.0f)); /* in place, back to x */
    CHECK_CLOSE(ctx, by, x, n, tol, "rope round trip [%d,%d,%d,%d] offset %d", B, T, H, D, off);
    /* another theta (LLaMA 3 uses 500000) */
    ref_rope(B, T, H, D, off, 500000, 1, x, y);
    CHECK_OK(ctx, dytcl_rope_forward(ctx, ty, tx, off, 500000.0f));
    CHECK_CLOSE(ctx, by, y, n, tol, "rope theta 5e5 [%d,%d,%d,%d] offset %d", B, T, H, D, off);
    dytcl_tensor odd = {bx, 0, 4, {B, T, H * D, 1}, DYTCL_F32}, three = {bx, 0, 3, {B, T, H * D}, DYTCL_F32};
    CHECK(dytcl_rope_forward(ctx, odd, odd, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG, "rope with D = 1");
    CHECK(dytcl_rope_forward(ctx, three, three, 0, 10000.0f) == DYTCL_ERR_INVALID_ARG, "rope on 3 dims");
    CHECK(dytcl_rope_forward(ctx, ty, tx, 0, NAN) == DYTCL_ERR_INVALID_ARG, "rope with theta NaN");
    CHECK(dytcl_rope_forward(ctx, ty, tx, -1, 10000.0f) == DYTCL_ERR_INVALID_ARG, "rope with offset -1");
    dytcl_buf_free(bx), dytcl_buf_free(by);
    free(x), free(y);
}

/* int32 ids into a device buffer: the int tensor convention (4-byte
 * elements of a dytcl_tensor). */
static dytcl_buf *dev_ints(dytcl_ctx *ctx, const int *v, int n)
{
    dytcl_buf *b = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, (size_t)n * sizeof *v, &b));
    if (b) CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, v, (size_t)n * sizeof *v));
    return b;
}

/* Cross-entropy with every fifth row ignored (-1), a logit of 80 (exp would
 * overflow without the max), its mean, and a target out of range. */
static void run_ce(dytcl_ctx *ctx, int rows, int V)
{
    size_t n = (size_t)rows * V;
    double *z = malloc(n * 8), *dz = malloc(n * 8), *loss = malloc(rows * 8);
    int *t = malloc(rows * sizeof *t);
    rand_fill(z, n, &rng, -8, 8), round_float(z, n);
    if (n > 2) z[1] = 80.0;
    int kept = 0;
    for (int r = 0; r < rows; r++) {
        t[r] = (r % 5 == 4) ? -1 : (int)check_rand(&rng, 0, V);
        kept += t[r] >= 0;
    }
    double scale = kept ? 1.0 / kept : 1.0, mean = 0;
    ref_ce(rows, V, z, t, scale, loss, dz);
    for (int r = 0; r < rows; r++) mean += loss[r] * scale;
    dytcl_buf *bz = dev_from(ctx, z, n), *bdz = dev_from(ctx, NULL, n), *bl = dev_from(ctx, NULL, rows);
    dytcl_buf *bm = dev_from(ctx, NULL, 1), *bt = dev_ints(ctx, t, rows);
    dytcl_tensor tz = dytcl_tensor_2d(bz, 0, rows, V), tdz = dytcl_tensor_2d(bdz, 0, rows, V);
    dytcl_tensor tl = dytcl_tensor_1d(bl, 0, rows), tt = dytcl_tensor_1d(bt, 0, rows), tm = dytcl_tensor_1d(bm, 0, 1);
    CHECK_OK(ctx, dytcl_cross_entropy(ctx, tl, tdz, tz, tt, (float)scale));
    CHECK_CLOSE(ctx, bl, loss, (size_t)rows, 1e-5, "cross-entropy loss %dx%d", rows, V);
    CHECK_CLOSE(ctx, bdz, dz, n, 1e-5, "cross-entropy dlogits %dx%d", rows, V);
    CHECK_OK(ctx, dytcl_cross_entropy_mean(ctx, tm, tl, tt));
    CHECK_CLOSE(ctx, bm, &mean, 1, 1e-5, "cross-entropy mean %dx%d", rows, V);
    float m1, m2;
    CHECK_OK(ctx, dytcl_buf_read(ctx, bm, 0, &m1, 4));
    CHECK_OK(ctx, dytcl_cross_entropy_mean(ctx, tm, tl, tt));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bm, 0, &m2, 4));
    CHECK(!memcmp(&m1, &m2, 4), "cross-entropy mean differs between runs: %.9g %.9g", m1, m2);
    /* in place: dlogits = logits */
    CHECK_OK(ctx, dytcl_cross_entropy(ctx, tl, tz, tz, tt, (float)scale));
    CHECK_CLOSE(ctx, bz, dz, n, 1e-5, "cross-entropy in place %dx%d", rows, V);
    /* a bad target: NaN loss for that row (and the mean), no crash */
    t[0] = V + 5;
    CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, t, sizeof *t));
    CHECK_OK(ctx, dytcl_cross_entropy(ctx, tl, NONE, tdz, tt, 1.0f));
    CHECK_OK(ctx, dytcl_cross_entropy_mean(ctx, tm, tl, tt));
    float l0;
    CHECK_OK(ctx, dytcl_buf_read(ctx, bl, 0, &l0, 4));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bm, 0, &m1, 4));
    CHECK(isnan(l0) && isnan(m1), "target out of range gave loss %g, mean %g, not NaN", l0, m1);
    /* every row ignored: losses, gradients and the mean are 0 */
    for (int r = 0; r < rows; r++) t[r] = -1;
    CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, t, rows * sizeof *t));
    CHECK_OK(ctx, dytcl_cross_entropy(ctx, tl, tdz, tdz, tt, 1.0f));
    CHECK_OK(ctx, dytcl_cross_entropy_mean(ctx, tm, tl, tt));
    for (size_t i = 0; i < n; i++) dz[i] = 0;
    mean = 0;
    CHECK_CLOSE(ctx, bdz, dz, n, 0, "all ignored dlogits %dx%d", rows, V);
    CHECK_CLOSE(ctx, bm, &mean, 1, 0, "all ignored mean %dx%d", rows, V);
    /* bad arguments */
    CHECK(dytcl_cross_entropy(ctx, tl, tdz, tz, tt, NAN) == DYTCL_ERR_INVALID_ARG, "grad_scale NaN");
    if (rows > 1) {
        dytcl_tensor short_t = dytcl_tensor_1d(bt, 0, rows - 1);
        CHECK(dytcl_cross_entropy(ctx, tl, tdz, tz, short_t, 1.0f) == DYTCL_ERR_INVALID_ARG, "targets too short");
        CHECK(dytcl_cross_entropy_mean(ctx, tm, tl, short_t) == DYTCL_ERR_INVALID_ARG, "mean: targets too short");
    }
    if (n > 1)
        CHECK(dytcl_cross_entropy(ctx, tl, dytcl_tensor_1d(bdz, 0, n - 1), tz, tt, 1.0f) == DYTCL_ERR_INVALID_ARG,
              "dlogits with fewer elements");
    dytcl_buf *all[] = {bz, bdz, bl, bm, bt};
    for (int i = 0; i < 5; i++) dytcl_buf_free(all[i]);
    free(z), free(dz), free(loss), free(t);
}

/* The gradient norm and clipping scale, then three AdamW steps that read the
 * scale from the device, against float64 (hyperparameters as float, as the
 * device sees them). */
static void run_optim(dytcl_ctx *ctx, int n)
{
    double *p = calloc(n, 8), *g = calloc(n, 8), *m = calloc(n, 8), *v = calloc(n, 8), *mask = malloc(n * 8);
    double *gs = malloc(n * 8);
    rand_fill(p, (size_t)n, &rng, -1, 1), rand_fill(g, (size_t)n, &rng, -2, 2);
    round_float(p, n), round_float(g, n);
    for (int i = 0; i < n; i++) mask[i] = i % 3 != 0;
    dytcl_buf *bp = dev_from(ctx, p, n), *bg = dev_from(ctx, g, n), *bm = dev_from(ctx, m, n);
    dytcl_buf *bv = dev_from(ctx, v, n), *bmask = dev_from(ctx, mask, n), *bs = dev_from(ctx, NULL, 2);
#define T(buf) dytcl_tensor_1d(buf, 0, n)
    double ss = 0;
    for (int i = 0; i < n; i++) ss += g[i] * g[i];
    double want[2] = {sqrt(ss), fmin(1.0, 1.0 / (sqrt(ss) + 1e-6))};
    dytcl_tensor tnorm = dytcl_tensor_1d(bs, 0, 1), tscale = dytcl_tensor_1d(bs, 1, 1);
    CHECK_OK(ctx, dytcl_grad_norm(ctx, tnorm, tscale, T(bg), 1.0f));
    CHECK_CLOSE(ctx, bs, want, 2, 1e-5, "grad norm n=%d", n);
    float first[2], again[2];
    CHECK_OK(ctx, dytcl_buf_read(ctx, bs, 0, first, 8));
    CHECK_OK(ctx, dytcl_grad_norm(ctx, tnorm, tscale, T(bg), 1.0f));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bs, 0, again, 8));
    CHECK(!memcmp(first, again, 8), "grad norm differs between runs");
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
    dytcl_adamw_config cfg = {lr, b1, b2, eps, wd};
    for (int i = 0; i < n; i++) gs[i] = g[i] * (double)first[1];
    for (int step = 1; step <= 3; step++) {
        CHECK_OK(ctx, dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), T(bmask), tscale, &cfg, step));
        ref_adamw(n, p, gs, m, v, mask, lr, b1, b2, eps, wd, step);
    }
    CHECK_CLOSE(ctx, bp, p, (size_t)n, 1e-5, "adamw params n=%d", n);
    CHECK_CLOSE(ctx, bm, m, (size_t)n, 1e-5, "adamw m n=%d", n);
    CHECK_CLOSE(ctx, bv, v, (size_t)n, 1e-5, "adamw v n=%d", n);
    /* no mask, no scale: every parameter decays, the raw gradient */
    CHECK_OK(ctx, dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), NONE, NONE, &cfg, 4));
    ref_adamw(n, p, g, m, v, NULL, lr, b1, b2, eps, wd, 4);
    CHECK_CLOSE(ctx, bp, p, (size_t)n, 1e-5, "adamw step 4 without mask and scale n=%d", n);
    /* bad hyperparameters and arguments */
    const float bad[] = {NAN, INFINITY};
    for (int q = 0; q < 2; q++)
        for (int f = 0; f < 5; f++) {
            dytcl_adamw_config c = cfg;
            float *field[5] = {&c.lr, &c.beta1, &c.beta2, &c.eps, &c.weight_decay};
            *field[f] = bad[q];
            CHECK(dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), NONE, NONE, &c, 5) == DYTCL_ERR_INVALID_ARG,
                  "adamw accepted %g in field %d", bad[q], f);
        }
    dytcl_adamw_config c = cfg;
    c.beta1 = 1.0f;
    CHECK(dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), NONE, NONE, &c, 5) == DYTCL_ERR_INVALID_ARG, "beta1 = 1");
    CHECK(dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), NONE, NONE, &cfg, 0) == DYTCL_ERR_INVALID_ARG, "step 0");
    CHECK(dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), NONE, NONE, NULL, 5) == DYTCL_ERR_INVALID_ARG, "cfg NULL");
    CHECK(dytcl_adamw(ctx, T(bp), T(bg), dytcl_tensor_1d(bm, 0, n > 1 ? n - 1 : 1), T(bv), NONE, NONE, &cfg, 5) ==
              DYTCL_ERR_INVALID_ARG || n == 1,
          "m of another size");
    CHECK(dytcl_grad_norm(ctx, tnorm, tscale, T(bg), NAN) == DYTCL_ERR_INVALID_ARG, "grad norm max_norm NaN");
    CHECK(dytcl_grad_norm(ctx, NONE, tscale, T(bg), 1.0f) == DYTCL_ERR_INVALID_ARG, "grad norm without norm");
#undef T
    dytcl_buf *all[] = {bp, bg, bm, bv, bmask, bs};
    for (int i = 0; i < 6; i++) dytcl_buf_free(all[i]);
    free(p), free(g), free(m), free(v), free(mask), free(gs);
}

/* Embedding forward and the deterministic backward (write, then accumulate),
 * with a repeated token (a bucket past the heapsort threshold when there
 * are enough rows), unused ones and an out-of-range one. */
static void run_embed(dytcl_ctx *ctx, int B, int T, int V, int C, int pos)
{
    int rows = B * T;
    int *tok = malloc(rows * sizeof *tok);
    for (int r = 0; r < rows; r++) tok[r] = r % 3 == 0 ? 1 % V : (int)check_rand(&rng, 0, V);
    tok[rows - 1] = V + 3; /* out of range */
    size_t nw = (size_t)V * C, np = (size_t)T * C, no = (size_t)rows * C;
    double *wte = malloc(nw * 8), *wpe = malloc(np * 8), *dout = malloc(no * 8), *out = malloc(no * 8);
    double *dwte = calloc(nw, 8), *dwpe = calloc(np, 8);
    rand_fill(wte, nw, &rng, -1, 1), rand_fill(wpe, np, &rng, -1, 1), rand_fill(dout, no, &rng, -1, 1);
    round_float(wte, nw), round_float(wpe, np), round_float(dout, no);
    ref_embed(rows, T, V, C, tok, wte, pos ? wpe : NULL, out);
    round_float(out, no); /* one float addition on the device */
    ref_embed_backward(rows, T, V, C, tok, dout, dwte, pos ? dwpe : NULL);
    dytcl_buf *bt = dev_ints(ctx, tok, rows), *bwte = dev_from(ctx, wte, nw), *bwpe = dev_from(ctx, wpe, np);
    dytcl_buf *bout = dev_from(ctx, NULL, no), *bdout = dev_from(ctx, dout, no);
    dytcl_buf *bdwte = dev_from(ctx, NULL, nw), *bdwpe = dev_from(ctx, NULL, np);
    dytcl_tensor tt = dytcl_tensor_1d(bt, 0, rows), tw = dytcl_tensor_2d(bwte, 0, V, C);
    dytcl_tensor tp = pos ? dytcl_tensor_2d(bwpe, 0, T, C) : NONE, to = dytcl_tensor_2d(bout, 0, rows, C);
    dytcl_tensor tdw = dytcl_tensor_2d(bdwte, 0, V, C), tdp = pos ? dytcl_tensor_2d(bdwpe, 0, T, C) : NONE;
    dytcl_tensor tdo = dytcl_tensor_2d(bdout, 0, rows, C);
    CHECK_OK(ctx, dytcl_embedding_forward(ctx, to, tt, tw, tp, T));
    CHECK_CLOSE(ctx, bout, out, no, 0, "embedding B=%d T=%d V=%d C=%d", B, T, V, C);
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(ctx, dytcl_embedding_backward(ctx, tdw, tdp, pass, tdo, tt, T));
        CHECK_CLOSE(ctx, bdwte, dwte, nw, 1e-6, "embedding dwte pass %d B=%d T=%d V=%d C=%d", pass, B, T, V, C);
        if (pos) CHECK_CLOSE(ctx, bdwpe, dwpe, np, 1e-6, "embedding dwpe pass %d", pass);
        for (size_t i = 0; i < nw; i++) dwte[i] *= 2;
        for (size_t i = 0; i < np; i++) dwpe[i] *= 2;
    }
    /* the same bits twice */
    float *a = malloc(nw * 4), *b = malloc(nw * 4);
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(ctx, dytcl_embedding_backward(ctx, tdw, NONE, 0, tdo, tt, T));
        CHECK_OK(ctx, dytcl_buf_read(ctx, bdwte, 0, rep ? b : a, nw * 4));
    }
    CHECK(!memcmp(a, b, nw * 4), "embedding backward differs between runs");
    CHECK(dytcl_embedding_forward(ctx, to, tt, tw, tp, T + 1) == DYTCL_ERR_INVALID_ARG,
          "T that does not divide the tokens");
    CHECK(dytcl_embedding_forward(ctx, to, tt, dytcl_tensor_1d(bwte, 0, nw), tp, T) == DYTCL_ERR_INVALID_ARG,
          "wte not 2-D");
    CHECK(dytcl_embedding_backward(ctx, tdw, tdp, 0, dytcl_tensor_1d(bdout, 0, no > 1 ? no - 1 : 2), tt, T) ==
              DYTCL_ERR_INVALID_ARG, "dout of another size");
    dytcl_buf *all[] = {bt, bwte, bwpe, bout, bdout, bdwte, bdwpe};
    for (int i = 0; i < 7; i++) dytcl_buf_free(all[i]);
    free(tok), free(wte), free(wpe), free(dout), free(out), free(dwte), free(dwpe), free(a), free(b);
}

int main(void)
{
    check_fd();
    check_failures += op_run_table(op_table, (int)(sizeof op_table / sizeof op_table[0]), getenv("DYTCL_TEST_CACHE"),
                                   &rng);
    const char *shape_names[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
        if (sh == 0) { /* kernels with one shape */
            const int ns[] = {1, 3, 255, 256, 257, 4097, 100003};
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
                if (!check_small() || ns[i] < 5000) run_swiglu_refusal(ctx, ns[i]), run_optim(ctx, ns[i]), run_scale(ctx, ns[i]);
            run_swiglu_packed(ctx, 1, 1);
            run_swiglu_packed(ctx, 3, 5);
            run_swiglu_packed(ctx, 17, 257);
            run_rope(ctx, 1, 1, 1, 2, 0);
            run_rope(ctx, 2, 7, 3, 16, 0);
            run_rope(ctx, 1, 5, 4, 128, 3);
            run_rope(ctx, 3, 3, 2, 96, 17);
            run_rope(ctx, 1, 9, 2, 64, 1000);
            run_embed(ctx, 1, 1, 3, 1, 1);
            run_embed(ctx, 1, 3, 3, 5, 0);
            run_embed(ctx, 2, 7, 11, 33, 1);
            run_embed(ctx, 3, 17, 257, 257, 1);
            run_embed(ctx, 4, 64, 256, 48, 0);
            if (!check_small()) run_embed(ctx, 1, 5, 50257, 16, 1);
        }
        run_optim(ctx, 8192 * 3 + 5); /* grad norm in both shapes: blocks and a tail */
        run_ce(ctx, 1, 3);
        run_ce(ctx, 3, 1);
        run_ce(ctx, 17, 257);
        run_ce(ctx, 5, 33);
        if (!check_small()) run_ce(ctx, 3, 50257), run_ce(ctx, 1, 50257);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_ops");
}
