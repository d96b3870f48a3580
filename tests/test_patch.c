/* test_patch.c -- patchify and the patch embedding against a float64
 * reference, whose backward is checked by finite differences. */
#include "dev_util.h"

static unsigned long long rng = 1616;

/* The reference patchify: patches [B, N, F] from images [B, C, H, W]. */
static void ref_patchify(int B, int C, int H, int W, int p, const double *img, double *patches)
{
    const int Wp = W / p, N = (H / p) * Wp, F = C * p * p;
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < p; i++)
                    for (int j = 0; j < p; j++) {
                        int y = (n / Wp) * p + i, x = (n % Wp) * p + j;
                        patches[((size_t)b * N + n) * F + (c * p + i) * p + j] =
                            img[(((size_t)b * C + c) * H + y) * W + x];
                    }
}

/* y [rows, E] = x [rows, F] . W^T + b, and with dy: dx, dW, db. */
static void ref_linear(int rows, int F, int E, const double *x, const double *Wt, const double *bias, double *y,
                       const double *dy, double *dx, double *dW, double *db)
{
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < E; e++) {
            double s = bias[e];
            for (int f = 0; f < F; f++) s += x[(size_t)r * F + f] * Wt[(size_t)e * F + f];
            y[(size_t)r * E + e] = s;
        }
    if (!dy) return;
    memset(dx, 0, (size_t)rows * F * 8), memset(dW, 0, (size_t)E * F * 8), memset(db, 0, (size_t)E * 8);
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < E; e++) {
            const double g = dy[(size_t)r * E + e];
            db[e] += g;
            for (int f = 0; f < F; f++) {
                dx[(size_t)r * F + f] += g * Wt[(size_t)e * F + f];
                dW[(size_t)e * F + f] += g * x[(size_t)r * F + f];
            }
        }
}

/* The image gradient: the inverse permutation of dpatches. */
static void ref_unpatchify(int B, int C, int H, int W, int p, const double *dpatches, double *dimg)
{
    const int Wp = W / p, N = (H / p) * Wp, F = C * p * p;
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < p; i++)
                    for (int j = 0; j < p; j++) {
                        int y = (n / Wp) * p + i, x = (n % Wp) * p + j;
                        dimg[(((size_t)b * C + c) * H + y) * W + x] =
                            dpatches[((size_t)b * N + n) * F + (c * p + i) * p + j];
                    }
}

/* Finite differences of L = sum(y * dy) against the reference backward, in
 * the image, W and b, at a small shape. */
static void check_reference_gradients(void)
{
    enum { B = 2, C = 2, H = 4, W = 6, p = 2, E = 3, N = 6, F = C * p * p, NI = B * C * H * W };
    double img[NI], Wt[E * F], bias[E], patches[B * N * F], y[B * N * E], dy[B * N * E];
    double dx[B * N * F], dW[E * F], db[E], dimg[NI], h = 1e-6, worst = 0;
    rand_fill(img, NI, &rng, -1, 1), rand_fill(Wt, E * F, &rng, -1, 1), rand_fill(bias, E, &rng, -1, 1);
    rand_fill(dy, B * N * E, &rng, -1, 1);
    ref_patchify(B, C, H, W, p, img, patches);
    ref_linear(B * N, F, E, patches, Wt, bias, y, dy, dx, dW, db);
    ref_unpatchify(B, C, H, W, p, dx, dimg);
    double *vars[3] = {img, Wt, bias}, *grads[3] = {dimg, dW, db};
    const int counts[3] = {NI, E * F, E};
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < counts[w]; i++) {
            double keep = vars[w][i], l[2] = {0, 0};
            for (int side = 0; side < 2; side++) {
                vars[w][i] = keep + (side ? -h : h);
                ref_patchify(B, C, H, W, p, img, patches);
                ref_linear(B * N, F, E, patches, Wt, bias, y, NULL, NULL, NULL, NULL);
                for (int j = 0; j < B * N * E; j++) l[side] += y[j] * dy[j];
            }
            vars[w][i] = keep;
            worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h) - grads[w][i]));
        }
    CHECK(worst < 1e-7, "patch embedding reference backward vs finite differences: %.3g", worst);
}

