/* test_linear.c -- GEMM (every transpose, batched, offsets, beta) and linear
 * layers (forward with and without bias, backward, accumulate) against a
 * float64 reference, whose backward is checked by finite differences. */
#include "dev_util.h"

static unsigned long long rng = 77;

/* C = alpha op(A) op(B) + beta C, row-major, float64. */
static void ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const double *A, const double *B,
                     double beta, double *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k]) * (tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j]);
            C[(size_t)i * N + j] = alpha * s + beta * C[(size_t)i * N + j];
        }
}

static void run_gemm(dytcl_ctx *ctx, int ta, int tb, int M, int N, int K, int batch, double beta)
{
    const int off = 3; /* every matrix starts 3 floats into its buffer */
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    double *A = malloc((na * batch + off) * 8), *B = malloc((nb * batch + off) * 8), *C = malloc((nc * batch + off) * 8);
    rand_fill(A, na * batch + off, &rng, -1, 1), rand_fill(B, nb * batch + off, &rng, -1, 1);
    rand_fill(C, nc * batch + off, &rng, -1, 1);
    round_float(A, na * batch + off), round_float(B, nb * batch + off), round_float(C, nc * batch + off);
    dytcl_buf *ba = dev_from(ctx, A, na * batch + off), *bb = dev_from(ctx, B, nb * batch + off);
    dytcl_buf *bc = dev_from(ctx, beta != 0 ? C : NULL, nc * batch + off); /* beta = 0: C poisoned */
    if (beta == 0)
        for (size_t i = 0; i < nc * batch + off; i++) C[i] = i < (size_t)off ? NAN : 0; /* NaN * 0 must not leak */
    for (int i = 0; i < batch; i++)
        ref_gemm(ta, tb, M, N, K, 0.5, A + off + i * na, B + off + i * nb, beta, C + off + i * nc);
    dytcl_tensor tA = dytcl_tensor_1d(ba, off, (int64_t)na * batch), tB = dytcl_tensor_1d(bb, off, (int64_t)nb * batch);
    dytcl_tensor tC = dytcl_tensor_1d(bc, off, (int64_t)nc * batch);
    if (batch == 1) CHECK_OK(ctx, dytcl_gemm(ctx, ta, tb, M, N, K, 0.5f, tA, tB, (float)beta, tC));
    else CHECK_OK(ctx, dytcl_gemm_batched(ctx, ta, tb, M, N, K, 0.5f, tA, na, tB, nb, (float)beta, tC, nc, batch));
    CHECK_CLOSE(ctx, bc, C, nc * batch + off, 1e-5, "gemm %c%c M=%d N=%d K=%d batch %d beta %g", ta ? 'T' : 'N',
                tb ? 'T' : 'N', M, N, K, batch, beta);
    dytcl_buf_free(ba), dytcl_buf_free(bb), dytcl_buf_free(bc);
    free(A), free(B), free(C);
}

/* y = x W^T + b; L = sum(y * dy) for the finite differences. */
static void ref_linear(int rows, int in, int out, const double *x, const double *W, const double *b, double *y)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < in; i++) s += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * out + o] = s;
        }
}

static void ref_linear_backward(int rows, int in, int out, const double *x, const double *W, const double *dy,
                                double *dx, double *dW, double *db)
{
    for (size_t i = 0; i < (size_t)rows * in; i++) dx[i] = 0;
    for (size_t i = 0; i < (size_t)out * in; i++) dW[i] = 0;
    for (int o = 0; o < out; o++) db[o] = 0;
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double g = dy[(size_t)r * out + o];
            db[o] += g;
            for (int i = 0; i < in; i++) {
                dx[(size_t)r * in + i] += g * W[(size_t)o * in + i];
                dW[(size_t)o * in + i] += g * x[(size_t)r * in + i];
            }
        }
}

static void check_reference_gradients(void)
{
    enum { R = 3, I = 5, O = 4 };
    double x[R * I], W[O * I], b[O], dy[R * O], y[R * O], dx[R * I], dW[O * I], db[O], worst = 0, h = 1e-6;
    rand_fill(x, R * I, &rng, -1, 1), rand_fill(W, O * I, &rng, -1, 1), rand_fill(b, O, &rng, -1, 1);
    rand_fill(dy, R * O, &rng, -1, 1);
    ref_linear_backward(R, I, O, x, W, dy, dx, dW, db);
#define LOSS(l)                                                                                 \
    do {                                                                                        \
        ref_linear(R, I, O, x, W, b, y);                                                        \
        l = 0;                                                                                  \
        for (int q = 0; q < R * O; q++) l += y[q] * dy[q];                                      \
    } while (0)
#define FD(var, analytic)                                                                       \
    do {                                                                                        \
        double keep = var, lp, lm;                                                              \
        var = keep + h;                                                                         \
        LOSS(lp);                                                                               \
        var = keep - h;                                                                         \
        LOSS(lm);                                                                               \
        var = keep;                                                                             \
        double e = fabs((lp - lm) / (2 * h) - (analytic));                                      \
        if (e > worst) worst = e;                                                               \
    } while (0)
    for (int i = 0; i < R * I; i++) FD(x[i], dx[i]);
    for (int i = 0; i < O * I; i++) FD(W[i], dW[i]);
    for (int i = 0; i < O; i++) FD(b[i], db[i]);
#undef FD
#undef LOSS
    CHECK(worst < 1e-7, "linear reference backward vs finite differences: %.3g", worst);
}

