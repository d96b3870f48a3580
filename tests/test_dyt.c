/* test_dyt.c -- DyT and Derf (forward, backward, channels last and first),
 * the residual add and the fused residual + DyT, against float64 references
 * (tests/ref_norms.c), whose backward is itself checked against central
 * finite differences. Outputs are poisoned with NaN before every run. */
#include "dev_util.h"
#include "ref_norms.h"

static unsigned long long rng = 1234;

/* ---- the reference backward against finite differences of its forward */

/* L = sum(y * dy), the loss whose gradients the backward returns. */
static double loss(ref_act act, ref_shape s, const double *x, double alpha, double shift, const double *w,
                   const double *b, const double *dy)
{
    double *y = malloc(s.n * sizeof *y), l = 0;
    ref_dyt_forward(act, s, x, alpha, shift, w, b, y);
    for (size_t i = 0; i < s.n; i++) l += y[i] * dy[i];
    free(y);
    return l;
}

static void check_reference_gradients(ref_act act, ref_shape s)
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
        double lp = loss(act, s, x, alpha, shift, w, b, dy);                                   \
        var = keep - h;                                                                        \
        double lm = loss(act, s, x, alpha, shift, w, b, dy);                                   \
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

/* ---- one case on the device */

typedef struct {
    ref_act act;
    int dims[4], ndim; /* x's shape */
    dytcl_layout layout;
    int has_w, has_b;
    double lo, hi;     /* range of x */
} dyt_case;