static void run_case(dytcl_ctx *ctx, int B, int C, int H, int W, int p, int E)
{
    const int N = (H / p) * (W / p), F = C * p * p;
    const size_t ni = (size_t)B * C * H * W, np = (size_t)B * N * F, ny = (size_t)B * N * E, nw = (size_t)E * F;
    double *img = malloc(ni * 8), *Wt = malloc(nw * 8), *bias = malloc(E * 8), *patches = malloc(np * 8);
    double *y = malloc(ny * 8), *dy = malloc(ny * 8), *dx = malloc(np * 8), *dW = malloc(nw * 8);
    double *db = malloc(E * 8), *dimg = malloc(ni * 8);
    rand_fill(img, ni, &rng, -1, 1), rand_fill(Wt, nw, &rng, -0.5, 0.5), rand_fill(bias, E, &rng, -1, 1);
    rand_fill(dy, ny, &rng, -1, 1);
    round_float(img, ni), round_float(Wt, nw), round_float(bias, E), round_float(dy, ny);
    ref_patchify(B, C, H, W, p, img, patches);
    ref_linear(B * N, F, E, patches, Wt, bias, y, dy, dx, dW, db);
    ref_unpatchify(B, C, H, W, p, dx, dimg);

    dytcl_buf *bi = dev_from(ctx, img, ni), *bw = dev_from(ctx, Wt, nw), *bb = dev_from(ctx, bias, E);
    dytcl_buf *bp = dev_from(ctx, NULL, np), *by = dev_from(ctx, NULL, ny), *bdy = dev_from(ctx, dy, ny);
    dytcl_buf *bdp = dev_from(ctx, NULL, np), *bdw = dev_from(ctx, NULL, nw), *bdb = dev_from(ctx, NULL, E);
    dytcl_buf *bdi = dev_from(ctx, NULL, ni), *back = dev_from(ctx, NULL, ni);
    dytcl_tensor ti = {bi, 0, 4, {B, C, H, W}, DYTCL_F32}, tdi = {bdi, 0, 4, {B, C, H, W}, DYTCL_F32}, tback = {back, 0, 4, {B, C, H, W}, DYTCL_F32};
    dytcl_tensor tp = dytcl_tensor_1d(bp, 0, (int64_t)np), tdp = dytcl_tensor_1d(bdp, 0, (int64_t)np);
    dytcl_tensor ty = dytcl_tensor_1d(by, 0, (int64_t)ny), tdy = dytcl_tensor_1d(bdy, 0, (int64_t)ny);
    dytcl_tensor tw = dytcl_tensor_2d(bw, 0, E, F), tdw = dytcl_tensor_2d(bdw, 0, E, F);
    dytcl_tensor tb = dytcl_tensor_1d(bb, 0, E), tdb = dytcl_tensor_1d(bdb, 0, E);

    CHECK_OK(ctx, dytcl_patch_embed_forward(ctx, ty, tp, ti, tw, tb, p));
    CHECK_CLOSE(ctx, bp, patches, np, 0, "patches [%d,%d,%d,%d] p %d", B, C, H, W, p);
    CHECK_CLOSE(ctx, by, y, ny, 1e-5, "patch embed y [%d,%d,%d,%d] p %d E %d", B, C, H, W, p, E);
    CHECK_OK(ctx, dytcl_patch_embed_backward(ctx, tdi, tdp, tdw, tdb, 0, tdy, tp, tw, p));
    CHECK_CLOSE(ctx, bdw, dW, nw, 1e-5, "patch embed dW [%d,%d,%d,%d] p %d E %d", B, C, H, W, p, E);
    CHECK_CLOSE(ctx, bdb, db, (size_t)E, 1e-5, "patch embed db [%d,%d,%d,%d] p %d E %d", B, C, H, W, p, E);
    CHECK_CLOSE(ctx, bdi, dimg, ni, 1e-5, "patch embed dimages [%d,%d,%d,%d] p %d E %d", B, C, H, W, p, E);
    /* accumulate, without the image gradient: dW and db double */
    CHECK_OK(ctx, dytcl_patch_embed_backward(ctx, (dytcl_tensor){0}, (dytcl_tensor){0}, tdw, tdb, 1, tdy, tp, tw, p));
    for (size_t i = 0; i < nw; i++) dW[i] *= 2;
    for (int i = 0; i < E; i++) db[i] *= 2;
    CHECK_CLOSE(ctx, bdw, dW, nw, 1e-5, "patch embed dW accumulated [%d,%d,%d,%d] p %d", B, C, H, W, p);
    CHECK_CLOSE(ctx, bdb, db, (size_t)E, 1e-5, "patch embed db accumulated [%d,%d,%d,%d] p %d", B, C, H, W, p);
    /* patchify's inverse gives the images back exactly */
    CHECK_OK(ctx, dytcl_patchify_backward(ctx, tback, tp, p));
    CHECK_CLOSE(ctx, back, img, ni, 0, "unpatchify round trip [%d,%d,%d,%d] p %d", B, C, H, W, p);
    /* refusals: a patch size that does not divide, images not 4-D, too few patches */
    CHECK(dytcl_patchify(ctx, tp, ti, p + 1 + (H % (p + 1) == 0 && W % (p + 1) == 0 ? H + W : 0)) ==
              DYTCL_ERR_INVALID_ARG, "a patch size that does not divide H, W accepted");
    CHECK(dytcl_patchify(ctx, tp, dytcl_tensor_1d(bi, 0, (int64_t)ni), p) == DYTCL_ERR_INVALID_ARG,
          "1-D images accepted");
    CHECK(dytcl_patchify(ctx, dytcl_tensor_1d(bp, 0, (int64_t)np - 1), ti, p) == DYTCL_ERR_INVALID_ARG,
          "patches one element short accepted");

    dytcl_buf *all[] = {bi, bw, bb, bp, by, bdy, bdp, bdw, bdb, bdi, back};
    for (int i = 0; i < 11; i++) dytcl_buf_free(all[i]);
    free(img), free(Wt), free(bias), free(patches), free(y), free(dy), free(dx), free(dW), free(db), free(dimg);
}

int main(void)
{
    check_reference_gradients();
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    run_case(ctx, 1, 1, 2, 2, 1, 1);
    run_case(ctx, 2, 1, 28, 28, 7, 32);  /* Fashion-MNIST with 16 patches */
    run_case(ctx, 3, 1, 28, 28, 4, 17);  /* 49 patches, an odd width */
    run_case(ctx, 2, 3, 12, 20, 4, 24);  /* colour, not square */
    run_case(ctx, 1, 2, 9, 15, 3, 5);
    dytcl_ctx_free(ctx);
    return check_done("test_patch");
}
