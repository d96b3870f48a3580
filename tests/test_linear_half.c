/* test_linear_half.c -- dytcl_linear_forward with f16 and bf16 weights
 * (inference) against a float64 reference computed on the rounded weights,
 * on every path: the matrix-vector kernel (rows <= 4) and the widened
 * float32 GEMM (more rows, or DYTCL_GEMV=0), at odd shapes (in not a
 * multiple of 8, out 1, 3, 257) and odd offsets.
 *
 * The weights the device holds are exactly the rounded ones, so the only
 * error left is float32 summation: about sqrt(in) * 2^-24 relative, and
 * TOL = 1e-5 (as test_linear) has room for any summation order, while a
 * wrong element, a missed tail or a misread half (say f16 bits read as bf16)
 * is orders of magnitude off. Outputs are NaN before the call; the words
 * around y are a sentinel that must survive. Against the unrounded float
 * weights the result differs by about the format's unit roundoff (f16 2^-11,
 * bf16 2^-9) times a factor of order one for random weights: checked to stay
 * under 4u, and to be non-zero (the device really read rounded weights). */
#include <stdint.h>
#include <stdlib.h>

#include "dev_util.h"

static unsigned long long rng = 1234;
static const double TOL = 1e-5;
enum { GAP = 5 };
#define SENTINEL 12345.0f

/* A buffer of n floats: GAP sentinels, v (or NaN), GAP sentinels; the view
 * starts at GAP. */
static dytcl_buf *floats_with_gaps(dytcl_ctx *ctx, const double *v, size_t n)
{
    return dev_from_gapped(ctx, v, n, GAP, SENTINEL);
}

static void run_case(dytcl_ctx *ctx, dytcl_dtype dt, int rows, int in, int out, int bias, const char *path)
{
    const size_t nx = (size_t)rows * in, nw = (size_t)out * in, ny = (size_t)rows * out;
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *wr = malloc(nw * sizeof *wr);
    double *b = malloc((size_t)out * sizeof *b), *want = malloc(ny * sizeof *want), *loose = malloc(ny * sizeof *loose);
    uint16_t *wh = malloc((nw + 2 * GAP) * sizeof *wh);
    rand_fill(x, nx, &rng, -1, 1), round_float(x, nx);
    rand_fill(w, nw, &rng, -1, 1), round_float(w, nw);
    rand_fill(b, (size_t)out, &rng, -1, 1), round_float(b, (size_t)out);
    for (size_t i = 0; i < nw + 2 * GAP; i++) wh[i] = dt == DYTCL_F16 ? 0x7e00 : 0x7fc0; /* NaN around W */
    for (size_t i = 0; i < nw; i++) {
        wh[GAP + i] = dytcl_half_from_float((float)w[i], dt);
        wr[i] = dytcl_half_to_float(wh[GAP + i], dt);
    }
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = bias ? b[o] : 0, t = s;
            for (int k = 0; k < in; k++) {
                s += x[(size_t)r * in + k] * wr[(size_t)o * in + k];
                t += x[(size_t)r * in + k] * w[(size_t)o * in + k];
            }
            want[(size_t)r * out + o] = s, loose[(size_t)r * out + o] = t;
        }
    dytcl_buf *bx = floats_with_gaps(ctx, x, nx), *by = floats_with_gaps(ctx, NULL, ny);
    dytcl_buf *bb = floats_with_gaps(ctx, b, (size_t)out), *bw = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, (nw + 2 * GAP) * 2, &bw));
    if (bw) CHECK_OK(ctx, dytcl_buf_write(ctx, bw, 0, wh, (nw + 2 * GAP) * 2));
    dytcl_tensor W = dytcl_tensor_as(dytcl_tensor_2d(bw, GAP, out, in), dt);
    dytcl_tensor bt = bias ? dytcl_tensor_1d(bb, GAP, out) : (dytcl_tensor){0};
    CHECK_OK(ctx, dytcl_linear_forward(ctx, dytcl_tensor_2d(by, GAP, rows, out), dytcl_tensor_2d(bx, GAP, rows, in), W, bt));
    float *got = malloc((ny + 2 * GAP) * sizeof *got);
    CHECK_OK(ctx, dytcl_buf_read(ctx, by, 0, got, (ny + 2 * GAP) * sizeof *got));
    double *g = malloc(ny * sizeof *g);
    int outside = 0;
    for (size_t i = 0; i < ny; i++) g[i] = got[GAP + i];
    for (int i = 0; i < GAP; i++) outside += got[i] != SENTINEL || got[GAP + ny + i] != SENTINEL;
    const double e = rel_err(g, want, ny), el = rel_err(g, loose, ny);
    const double u = dt == DYTCL_F16 ? 0x1p-11 : 0x1p-9;
    CHECK(e <= TOL, "%s %s rows %d in %d out %d bias %d: relative error %.3g against the rounded weights",
          dytcl_dtype_name(dt), path, rows, in, out, bias, e);
    /* a single product (in 1) of a weight that happens to be exact can match */
    CHECK(el <= 4 * u && (el > 0 || in < 8), "%s %s rows %d in %d out %d: %.3g from the unrounded weights (u = %.3g)",
          dytcl_dtype_name(dt), path, rows, in, out, el, u);
    CHECK(outside == 0, "%s %s rows %d in %d out %d: %d words around y changed", dytcl_dtype_name(dt), path, rows, in,
          out, outside);
    dytcl_buf_free(bx), dytcl_buf_free(by), dytcl_buf_free(bb), dytcl_buf_free(bw);
    free(x), free(w), free(wr), free(b), free(want), free(loose), free(wh), free(got), free(g);
}