static void run_case(dytcl_ctx *ctx, dyt_case tc)
{
    size_t n = 1;
    for (int i = 0; i < tc.ndim; i++) n *= (size_t)tc.dims[i];
    int C = tc.layout == DYTCL_CHANNELS_LAST ? tc.dims[tc.ndim - 1] : tc.dims[1];
    ref_shape s = {n, C, tc.layout == DYTCL_CHANNELS_LAST ? C : (int)(n / tc.dims[0] / C),
                   tc.layout == DYTCL_CHANNELS_FIRST};
    int derf = tc.act == REF_DERF;
    char what[160];
    snprintf(what, sizeof what, "%s %s [%d,%d,%d,%d] w%d b%d x in [%g,%g]", derf ? "derf" : "dyt",
             tc.layout ? "NCHW" : "rows", tc.dims[0], tc.dims[1], tc.ndim > 2 ? tc.dims[2] : 0,
             tc.ndim > 3 ? tc.dims[3] : 0, tc.has_w, tc.has_b, tc.lo, tc.hi);

    double *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *y = malloc(n * sizeof *y);
    double *dx = malloc(n * sizeof *dx), *w = malloc(C * sizeof *w), *b = malloc(C * sizeof *b);
    double *dw = malloc(C * sizeof *dw), *db = malloc(C * sizeof *db);
    double alpha = (float)check_rand(&rng, 0.2, 1.2), shift = derf ? (float)check_rand(&rng, -0.3, 0.3) : 0;
    double da, ds;
    rand_fill(x, n, &rng, tc.lo, tc.hi);
    if (n > 3) x[0] = 0.0, x[1] = -0.0, x[2] = 1e-8; /* zeros and tiny values */
    rand_fill(dy, n, &rng, -1, 1);
    rand_fill(w, (size_t)C, &rng, 0.5, 1.5);
    rand_fill(b, (size_t)C, &rng, -0.5, 0.5);
    round_float(x, n), round_float(dy, n), round_float(w, (size_t)C), round_float(b, (size_t)C);
    const double *wp = tc.has_w ? w : NULL, *bp = tc.has_b ? b : NULL;
    ref_dyt_forward(tc.act, s, x, alpha, shift, wp, bp, y);
    ref_dyt_backward(tc.act, s, x, dy, alpha, shift, wp, dx, &da, &ds, dw, db);

    dytcl_buf *bx = dev_from(ctx, x, n), *bdy = dev_from(ctx, dy, n), *by = dev_from(ctx, NULL, n);
    dytcl_buf *bdx = dev_from(ctx, NULL, n), *bw = dev_from(ctx, w, C), *bb = dev_from(ctx, b, C);
    double scal[2] = {alpha, shift};
    dytcl_buf *bsc = dev_from(ctx, scal, 2), *bdw = dev_from(ctx, NULL, C), *bdb = dev_from(ctx, NULL, C);
    dytcl_buf *bds = dev_from(ctx, NULL, 2);
    dytcl_tensor tx = {bx, 0, tc.ndim, {tc.dims[0], tc.dims[1], tc.dims[2], tc.dims[3]}, DYTCL_F32};
    dytcl_tensor ty = tx, tdy = tx, tdx = tx;
    ty.buf = by, tdy.buf = bdy, tdx.buf = bdx;
    dytcl_dyt_params p = {dytcl_tensor_1d(bsc, 0, 1), derf ? dytcl_tensor_1d(bsc, 1, 1) : (dytcl_tensor){0},
                          tc.has_w ? dytcl_tensor_1d(bw, 0, C) : (dytcl_tensor){0},
                          tc.has_b ? dytcl_tensor_1d(bb, 0, C) : (dytcl_tensor){0}, tc.layout};
    dytcl_dyt_grads g = {dytcl_tensor_1d(bds, 0, 1), derf ? dytcl_tensor_1d(bds, 1, 1) : (dytcl_tensor){0},
                         tc.has_w ? dytcl_tensor_1d(bdw, 0, C) : (dytcl_tensor){0},
                         tc.has_b ? dytcl_tensor_1d(bdb, 0, C) : (dytcl_tensor){0}, 0};

    CHECK_OK(ctx, (derf ? dytcl_derf_forward : dytcl_dyt_forward)(ctx, ty, tx, &p));
    CHECK_CLOSE(ctx, by, y, n, 1e-5, "%s forward", what);
    CHECK_OK(ctx, (derf ? dytcl_derf_backward : dytcl_dyt_backward)(ctx, tdx, &g, tdy, tx, &p));
    /* dx = dy * w * alpha * act', and act' is tiny where tanh saturates */
    double *scale = malloc(n * sizeof *scale);
    for (size_t e = 0; e < n; e++) {
        int c = tc.layout == DYTCL_CHANNELS_LAST ? (int)(e % (size_t)C) : (int)((e / (size_t)s.inner) % (size_t)C);
        scale[e] = dy[e] * (tc.has_w ? w[c] : 1.0) * alpha;
    }
    CHECK_CLOSE_SCALED(ctx, bdx, dx, scale, n, 1e-5, "%s dx", what);
    free(scale);
    if (tc.has_w) CHECK_CLOSE(ctx, bdw, dw, (size_t)C, 1e-5, "%s dweight", what);
    if (tc.has_b) CHECK_CLOSE(ctx, bdb, db, (size_t)C, 1e-5, "%s dbias", what);
    double sc[2] = {da, ds};
    CHECK_CLOSE(ctx, bds, sc, (size_t)(derf ? 2 : 1), 1e-4, "%s dalpha, dshift", what);

    /* The same bits on a second run. */
    float *first = malloc(n * sizeof *first), *second = malloc(n * sizeof *second);
    float fa[2], sa[2];
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdx, 0, first, n * sizeof *first));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bds, 0, fa, sizeof fa));
    CHECK_OK(ctx, (derf ? dytcl_derf_backward : dytcl_dyt_backward)(ctx, tdx, &g, tdy, tx, &p));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bdx, 0, second, n * sizeof *second));
    CHECK_OK(ctx, dytcl_buf_read(ctx, bds, 0, sa, sizeof sa));
    CHECK(!memcmp(first, second, n * sizeof *first) && !memcmp(fa, sa, sizeof fa),
          "%s: two backward runs differ", what);

    /* Accumulate adds to what is there (here: the previous run's gradients). */
    g.accumulate = 1;
    CHECK_OK(ctx, (derf ? dytcl_derf_backward : dytcl_dyt_backward)(ctx, tdx, &g, tdy, tx, &p));
    for (int c = 0; c < C; c++) dw[c] *= 2, db[c] *= 2;
    sc[0] *= 2, sc[1] *= 2;
    if (tc.has_w) CHECK_CLOSE(ctx, bdw, dw, (size_t)C, 1e-5, "%s accumulated dweight", what);
    if (tc.has_b) CHECK_CLOSE(ctx, bdb, db, (size_t)C, 1e-5, "%s accumulated dbias", what);
    CHECK_CLOSE(ctx, bds, sc, (size_t)(derf ? 2 : 1), 1e-4, "%s accumulated dalpha", what);

    dytcl_buf *all[] = {bx, bdy, by, bdx, bw, bb, bsc, bdw, bdb, bds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dytcl_buf_free(all[i]);
    free(x), free(dy), free(y), free(dx), free(w), free(b), free(dw), free(db), free(first), free(second);
}

/* ---- residual add + DyT, fused, against add then DyT in float64 */

