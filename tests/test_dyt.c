/* test_dyt.c -- DyT and Derf (forward, backward, channels last and first),
 * the residual add and the fused residual + DyT: the "dyt" cases of the op
 * table (op_cases.c: float64 references of ref_norms.c, NaN-poisoned
 * outputs, the same bits twice, both kernel shapes). Here: the reference
 * backward against central finite differences, and bad arguments. */
#include "dev_util.h"
#include "op_harness.h"
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

int main(void)
{
    check_reference_gradients(REF_DYT, (ref_shape){3 * 7, 7, 7, 0});
    check_reference_gradients(REF_DERF, (ref_shape){3 * 7, 7, 7, 0});
    check_reference_gradients(REF_DYT, (ref_shape){2 * 3 * 4, 3, 4, 1});
    check_reference_gradients(REF_DERF, (ref_shape){2 * 3 * 4, 3, 4, 1});

    /* the device: the "dyt" cases of the op table (op_cases.c) */
    check_failures += op_run_table("dyt", getenv("DYTCL_TEST_CACHE"), &rng);
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    run_bad_args(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_dyt");
}