static void run_linear(dytcl_ctx *ctx, int rows, int in, int out, int bias)
{
    size_t nx = (size_t)rows * in, nw = (size_t)out * in, ny = (size_t)rows * out;
    double *x = malloc(nx * 8), *W = malloc(nw * 8), *b = malloc(out * 8), *y = malloc(ny * 8), *dy = malloc(ny * 8);
    double *dx = malloc(nx * 8), *dW = malloc(nw * 8), *db = malloc(out * 8);
    rand_fill(x, nx, &rng, -1, 1), rand_fill(W, nw, &rng, -1, 1), rand_fill(b, (size_t)out, &rng, -1, 1);
    rand_fill(dy, ny, &rng, -1, 1);
    round_float(x, nx), round_float(W, nw), round_float(b, (size_t)out), round_float(dy, ny);
    ref_linear(rows, in, out, x, W, bias ? b : NULL, y);
    ref_linear_backward(rows, in, out, x, W, dy, dx, dW, db);
    dytcl_buf *bx = dev_from(ctx, x, nx), *bW = dev_from(ctx, W, nw), *bb = dev_from(ctx, b, out);
    dytcl_buf *by = dev_from(ctx, NULL, ny), *bdy = dev_from(ctx, dy, ny), *bdx = dev_from(ctx, NULL, nx);
    dytcl_buf *bdW = dev_from(ctx, NULL, nw), *bdb = dev_from(ctx, NULL, out);
    dytcl_tensor tx = dytcl_tensor_2d(bx, 0, rows, in), tW = dytcl_tensor_2d(bW, 0, out, in);
    dytcl_tensor tb = bias ? dytcl_tensor_1d(bb, 0, out) : (dytcl_tensor){0};
    dytcl_tensor ty = dytcl_tensor_2d(by, 0, rows, out), tdy = dytcl_tensor_2d(bdy, 0, rows, out);
    CHECK_OK(ctx, dytcl_linear_forward(ctx, ty, tx, tW, tb));
    CHECK_CLOSE(ctx, by, y, ny, 1e-5, "linear %dx%d->%d bias %d y", rows, in, out, bias);
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(ctx, dytcl_linear_backward(ctx, dytcl_tensor_2d(bdx, 0, rows, in), dytcl_tensor_2d(bdW, 0, out, in),
                                            dytcl_tensor_1d(bdb, 0, out), pass, tdy, tx, tW));
        CHECK_CLOSE(ctx, bdx, dx, nx, 1e-5, "linear %dx%d->%d dx pass %d", rows, in, out, pass);
        CHECK_CLOSE(ctx, bdW, dW, nw, 1e-5, "linear %dx%d->%d dW pass %d", rows, in, out, pass);
        CHECK_CLOSE(ctx, bdb, db, (size_t)out, 1e-5, "linear %dx%d->%d db pass %d", rows, in, out, pass);
        for (size_t i = 0; i < nw; i++) dW[i] *= 2; /* pass 1 accumulates onto pass 0 */
        for (int o = 0; o < out; o++) db[o] *= 2;
    }
    dytcl_buf *all[] = {bx, bW, bb, by, bdy, bdx, bdW, bdb};
    for (size_t i = 0; i < 8; i++) dytcl_buf_free(all[i]);
    free(x), free(W), free(b), free(y), free(dy), free(dx), free(dW), free(db);
}

static void run_bad_args(dytcl_ctx *ctx)
{
    dytcl_buf *b = dev_from(ctx, NULL, 64);
    dytcl_tensor t = dytcl_tensor_1d(b, 0, 64);
    CHECK(dytcl_gemm(ctx, 0, 0, 0, 4, 4, 1, t, t, 0, t) == DYTCL_ERR_INVALID_ARG, "M = 0");
    CHECK(dytcl_gemm(ctx, 0, 0, 9, 8, 2, 1, t, t, 0, t) == DYTCL_ERR_INVALID_ARG, "C too small for 9x8");
    CHECK(strstr(dytcl_last_error(ctx), "C: a 9 x 8 matrix") != NULL, "%s", dytcl_last_error(ctx));
    CHECK(dytcl_gemm(ctx, 0, 0, 2, 2, 2, NAN, t, t, 0, t) == DYTCL_ERR_INVALID_ARG, "NaN alpha");
    CHECK(dytcl_gemm(ctx, 0, 0, 2, 2, 2, 1, t, t, INFINITY, t) == DYTCL_ERR_INVALID_ARG, "inf beta");
    CHECK(dytcl_linear_forward(ctx, dytcl_tensor_2d(b, 0, 2, 4), dytcl_tensor_2d(b, 0, 2, 3), dytcl_tensor_2d(b, 0, 4, 5),
                               (dytcl_tensor){0}) == DYTCL_ERR_INVALID_ARG, "x [2,3] with W [4,5]");
    CHECK(strstr(dytcl_last_error(ctx), "x's last dimension is 3 but W is [4, 5]") != NULL, "%s", dytcl_last_error(ctx));
    dytcl_buf_free(b);
}

int main(void)
{
    check_reference_gradients();
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 5}, {64, 48, 130}, {129, 130, 131}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) run_gemm(ctx, ta, tb, shapes[i][0], shapes[i][1], shapes[i][2], 1, i % 2 ? 0.0 : 0.75);
    run_gemm(ctx, 0, 1, 7, 9, 16, 5, 0.0);   /* attention-like: QK^T per head */
    run_gemm(ctx, 0, 0, 7, 16, 7, 3, 1.0);
    run_linear(ctx, 1, 1, 1, 1);
    run_linear(ctx, 3, 17, 5, 1);
    run_linear(ctx, 17, 33, 257, 0);
    run_linear(ctx, 64, 128, 96, 1);
    run_bad_args(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_linear");
}
