/* test_rmsnorm.c -- RMSNorm, LayerNorm and residual + RMSNorm against
 * float64 references (tests/ref_norms.c), whose backward is itself checked
 * against central finite differences; both kernel shapes (a row per
 * work-item, a row per work-group) on whatever device runs the test. */
#include <string.h>

#include "dev_util.h"
#include "ref_norms.h"

static unsigned long long rng = 99;

/* L = sum(y * dy) for the finite differences. */
static double loss(int ln, int rows, int C, const double *x, const double *w, const double *b, const double *dy)
{
    size_t n = (size_t)rows * C;
    double *y = malloc(n * sizeof *y), l = 0;
    if (ln) ref_layernorm_forward(rows, C, x, w, b, 1e-5, y, NULL, NULL);
    else ref_rmsnorm_forward(rows, C, x, w, 1e-5, y, NULL);
    for (size_t i = 0; i < n; i++) l += y[i] * dy[i];
    free(y);
    return l;
}

static void check_reference_gradients(int ln)
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
        double lp = loss(ln, ROWS, C, x, w, b, dy);                                           \
        var = keep - h;                                                                       \
        double lm = loss(ln, ROWS, C, x, w, b, dy);                                           \
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

/* One shape, one norm, with or without the affine parameters. */
static void run_case(dytcl_ctx *ctx, int ln, int rows, int C, int affine, double range)
{
    size_t n = (size_t)rows * C;
    char what[96];
    snprintf(what, sizeof what, "%s %dx%d affine %d range %g", ln ? "layernorm" : "rmsnorm", rows, C, affine, range);
    double *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *y = malloc(n * sizeof *y);
    double *dx = malloc(n * sizeof *dx), *w = malloc(C * sizeof *w), *b = malloc(C * sizeof *b);
    double *dw = malloc(C * sizeof *dw), *db = malloc(C * sizeof *db);
    double *mean = malloc(rows * sizeof *mean), *rstd = malloc(rows * sizeof *rstd);
    rand_fill(x, n, &rng, -range, range), rand_fill(dy, n, &rng, -1, 1);
    for (size_t i = 0; i < n; i++) x[i] += range; /* an offset LayerNorm must remove */
    rand_fill(w, (size_t)C, &rng, 0.5, 1.5), rand_fill(b, (size_t)C, &rng, -0.5, 0.5);
    round_float(x, n), round_float(dy, n), round_float(w, (size_t)C), round_float(b, (size_t)C);
    const double *wp = affine ? w : NULL, *bp = affine ? b : NULL;
    const double eps = 1e-5;
    if (ln) {
        ref_layernorm_forward(rows, C, x, wp, bp, eps, y, mean, rstd);
        ref_layernorm_backward(rows, C, x, wp, dy, eps, dx, dw, db);
    } else {
        ref_rmsnorm_forward(rows, C, x, wp, eps, y, rstd);
        ref_rmsnorm_backward(rows, C, x, wp, dy, eps, dx, dw);
    }
    double *scale = malloc(n * sizeof *scale); /* the gradient into the norm: rstd * dy * w */
    for (size_t i = 0; i < n; i++) scale[i] = rstd[i / (size_t)C] * dy[i] * (affine ? w[i % (size_t)C] : 1.0);
    dytcl_buf *bx = dev_from(ctx, x, n), *bdy = dev_from(ctx, dy, n), *by = dev_from(ctx, NULL, n);
    dytcl_buf *bdx = dev_from(ctx, NULL, n), *bw = dev_from(ctx, w, C), *bb = dev_from(ctx, b, C);
    dytcl_buf *bdw = dev_from(ctx, NULL, C), *bdb = dev_from(ctx, NULL, C);
    dytcl_buf *bm = dev_from(ctx, NULL, rows), *brs = dev_from(ctx, NULL, rows);
#define T2(buf) dytcl_tensor_2d(buf, 0, rows, C)
#define T1(buf, k) dytcl_tensor_1d(buf, 0, k)
    dytcl_tensor tw = affine ? T1(bw, C) : (dytcl_tensor){0}, tb = affine ? T1(bb, C) : (dytcl_tensor){0};
    dytcl_tensor tdb = ln ? T1(bdb, C) : (dytcl_tensor){0};
    for (int pass = 0; pass < 2; pass++) { /* pass 1: accumulate onto pass 0 */
        if (ln) CHECK_OK(ctx, dytcl_layernorm_forward(ctx, T2(by), T1(bm, rows), T1(brs, rows), T2(bx), tw, tb, (float)eps));
        else CHECK_OK(ctx, dytcl_rmsnorm_forward(ctx, T2(by), T1(brs, rows), T2(bx), tw, (float)eps));
        CHECK_CLOSE(ctx, by, y, n, 1e-5, "%s y", what);
        CHECK_CLOSE(ctx, brs, rstd, (size_t)rows, 1e-5, "%s rstd", what);
        if (ln) CHECK_CLOSE(ctx, bm, mean, (size_t)rows, 1e-5, "%s mean", what);
        if (ln) CHECK_OK(ctx, dytcl_layernorm_backward(ctx, T2(bdx), T1(bdw, C), tdb, pass, T2(bdy), T2(bx),
                                                       T1(bm, rows), T1(brs, rows), tw));
        else CHECK_OK(ctx, dytcl_rmsnorm_backward(ctx, T2(bdx), T1(bdw, C), pass, T2(bdy), T2(bx), T1(brs, rows), tw));
        CHECK_CLOSE_SCALED(ctx, bdx, dx, scale, n, 1e-5, "%s dx (pass %d)", what, pass);
        CHECK_CLOSE(ctx, bdw, dw, (size_t)C, 1e-5, "%s dweight (pass %d)", what, pass);
        if (ln) CHECK_CLOSE(ctx, bdb, db, (size_t)C, 1e-5, "%s dbias (pass %d)", what, pass);
        for (int c = 0; c < C; c++) dw[c] *= 2, db[c] *= 2; /* what pass 1 must reach */
    }
    /* bit-identical on a second run */
    float *a1 = malloc(n * 4), *a2 = malloc(n * 4), w1[1], w2[1];
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdx, 0, a1, n * 4));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdw, 0, w1, 4));
    CHECK_OK(ctx, dytcl_rmsnorm_backward(ctx, T2(bdx), T1(bdw, C), 1, T2(bdy), T2(bx), T1(brs, rows), tw));
    CHECK_OK(ctx, dytcl_rmsnorm_backward(ctx, T2(bdx), T1(bdw, C), 0, T2(bdy), T2(bx), T1(brs, rows), tw));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdw, 0, w2, 4));
    CHECK_OK(ctx, dytcl_rmsnorm_backward(ctx, T2(bdx), T1(bdw, C), 0, T2(bdy), T2(bx), T1(brs, rows), tw));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdx, 0, a2, n * 4));
    float w3[1];
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdw, 0, w3, 4));
    CHECK(!memcmp(w2, w3, 4), "%s: two backward runs differ", what);
    if (!ln) CHECK(!memcmp(a1, a2, n * 4), "%s: dx differs between runs", what);
    dytcl_buf *all[] = {bx, bdy, by, bdx, bw, bb, bdw, bdb, bm, brs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dytcl_buf_free(all[i]);
    free(x), free(dy), free(y), free(dx), free(w), free(b), free(dw), free(db), free(mean), free(rstd);
    free(a1), free(a2), free(scale);
}

