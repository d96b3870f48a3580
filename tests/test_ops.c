/* test_ops.c -- GELU, SwiGLU, RoPE, softmax + cross-entropy, the gradient
 * norm and AdamW against float64 references written here; every reference
 * backward checked by central finite differences; outputs poisoned first. */
#include <string.h>

#include "dev_util.h"

static unsigned long long rng = 2024;

/* ---- float64 references */

static double gelu(double x)
{
    return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static double silu(double a)
{
    return a / (1 + exp(-a));
}

/* x [rows of D] at positions p(row); sign +1 forward, -1 backward */
static void ref_rope(int B, int T, int H, int D, int off, double theta, double sign, const double *x, double *y)
{
    for (int row = 0; row < B * T * H; row++) {
        int pos = (row / H) % T + off;
        for (int i = 0; i < D / 2; i++) {
            double ang = pos * pow(theta, -2.0 * i / D), c = cos(ang), s = sin(ang) * sign;
            double x0 = x[row * D + 2 * i], x1 = x[row * D + 2 * i + 1];
            y[row * D + 2 * i] = x0 * c - x1 * s;
            y[row * D + 2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

/* loss[r] and dlogits (scale * (softmax - onehot)) */
static void ref_ce(int rows, int V, const double *z, const int *t, double scale, double *loss, double *dz)
{
    for (int r = 0; r < rows; r++) {
        const double *zr = z + (size_t)r * V;
        double m = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) m = fmax(m, zr[v]);
        for (int v = 0; v < V; v++) sum += exp(zr[v] - m);
        loss[r] = t[r] < 0 ? 0 : log(sum) + m - zr[t[r]];
        for (int v = 0; v < V; v++)
            dz[(size_t)r * V + v] = t[r] < 0 ? 0 : scale * (exp(zr[v] - m) / sum - (v == t[r]));
    }
}

/* ---- finite differences of the references' backward formulas */

static void check_fd(void)
{
    double worst = 0, h = 1e-6;
    for (double x = -4; x <= 4; x += 0.37) { /* GELU' */
        double t = tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
        double d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
        worst = fmax(worst, fabs((gelu(x + h) - gelu(x - h)) / (2 * h) - d));
    }
    for (double a = -4; a <= 4; a += 0.41) { /* SwiGLU' in a (b = 1.3) and b */
        double s = 1 / (1 + exp(-a)), b = 1.3;
        worst = fmax(worst, fabs((silu(a + h) * b - silu(a - h) * b) / (2 * h) - b * s * (1 + a * (1 - s))));
        worst = fmax(worst, fabs((silu(a) * (b + h) - silu(a) * (b - h)) / (2 * h) - a * s));
    }
    /* RoPE backward = the transpose of the forward: <R x, y> = <x, R^T y> */
    enum { D = 6 };
    double x[D], y[D], rx[D], ry[D], lhs = 0, rhs = 0;
    rand_fill(x, D, &rng, -1, 1), rand_fill(y, D, &rng, -1, 1);
    ref_rope(1, 1, 1, D, 5, 10000, 1, x, rx);
    ref_rope(1, 1, 1, D, 5, 10000, -1, y, ry);
    for (int i = 0; i < D; i++) lhs += rx[i] * y[i], rhs += x[i] * ry[i];
    worst = fmax(worst, fabs(lhs - rhs));
    /* cross-entropy: d(sum of losses * scale)/dz = dlogits */
    enum { V = 7 };
    double z[V], dz[V], l1, l2, dummy[V];
    int t = 3;
    rand_fill(z, V, &rng, -3, 3);
    ref_ce(1, V, z, &t, 0.5, &l1, dz);
    for (int v = 0; v < V; v++) {
        double keep = z[v];
        z[v] = keep + h, ref_ce(1, V, z, &t, 0.5, &l1, dummy);
        z[v] = keep - h, ref_ce(1, V, z, &t, 0.5, &l2, dummy);
        z[v] = keep;
        worst = fmax(worst, fabs(0.5 * (l1 - l2) / (2 * h) - dz[v]));
    }
    CHECK(worst < 1e-7, "reference backward vs finite differences: %.3g", worst);
}

/* ---- device checks */

static void run_act(dytcl_ctx *ctx, int n)
{
    double *a = malloc(n * 8), *b = malloc(n * 8), *dy = malloc(n * 8), *y = malloc(n * 8), *da = malloc(n * 8);
    double *db = malloc(n * 8);
    rand_fill(a, (size_t)n, &rng, -6, 6), rand_fill(b, (size_t)n, &rng, -2, 2), rand_fill(dy, (size_t)n, &rng, -1, 1);
    round_float(a, n), round_float(b, n), round_float(dy, n);
    dytcl_buf *ba = dev_from(ctx, a, n), *bb = dev_from(ctx, b, n), *bdy = dev_from(ctx, dy, n);
    dytcl_buf *by = dev_from(ctx, NULL, n), *bda = dev_from(ctx, NULL, n), *bdb = dev_from(ctx, NULL, n);
#define T(buf) dytcl_tensor_1d(buf, 0, n)
    for (int i = 0; i < n; i++) {
        double t = tanh(0.7978845608028654 * (a[i] + 0.044715 * a[i] * a[i] * a[i]));
        y[i] = gelu(a[i]);
        da[i] = dy[i] * (0.5 * (1 + t) + 0.5 * a[i] * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * a[i] * a[i]));
    }
    /* For x << 0, GELU is a difference of nearly equal terms (1 + tanh), in
     * float32 as in any float32 implementation: measure it against |x|, and
     * its gradient against dy. */
    CHECK_OK(ctx, dytcl_gelu_forward(ctx, T(by), T(ba)));
    CHECK_CLOSE_SCALED(ctx, by, y, a, (size_t)n, 1e-5, "gelu n=%d", n);
    CHECK_OK(ctx, dytcl_gelu_backward(ctx, T(bda), T(bdy), T(ba)));
    CHECK_CLOSE_SCALED(ctx, bda, da, dy, (size_t)n, 1e-5, "gelu backward n=%d", n);
    for (int i = 0; i < n; i++) {
        double s = 1 / (1 + exp(-a[i]));
        y[i] = silu(a[i]) * b[i];
        da[i] = dy[i] * b[i] * s * (1 + a[i] * (1 - s));
        db[i] = dy[i] * a[i] * s;
    }
    CHECK_OK(ctx, dytcl_swiglu_forward(ctx, T(by), T(ba), T(bb)));
    CHECK_CLOSE(ctx, by, y, (size_t)n, 1e-5, "swiglu n=%d", n);
    CHECK_OK(ctx, dytcl_swiglu_backward(ctx, T(bda), T(bdb), T(bdy), T(ba), T(bb)));
    CHECK_CLOSE(ctx, bda, da, (size_t)n, 1e-5, "swiglu da n=%d", n);
    CHECK_CLOSE(ctx, bdb, db, (size_t)n, 1e-5, "swiglu db n=%d", n);
#undef T
    dytcl_buf *all[] = {ba, bb, bdy, by, bda, bdb};
    for (int i = 0; i < 6; i++) dytcl_buf_free(all[i]);
    free(a), free(b), free(dy), free(y), free(da), free(db);
}

static void run_rope(dytcl_ctx *ctx, int B, int T, int H, int D, int off)
{
    size_t n = (size_t)B * T * H * D;
    double *x = malloc(n * 8), *y = malloc(n * 8), *back = malloc(n * 8);
    rand_fill(x, n, &rng, -1, 1), round_float(x, n);
    ref_rope(B, T, H, D, off, 10000, 1, x, y);
    dytcl_buf *bx = dev_from(ctx, x, n), *by = dev_from(ctx, NULL, n);
    dytcl_tensor tx = {bx, 0, 4, {B, T, H, D}}, ty = {by, 0, 4, {B, T, H, D}};
    CHECK_OK(ctx, dytcl_rope_forward(ctx, ty, tx, off, 10000.0f));
    /* float32 angles: error grows with the position (see the header) */
    double tol = off + T > 500 ? 2e-4 : 1e-5;
    CHECK_CLOSE(ctx, by, y, n, tol, "rope [%d,%d,%d,%d] offset %d", B, T, H, D, off);
    CHECK_OK(ctx, dytcl_rope_backward(ctx, ty, ty, off, 10000.0f)); /* in place, back to x */
    CHECK_CLOSE(ctx, by, x, n, tol, "rope round trip [%d,%d,%d,%d] offset %d", B, T, H, D, off);
    dytcl_buf_free(bx), dytcl_buf_free(by);
    free(x), free(y), free(back);
}

static void run_ce(dytcl_ctx *ctx, int rows, int V)
{
    size_t n = (size_t)rows * V;
    double *z = malloc(n * 8), *dz = malloc(n * 8), *loss = malloc(rows * 8);
    int *t = malloc(rows * sizeof *t);
    rand_fill(z, n, &rng, -8, 8), round_float(z, n);
    if (n > 2) z[1] = 80.0; /* a large logit: exp would overflow without the max */
    int kept = 0;
    for (int r = 0; r < rows; r++) {
        t[r] = (r % 5 == 4) ? -1 : (int)check_rand(&rng, 0, V);
        kept += t[r] >= 0;
    }
    double scale = kept ? 1.0 / kept : 1.0;
    ref_ce(rows, V, z, t, scale, loss, dz);
    dytcl_buf *bz = dev_from(ctx, z, n), *bdz = dev_from(ctx, NULL, n), *bl = dev_from(ctx, NULL, rows), *bt = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, rows * sizeof *t, &bt));
    CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, t, rows * sizeof *t));
    dytcl_tensor tz = dytcl_tensor_2d(bz, 0, rows, V), tdz = dytcl_tensor_2d(bdz, 0, rows, V);
    CHECK_OK(ctx, dytcl_cross_entropy(ctx, dytcl_tensor_1d(bl, 0, rows), tdz, tz, dytcl_tensor_1d(bt, 0, rows),
                                      (float)scale));
    CHECK_CLOSE(ctx, bl, loss, (size_t)rows, 1e-5, "cross-entropy loss %dx%d", rows, V);
    CHECK_CLOSE(ctx, bdz, dz, n, 1e-5, "cross-entropy dlogits %dx%d", rows, V);
    /* a bad target: NaN loss for that row, no crash */
    t[0] = V + 5;
    CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, t, sizeof *t));
    CHECK_OK(ctx, dytcl_cross_entropy(ctx, dytcl_tensor_1d(bl, 0, rows), (dytcl_tensor){0}, tz,
                                      dytcl_tensor_1d(bt, 0, rows), 1.0f));
    float l0;
    CHECK_OK(ctx, dytcl_buf_read(ctx, bl, 0, &l0, 4));
    CHECK(isnan(l0), "target out of range gave loss %g, not NaN", l0);
    dytcl_buf_free(bz), dytcl_buf_free(bdz), dytcl_buf_free(bl), dytcl_buf_free(bt);
    free(z), free(dz), free(loss), free(t);
}

