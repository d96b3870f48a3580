/* op_extra.c -- the op checks a table does not hold (op_harness.h): bad
 * arguments refused with a status (and a message naming the culprit), the
 * scale backward accumulated and in place, and dytcl_copy between every
 * pair of storage dtypes, bit for bit. */
#include <limits.h>
#include <string.h>

#include "op_harness.h"

#define NONE ((dytcl_tensor){0})
#define T1(buf, k) dytcl_tensor_1d(buf, 0, k)

static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* ---------------------------------------------------------- f32 ops */

/* SwiGLU refuses mismatched sizes. */
static void run_swiglu_refusal(dytcl_ctx *ctx, int n)
{
    dytcl_buf *ba = dev_from(ctx, NULL, n), *bb = dev_from(ctx, NULL, n), *by = dev_from(ctx, NULL, n);
    CHECK(dytcl_swiglu_forward(ctx, dytcl_tensor_1d(by, 0, n), dytcl_tensor_1d(ba, 0, n),
                               dytcl_tensor_1d(bb, 0, n > 1 ? n - 1 : 2)) == DYTCL_ERR_INVALID_ARG,
          "swiglu with b of another size");
    dytcl_buf_free(ba), dytcl_buf_free(bb), dytcl_buf_free(by);
}

/* The scale backward's ds accumulated and the backward in place (dx = dy);
 * bad sizes refused. (Forward and backward themselves: the table.) */