/* r_out = r + h; y = rmsnorm(r_out); d = dr_out + rmsnorm'(dy) */
static void run_residual(dytcl_ctx *ctx, int rows, int C)
{
    size_t n = (size_t)rows * C;
    double *r = malloc(n * 8), *h = malloc(n * 8), *ro = malloc(n * 8), *y = malloc(n * 8), *dy = malloc(n * 8);
    double *dro = malloc(n * 8), *d = malloc(n * 8), *w = malloc(C * 8), *dw = malloc(C * 8), *rs = malloc(rows * 8);
    rand_fill(r, n, &rng, -2, 2), rand_fill(h, n, &rng, -2, 2), rand_fill(dy, n, &rng, -1, 1);
    rand_fill(dro, n, &rng, -1, 1), rand_fill(w, (size_t)C, &rng, 0.5, 1.5);
    round_float(r, n), round_float(h, n), round_float(dy, n), round_float(dro, n), round_float(w, (size_t)C);
    for (size_t i = 0; i < n; i++) ro[i] = (float)(r[i] + h[i]);
    ref_rmsnorm_forward(rows, C, ro, w, 1e-6, y, rs);
    ref_rmsnorm_backward(rows, C, ro, w, dy, 1e-6, d, dw);
    for (size_t i = 0; i < n; i++) d[i] += dro[i];
    dytcl_buf *br = dev_from(ctx, r, n), *bh = dev_from(ctx, h, n), *bro = dev_from(ctx, NULL, n);
    dytcl_buf *by = dev_from(ctx, NULL, n), *bdy = dev_from(ctx, dy, n), *bdro = dev_from(ctx, dro, n);
    dytcl_buf *bw = dev_from(ctx, w, C), *bdw = dev_from(ctx, NULL, C), *brs = dev_from(ctx, NULL, rows);
    CHECK_OK(ctx, dytcl_residual_rmsnorm_forward(ctx, T2(bro), T2(by), T1(brs, rows), T2(br), T2(bh), T1(bw, C), 1e-6f));
    CHECK_CLOSE(ctx, bro, ro, n, 0, "residual r_out %dx%d", rows, C);
    CHECK_CLOSE(ctx, by, y, n, 1e-5, "residual y %dx%d", rows, C);
    /* d written over dr_out: the documented aliasing */
    CHECK_OK(ctx, dytcl_residual_rmsnorm_backward(ctx, T2(bdro), T1(bdw, C), 0, T2(bdy), T2(bdro), T2(bro),
                                                  T1(brs, rows), T1(bw, C)));
    CHECK_CLOSE(ctx, bdro, d, n, 1e-5, "residual d %dx%d", rows, C);
    CHECK_CLOSE(ctx, bdw, dw, (size_t)C, 1e-5, "residual dweight %dx%d", rows, C);
    dytcl_buf *all[] = {br, bh, bro, by, bdy, bdro, bw, bdw, brs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dytcl_buf_free(all[i]);
    free(r), free(h), free(ro), free(y), free(dy), free(dro), free(d), free(w), free(dw), free(rs);
}

static void run_bad_args(dytcl_ctx *ctx)
{
    dytcl_buf *b = dev_from(ctx, NULL, 64);
    dytcl_tensor x = dytcl_tensor_2d(b, 0, 4, 8), y = dytcl_tensor_2d(b, 32, 4, 8);
    CHECK(dytcl_rmsnorm_forward(ctx, y, T1(b, 3), x, (dytcl_tensor){0}, 1e-5f) == DYTCL_ERR_INVALID_ARG, "rstd of 3 rows");
    CHECK(strstr(dytcl_last_error(ctx), "rstd has 3 elements, expected 4") != NULL, "%s", dytcl_last_error(ctx));
    CHECK(dytcl_rmsnorm_forward(ctx, y, T1(b, 4), x, (dytcl_tensor){0}, NAN) == DYTCL_ERR_INVALID_ARG, "NaN eps");
    CHECK(dytcl_rmsnorm_forward(ctx, y, (dytcl_tensor){0}, x, (dytcl_tensor){0}, 1e-5f) == DYTCL_ERR_INVALID_ARG,
          "no rstd");
    CHECK(dytcl_layernorm_forward(ctx, y, (dytcl_tensor){0}, T1(b, 4), x, T1(b, 8), T1(b, 8), 1e-5f) ==
              DYTCL_ERR_INVALID_ARG, "no mean");
    CHECK(dytcl_rmsnorm_backward(ctx, y, T1(b, 7), 0, y, x, T1(b, 4), (dytcl_tensor){0}) == DYTCL_ERR_INVALID_ARG,
          "dweight of 7");
    dytcl_buf_free(b);
}

int main(void)
{
    check_reference_gradients(0);
    check_reference_gradients(1);
    const int shapes[][2] = {{1, 1}, {3, 7}, {1, 4097}, {37, 1000}, {5, 8}, {129, 17}, {64, 768}, {512, 4096}};
    const char *shape_names[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
        printf("kernel shape: %s\n", shape_names[sh]);
        for (int ln = 0; ln < 2; ln++)
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                if (check_small() && (size_t)shapes[i][0] * shapes[i][1] > 5000) continue;
                for (int affine = 0; affine < 2; affine++) run_case(ctx, ln, shapes[i][0], shapes[i][1], affine, 3);
            }
        run_case(ctx, 1, 16, 300, 1, 1e3); /* large values with a large offset */
        run_case(ctx, 0, 16, 300, 1, 1e-3); /* small values: eps matters */
        run_residual(ctx, 3, 7);
        run_residual(ctx, 33, 1000);
        run_bad_args(ctx);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_rmsnorm");
}