static void run_optim(dytcl_ctx *ctx, int n)
{
    double *p = malloc(n * 8), *g = malloc(n * 8), *m = malloc(n * 8), *v = malloc(n * 8), *mask = malloc(n * 8);
    rand_fill(p, (size_t)n, &rng, -1, 1), rand_fill(g, (size_t)n, &rng, -2, 2);
    round_float(p, n), round_float(g, n);
    for (int i = 0; i < n; i++) m[i] = v[i] = 0, mask[i] = i % 3 != 0;
    dytcl_buf *bp = dev_from(ctx, p, n), *bg = dev_from(ctx, g, n), *bm = dev_from(ctx, m, n);
    dytcl_buf *bv = dev_from(ctx, v, n), *bmask = dev_from(ctx, mask, n), *bs = dev_from(ctx, NULL, 2);
#define T(buf) dytcl_tensor_1d(buf, 0, n)
    /* the norm, and the clipping scale for max_norm = 1 */
    double ss = 0;
    for (int i = 0; i < n; i++) ss += g[i] * g[i];
    double want[2] = {sqrt(ss), fmin(1.0, 1.0 / (sqrt(ss) + 1e-6))};
    CHECK_OK(ctx, dytcl_grad_norm(ctx, dytcl_tensor_1d(bs, 0, 1), dytcl_tensor_1d(bs, 1, 1), T(bg), 1.0f));
    CHECK_CLOSE(ctx, bs, want, 2, 1e-5, "grad norm n=%d", n);
    float first[2], again[2];
    CHECK_OK(ctx, dytcl_buf_read(ctx, bs, 0, first, 8));
    CHECK_OK(ctx, dytcl_grad_norm(ctx, dytcl_tensor_1d(bs, 0, 1), dytcl_tensor_1d(bs, 1, 1), T(bg), 1.0f));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bs, 0, again, 8));
    CHECK(!memcmp(first, again, 8), "grad norm differs between runs");
    /* three AdamW steps with the clipping scale read from the device */
    dytcl_adamw_config cfg = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
    for (int step = 1; step <= 3; step++) {
        CHECK_OK(ctx, dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), T(bmask), dytcl_tensor_1d(bs, 1, 1), &cfg, step));
        double c1 = 1 / (1 - pow(0.9f, step)), c2 = 1 / (1 - pow(0.95f, step));
        for (int i = 0; i < n; i++) {
            double gi = g[i] * (float)want[1];
            m[i] = 0.9f * m[i] + (1 - 0.9f) * gi;
            v[i] = 0.95f * v[i] + (1 - 0.95f) * gi * gi;
            p[i] -= 1e-2f * (m[i] * c1 / (sqrt(v[i] * c2) + 1e-8f) + 0.1f * mask[i] * p[i]);
        }
    }
    CHECK_CLOSE(ctx, bp, p, (size_t)n, 1e-5, "adamw params n=%d", n);
    CHECK_CLOSE(ctx, bm, m, (size_t)n, 1e-5, "adamw m n=%d", n);
    CHECK_CLOSE(ctx, bv, v, (size_t)n, 1e-5, "adamw v n=%d", n);
    cfg.lr = NAN;
    CHECK(dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), T(bmask), (dytcl_tensor){0}, &cfg, 4) == DYTCL_ERR_INVALID_ARG,
          "NaN learning rate accepted");
    cfg.lr = 1e-3f;
    CHECK(dytcl_adamw(ctx, T(bp), T(bg), T(bm), T(bv), T(bmask), (dytcl_tensor){0}, &cfg, 0) == DYTCL_ERR_INVALID_ARG,
          "step 0 accepted");