/* What takes only float32 weights says so, naming W. */
static void refusals(dytcl_ctx *ctx)
{
    dytcl_buf *buf = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, 4096, &buf));
    dytcl_tensor x = dytcl_tensor_2d(buf, 0, 2, 8), y = dytcl_tensor_2d(buf, 16, 2, 4);
    dytcl_tensor W = dytcl_tensor_as(dytcl_tensor_2d(buf, 128, 4, 8), DYTCL_BF16);
    dytcl_tensor dW = dytcl_tensor_2d(buf, 256, 4, 8);
    dytcl_status s = dytcl_linear_backward(ctx, x, dW, (dytcl_tensor){0}, 0, y, x, W);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "W") && strstr(dytcl_last_error(ctx), "bf16"),
          "backward with bf16 W: %s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    s = dytcl_gemm(ctx, 0, 1, 2, 4, 8, 1.0f, x, W, 0.0f, y);
    CHECK(s == DYTCL_ERR_INVALID_ARG, "gemm with a bf16 B: %s", dytcl_status_name(s));
    /* a half-width W past its buffer's end, counted in 2-byte elements */
    dytcl_tensor far = dytcl_tensor_as(dytcl_tensor_2d(buf, 2040, 4, 8), DYTCL_F16);
    s = dytcl_linear_forward(ctx, y, x, far, (dytcl_tensor){0});
    CHECK(s == DYTCL_ERR_INVALID_ARG, "f16 W past the buffer: %s", dytcl_status_name(s));
    /* x and y must stay float32 */
    s = dytcl_linear_forward(ctx, y, dytcl_tensor_as(x, DYTCL_F16), W, (dytcl_tensor){0});
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "x"), "f16 x: %s", dytcl_last_error(ctx));
    dytcl_buf_free(buf);
}

int main(void)
{
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    const int small = check_small();
    /* rows: 1..4 the matrix-vector kernel, 5 and 17 the widened GEMM */
    const int shapes[][3] = {{1, 67, 257}, {1, 13, 1}, {1, 1, 3}, {3, 259, 3}, {4, 64, 257}, {2, 7, 1},
                             {5, 67, 3}, {17, 13, 257}, {1, 520, 3}};
    const int n = small ? 4 : (int)(sizeof shapes / sizeof shapes[0]);
    for (int pass = 0; pass < 2; pass++) {
        const char *path = pass ? "DYTCL_GEMV=0" : "default";
        if (pass) setenv("DYTCL_GEMV", "0", 1);
        for (int d = 0; d < 2; d++)
            for (int i = 0; i < n; i++)
                run_case(ctx, d ? DYTCL_BF16 : DYTCL_F16, shapes[i][0], shapes[i][1], shapes[i][2], i % 2, path);
    }
    unsetenv("DYTCL_GEMV");
    refusals(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_linear_half");
}