static void run_residual(dytcl_ctx *ctx, int rows, int C)
{
    size_t n = (size_t)rows * C;
    ref_shape s = {n, C, C, 0};
    double *r = malloc(n * sizeof *r), *h = malloc(n * sizeof *h), *ro = malloc(n * sizeof *ro);
    double *y = malloc(n * sizeof *y), *dy = malloc(n * sizeof *dy), *dro = malloc(n * sizeof *dro);
    double *d = malloc(n * sizeof *d), *w = malloc(C * sizeof *w), *dw = malloc(C * sizeof *dw), da;
    rand_fill(r, n, &rng, -3, 3), rand_fill(h, n, &rng, -3, 3), rand_fill(dy, n, &rng, -1, 1);
    rand_fill(dro, n, &rng, -1, 1), rand_fill(w, (size_t)C, &rng, 0.5, 1.5);
    round_float(r, n), round_float(h, n), round_float(dy, n), round_float(dro, n), round_float(w, (size_t)C);
    double alpha = 0.5;
    for (size_t i = 0; i < n; i++) ro[i] = (float)(r[i] + h[i]); /* the device adds in float */
    ref_dyt_forward(REF_DYT, s, ro, alpha, 0, w, NULL, y);
    ref_dyt_backward(REF_DYT, s, ro, dy, alpha, 0, w, d, &da, NULL, dw, NULL);
    for (size_t i = 0; i < n; i++) d[i] += dro[i];

    dytcl_buf *br = dev_from(ctx, r, n), *bh = dev_from(ctx, h, n), *bro = dev_from(ctx, NULL, n);
    dytcl_buf *by = dev_from(ctx, NULL, n), *bdy = dev_from(ctx, dy, n), *bdro = dev_from(ctx, dro, n);
    dytcl_buf *bd = dev_from(ctx, NULL, n), *bw = dev_from(ctx, w, C), *ba = dev_from(ctx, &alpha, 1);
    dytcl_buf *bdw = dev_from(ctx, NULL, C), *bda = dev_from(ctx, NULL, 1), *bsum = dev_from(ctx, NULL, n);
    dytcl_dyt_params p = {dytcl_tensor_1d(ba, 0, 1), {0}, dytcl_tensor_1d(bw, 0, C), {0}, DYTCL_CHANNELS_LAST};
    dytcl_dyt_grads g = {dytcl_tensor_1d(bda, 0, 1), {0}, dytcl_tensor_1d(bdw, 0, C), {0}, 0};
#define T2(b) dytcl_tensor_2d(b, 0, rows, C)
    CHECK_OK(ctx, dytcl_add(ctx, T2(bsum), T2(br), T2(bh)));
    CHECK_CLOSE(ctx, bsum, ro, n, 0, "add %dx%d", rows, C);
    CHECK_OK(ctx, dytcl_residual_dyt_forward(ctx, T2(bro), T2(by), T2(br), T2(bh), &p));
    CHECK_CLOSE(ctx, bro, ro, n, 0, "residual r_out %dx%d", rows, C);
    CHECK_CLOSE(ctx, by, y, n, 1e-5, "residual y %dx%d", rows, C);
    CHECK_OK(ctx, dytcl_residual_dyt_backward(ctx, T2(bd), &g, T2(bdy), T2(bdro), T2(bro), &p));
    CHECK_CLOSE(ctx, bd, d, n, 1e-5, "residual d %dx%d", rows, C);
    CHECK_CLOSE(ctx, bdw, dw, (size_t)C, 1e-5, "residual dweight %dx%d", rows, C);
    CHECK_CLOSE(ctx, bda, &da, 1, 1e-4, "residual dalpha %dx%d", rows, C);
    /* in place: r_out aliasing r */
    CHECK_OK(ctx, dytcl_residual_dyt_forward(ctx, T2(br), T2(by), T2(br), T2(bh), &p));
    CHECK_CLOSE(ctx, br, ro, n, 0, "in-place residual %dx%d", rows, C);
#undef T2
    dytcl_buf *all[] = {br, bh, bro, by, bdy, bdro, bd, bw, ba, bdw, bda, bsum};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dytcl_buf_free(all[i]);
    free(r), free(h), free(ro), free(y), free(dy), free(dro), free(d), free(w), free(dw);
}

/* ---- bad arguments */