#undef T
    dytcl_buf *all[] = {bp, bg, bm, bv, bmask, bs};
    for (int i = 0; i < 6; i++) dytcl_buf_free(all[i]);
    free(p), free(g), free(m), free(v), free(mask);
}

/* Embedding forward and the deterministic backward, with a repeated token,
 * an unused one and an out-of-range one. */
static void run_embed(dytcl_ctx *ctx, int B, int T, int V, int C, int pos)
{
    int rows = B * T;
    int *tok = malloc(rows * sizeof *tok);
    for (int r = 0; r < rows; r++) tok[r] = r % 3 == 0 ? 1 : (int)check_rand(&rng, 0, V);
    tok[rows - 1] = V + 3; /* out of range */
    double *wte = malloc((size_t)V * C * 8), *wpe = malloc((size_t)T * C * 8), *dout = malloc((size_t)rows * C * 8);
    double *out = malloc((size_t)rows * C * 8), *dwte = calloc((size_t)V * C, 8), *dwpe = calloc((size_t)T * C, 8);
    rand_fill(wte, (size_t)V * C, &rng, -1, 1), rand_fill(wpe, (size_t)T * C, &rng, -1, 1);
    rand_fill(dout, (size_t)rows * C, &rng, -1, 1);
    round_float(wte, (size_t)V * C), round_float(wpe, (size_t)T * C), round_float(dout, (size_t)rows * C);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            int ok = tok[r] >= 0 && tok[r] < V;
            out[(size_t)r * C + c] = ok ? (float)(wte[(size_t)tok[r] * C + c] + (pos ? wpe[(size_t)(r % T) * C + c] : 0)) : NAN;
            if (ok) dwte[(size_t)tok[r] * C + c] += dout[(size_t)r * C + c];
            dwpe[(size_t)(r % T) * C + c] += dout[(size_t)r * C + c];
        }
    dytcl_buf *bt = NULL, *bwte = dev_from(ctx, wte, (size_t)V * C), *bwpe = dev_from(ctx, wpe, (size_t)T * C);
    dytcl_buf *bout = dev_from(ctx, NULL, (size_t)rows * C), *bdout = dev_from(ctx, dout, (size_t)rows * C);
    dytcl_buf *bdwte = dev_from(ctx, NULL, (size_t)V * C), *bdwpe = dev_from(ctx, NULL, (size_t)T * C);
    CHECK_OK(ctx, dytcl_buf_create(ctx, rows * sizeof *tok, &bt));
    CHECK_OK(ctx, dytcl_buf_write(ctx, bt, 0, tok, rows * sizeof *tok));
    dytcl_tensor tt = dytcl_tensor_1d(bt, 0, rows), tw = dytcl_tensor_2d(bwte, 0, V, C);
    dytcl_tensor tp = pos ? dytcl_tensor_2d(bwpe, 0, T, C) : (dytcl_tensor){0};
    CHECK_OK(ctx, dytcl_embedding_forward(ctx, dytcl_tensor_2d(bout, 0, rows, C), tt, tw, tp, T));
    CHECK_CLOSE(ctx, bout, out, (size_t)rows * C, 0, "embedding B=%d T=%d V=%d C=%d", B, T, V, C);
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(ctx, dytcl_embedding_backward(ctx, dytcl_tensor_2d(bdwte, 0, V, C),
                                               pos ? dytcl_tensor_2d(bdwpe, 0, T, C) : (dytcl_tensor){0}, pass,
                                               dytcl_tensor_2d(bdout, 0, rows, C), tt, T));
        CHECK_CLOSE(ctx, bdwte, dwte, (size_t)V * C, 1e-6, "embedding dwte pass %d V=%d C=%d", pass, V, C);
        if (pos) CHECK_CLOSE(ctx, bdwpe, dwpe, (size_t)T * C, 1e-6, "embedding dwpe pass %d", pass);
        for (size_t i = 0; i < (size_t)V * C; i++) dwte[i] *= 2;
        for (size_t i = 0; i < (size_t)T * C; i++) dwpe[i] *= 2;
    }
    /* the same bits twice */
    float *a = malloc((size_t)V * C * 4), *b = malloc((size_t)V * C * 4);
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(ctx, dytcl_embedding_backward(ctx, dytcl_tensor_2d(bdwte, 0, V, C), (dytcl_tensor){0}, 0,
                                               dytcl_tensor_2d(bdout, 0, rows, C), tt, T));
        CHECK_OK(ctx, dytcl_buf_read(ctx, bdwte, 0, rep ? b : a, (size_t)V * C * 4));
    }
    CHECK(!memcmp(a, b, (size_t)V * C * 4), "embedding backward differs between runs");
    CHECK(dytcl_embedding_forward(ctx, dytcl_tensor_2d(bout, 0, rows, C), tt, tw, tp, T + 1) == DYTCL_ERR_INVALID_ARG,
          "T that does not divide the tokens");
    dytcl_buf *all[] = {bt, bwte, bwpe, bout, bdout, bdwte, bdwpe};
    for (int i = 0; i < 7; i++) dytcl_buf_free(all[i]);
    free(tok), free(wte), free(wpe), free(dout), free(out), free(dwte), free(dwpe), free(a), free(b);
}

int main(void)
{
    check_fd();
    const char *shape_names[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
        if (sh == 0) {
            const int ns[] = {1, 3, 255, 256, 257, 4097, 100003};
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
                if (!check_small() || ns[i] < 5000) run_act(ctx, ns[i]), run_optim(ctx, ns[i]);
            run_rope(ctx, 1, 1, 1, 2, 0);
            run_rope(ctx, 2, 7, 3, 16, 0);
            run_rope(ctx, 1, 5, 4, 128, 3);
            run_rope(ctx, 1, 9, 2, 64, 1000);
            run_embed(ctx, 1, 1, 3, 1, 1);
            run_embed(ctx, 2, 7, 11, 33, 1);
            run_embed(ctx, 4, 64, 256, 48, 0);
        }
        run_ce(ctx, 1, 3);
        run_ce(ctx, 17, 257);
        if (!check_small()) run_ce(ctx, 3, 50257);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_ops");
}