static void run_scale(dytcl_ctx *ctx, int n, unsigned long long *rng)
{
    double *x = calloc(n, 8), *dy = calloc(n, 8), *dx = calloc(n, 8), s = 1.7, ds = 0;
    rand_fill(x, (size_t)n, rng, -3, 3), rand_fill(dy, (size_t)n, rng, -1, 1);
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

/* ---------------------------------------------------------- DyT, norms */

static void run_dyt_refusals(dytcl_ctx *ctx)
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

static void run_norm_refusals(dytcl_ctx *ctx)
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

/* ---------------------------------------------------------- f16, bf16 */

/* dytcl_copy between every pair of dtypes, bit for bit against the host's
 * rounding: values near and past each format's limits, subnormals, ties,
 * signed zeros, infinities, NaN. */
static void run_conversions(dytcl_ctx *ctx, unsigned long long *rng)
{
    static const double special[] = {0.0, -0.0, 1.0, -1.5, 65504.0, 65519.0, 65520.0, -65536.0, 70000.0, 1e5,
                                     1e38, -3e38, 3.3895e38, 6.1e-5, 5.96e-8, 2.9e-8, 1e-7, 1.00048828125,
                                     1.0009765625, 1.001953125, 1.00390625, 1.0078125, 1.01171875, INFINITY,
                                     -INFINITY, NAN, 1e-30, 0.1, 1.0 / 3.0};
    const size_t ns = sizeof special / sizeof special[0], n = ns + 29; /* and random ones: an odd count */
    double *v = dalloc(n), *want = dalloc(n), *got = dalloc(n);
    memcpy(v, special, sizeof special);
    rand_fill(v + ns, n - ns, rng, -1e4, 1e4);
    round_float(v, n);
    const dytcl_dtype all[3] = {DYTCL_F32, DYTCL_F16, DYTCL_BF16};
    for (int i = 0; i < 3; i++) {
        double *src = dalloc(n);
        memcpy(src, v, n * sizeof *src);
        round_dt(src, n, all[i]); /* the values src holds: the device's input */
        htensor hs = hdev(ctx, all[i], src, 1, (int64_t)n);
        for (int j = 0; j < 3; j++) {
            htensor hd = hdev(ctx, all[j], NULL, 1, (int64_t)n);
            CHECK_OK(ctx, dytcl_copy(ctx, hd.t, hs.t));
            hread(ctx, &hd, got);
            for (size_t k = 0; k < n; k++) {
                /* float -> half is one rounding; half -> half goes through float exactly */
                want[k] = all[j] == DYTCL_F16 ? f16_value(f16_bits(src[k]))
                          : all[j] == DYTCL_BF16 ? bf16_value(bf16_bits((float)src[k])) : src[k];
                int ok = isnan(want[k]) ? isnan(got[k]) : got[k] == want[k] && signbit(got[k]) == signbit(want[k]);
                CHECK(ok, "copy %s -> %s: %.9g became %.9g, want %.9g", dytcl_dtype_name(all[i]),
                      dytcl_dtype_name(all[j]), src[k], got[k], want[k]);
            }
            hfree(&hd);
        }
        hfree(&hs);
        free(src);
    }
    free(v), free(want), free(got);
}

static void expect_error(dytcl_ctx *ctx, dytcl_status s, const char *needle, const char *what)
{
    CHECK(s == DYTCL_ERR_INVALID_ARG, "%s: status %s, want DYTCL_ERR_INVALID_ARG", what, dytcl_status_name(s));
    CHECK(strstr(dytcl_last_error(ctx), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
          dytcl_last_error(ctx), needle);
}

static void run_half_refusals(dytcl_ctx *ctx)
{
    dytcl_buf *b = dev_from(ctx, NULL, 256);
    dytcl_tensor f32 = dytcl_tensor_2d(b, 0, 4, 8), f32b = dytcl_tensor_2d(b, 32, 4, 8);
    dytcl_tensor f16 = dytcl_tensor_as(dytcl_tensor_2d(b, 128, 4, 8), DYTCL_F16);
    dytcl_tensor bf16 = dytcl_tensor_as(dytcl_tensor_2d(b, 192, 4, 8), DYTCL_BF16);
    dytcl_tensor vec = dytcl_tensor_1d(b, 224, 8), one = dytcl_tensor_1d(b, 240, 1);
    dytcl_adamw_config cfg = {1e-3f, 0.9f, 0.999f, 1e-8f, 0};
    /* f32-only ops name the half-width tensor */
    expect_error(ctx, dytcl_adamw(ctx, f32, f16, f32b, dytcl_tensor_2d(b, 64, 4, 8), NONE, NONE, &cfg, 1),
                 "grads is f16 but params is f32", "adamw with f16 grads");
    expect_error(ctx, dytcl_adamw(ctx, bf16, bf16, bf16, bf16, NONE, NONE, &cfg, 1), "tensor params is bf16; this op takes f32",
                 "adamw in bf16");
    expect_error(ctx, dytcl_cross_entropy(ctx, dytcl_tensor_1d(b, 100, 4), NONE, f16, dytcl_tensor_1d(b, 104, 4), 1.0f),
                 "tensor logits is f16; this op takes f32", "cross-entropy on f16 logits");
    /* the parameters stay f32 */
    dytcl_dyt_params p = {one, NONE, dytcl_tensor_as(vec, DYTCL_F16), NONE, DYTCL_CHANNELS_LAST};
    expect_error(ctx, dytcl_dyt_forward(ctx, f16, f16, &p), "tensor weight is f16; this op takes f32",
                 "dyt with an f16 weight");
    expect_error(ctx, dytcl_rmsnorm_forward(ctx, f16, dytcl_tensor_as(dytcl_tensor_1d(b, 240, 4), DYTCL_BF16), f16,
                                            NONE, 1e-5f),
                 "tensor rstd is bf16; this op takes f32", "rmsnorm with a bf16 rstd");
    /* one call, one activation dtype: mixing is refused, naming both */
    p.weight = vec;
    expect_error(ctx, dytcl_dyt_forward(ctx, f16, bf16, &p), "tensor y is f16 but x is bf16", "dyt f16 <- bf16");
    expect_error(ctx, dytcl_add(ctx, f32b, f32, f16), "tensor b is f16 but a is f32", "add f32 + f16");
    expect_error(ctx, dytcl_gelu_forward(ctx, f32, bf16), "tensor x is bf16 but y is f32", "gelu f32 <- bf16");
    expect_error(ctx, dytcl_rmsnorm_forward(ctx, bf16, one, f16, NONE, 1e-5f), "tensor y is bf16 but x is f16",
                 "rmsnorm bf16 <- f16");
    /* ... except dytcl_copy, which converts (run_conversions) */
    CHECK_OK(ctx, dytcl_copy(ctx, bf16, f16));
    dytcl_buf_free(b);
}

int op_extra(dytcl_ctx *ctx, unsigned long long *rng)
{
    const int before = check_failures;
    const int ns[] = {1, 3, 255, 256, 257, 4097, 100003};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        if (!check_small() || ns[i] < 5000) run_swiglu_refusal(ctx, ns[i]), run_scale(ctx, ns[i], rng);
    run_refusals(ctx);
    run_dyt_refusals(ctx);
    run_norm_refusals(ctx);
    run_conversions(ctx, rng);
    run_half_refusals(ctx);
    return check_failures - before;
}
