/* test_rmsnorm.c -- RMSNorm, LayerNorm and residual + RMSNorm: the "norm"
 * cases of the op table (op_cases.c: float64 references of ref_norms.c,
 * NaN-poisoned outputs, the same bits twice, both kernel shapes: a row per
 * work-item, a row per work-group). Here: the reference backward against
 * central finite differences, and bad arguments. */
#include <string.h>

#include "dev_util.h"
#include "op_harness.h"
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

#define T1(buf, k) dytcl_tensor_1d(buf, 0, k)

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
    /* the device: the "norm" cases of the op table (op_cases.c) */
    check_failures += op_run_table("norm", getenv("DYTCL_TEST_CACHE"), &rng);
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    run_bad_args(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_rmsnorm");
}