static void run_bad_args(dytcl_ctx *ctx)
{
    dytcl_buf *b = dev_from(ctx, NULL, 64);
    dytcl_tensor x = dytcl_tensor_2d(b, 0, 4, 8), y = dytcl_tensor_2d(b, 32, 4, 8);
    dytcl_dyt_params p = {dytcl_tensor_1d(b, 0, 1), {0}, dytcl_tensor_1d(b, 0, 8), {0}, DYTCL_CHANNELS_LAST};
    dytcl_dyt_grads g = {0};
    CHECK(dytcl_dyt_forward(ctx, y, x, NULL) == DYTCL_ERR_INVALID_ARG, "NULL params");
    CHECK(dytcl_dyt_forward(ctx, dytcl_tensor_2d(b, 32, 4, 7), x, &p) == DYTCL_ERR_INVALID_ARG, "y too small");
    p.weight = dytcl_tensor_1d(b, 0, 7);
    CHECK(dytcl_dyt_forward(ctx, y, x, &p) == DYTCL_ERR_INVALID_ARG, "weight of 7 for C = 8");
    CHECK(strstr(dytcl_last_error(ctx), "weight has 7 elements, expected 8") != NULL, "%s", dytcl_last_error(ctx));
    p.weight = dytcl_tensor_1d(b, 0, 8);
    p.alpha = (dytcl_tensor){0};
    CHECK(dytcl_dyt_forward(ctx, y, x, &p) == DYTCL_ERR_INVALID_ARG, "missing alpha");
    p.alpha = dytcl_tensor_1d(b, 0, 1);
    CHECK(dytcl_derf_forward(ctx, y, x, &p) == DYTCL_ERR_INVALID_ARG, "Derf without shift");
    g.dshift = dytcl_tensor_1d(b, 1, 1);
    CHECK(dytcl_dyt_backward(ctx, y, &g, y, x, &p) == DYTCL_ERR_INVALID_ARG, "dshift for DyT");
    CHECK(dytcl_dyt_backward(ctx, y, NULL, y, x, &p) == DYTCL_ERR_INVALID_ARG, "NULL grads");
    p.layout = DYTCL_CHANNELS_FIRST;
    CHECK(dytcl_residual_dyt_forward(ctx, y, y, x, x, &p) == DYTCL_ERR_UNSUPPORTED, "NCHW residual");
    p.layout = (dytcl_layout)7;
    CHECK(dytcl_dyt_forward(ctx, y, x, &p) == DYTCL_ERR_INVALID_ARG, "bad layout");
    CHECK(dytcl_add(ctx, y, x, dytcl_tensor_1d(b, 0, 31)) == DYTCL_ERR_INVALID_ARG, "add mismatch");
    dytcl_buf_free(b);
}

/* Every case on one context, which it frees. */
static void run_all(dytcl_ctx *ctx)
{
    const int shapes[][2] = {{1, 1}, {3, 7}, {1, 4097}, {37, 1000}, {5, 8}, {129, 17}, {512, 4096}};
    for (int a = 0; a < 2; a++) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            if (check_small() && (size_t)shapes[i][0] * shapes[i][1] > 5000) continue;
            for (int affine = 0; affine < 3; affine++) {
                dyt_case tc = {(ref_act)a, {shapes[i][0], shapes[i][1], 1, 1}, 2, DYTCL_CHANNELS_LAST,
                               affine > 0, affine > 1, -4, 4};
                run_case(ctx, tc);
            }
        }
        /* saturation: |alpha * x| far past where tanh and erf reach +-1 */
        run_case(ctx, (dyt_case){(ref_act)a, {16, 33, 1, 1}, 2, DYTCL_CHANNELS_LAST, 1, 1, -1e4, 1e4});
        /* channels first */
        run_case(ctx, (dyt_case){(ref_act)a, {2, 3, 5, 7}, 4, DYTCL_CHANNELS_FIRST, 1, 1, -4, 4});
        run_case(ctx, (dyt_case){(ref_act)a, {1, 4, 1, 1}, 4, DYTCL_CHANNELS_FIRST, 1, 0, -4, 4});
        run_case(ctx, (dyt_case){(ref_act)a, {3, 16, 9, 9}, 4, DYTCL_CHANNELS_FIRST, 0, 0, -4, 4});
    }
    run_residual(ctx, 3, 7);
    run_residual(ctx, 17, 768);
    if (!check_small()) run_residual(ctx, 64, 4095);
    run_bad_args(ctx);
    dytcl_ctx_free(ctx);
}

int main(void)
{
    check_reference_gradients(REF_DYT, (ref_shape){3 * 7, 7, 7, 0});
    check_reference_gradients(REF_DERF, (ref_shape){3 * 7, 7, 7, 0});
    check_reference_gradients(REF_DYT, (ref_shape){2 * 3 * 4, 3, 4, 1});
    check_reference_gradients(REF_DERF, (ref_shape){2 * 3 * 4, 3, 4, 1});

    /* Both kernel shapes of the backward: rows streamed per work-item (CPUs)
     * and columns per work-item (GPUs), whatever the device. */
    const char *shape_names[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        printf("kernel shape: %s\n", shape_names[sh]);
        run_all(check_ctx(getenv("DYTCL_TEST_CACHE")));
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_dyt");
}
