/* test_q8.c -- 8-bit block-quantized weights (DYTCL_Q8): the host quantizer
 * against its definition, and dytcl_linear_forward with a Q8 W against a
 * float64 reference, on every path: the block-dequantizing matrix-vector
 * kernel in both shapes (a work-item per output, rows <= 4, and a
 * work-group per output, DYTCL_KERNEL_SHAPE=groups) and the dequantized
 * float32 GEMM (more rows, or DYTCL_GEMV=0), at odd N (1, 3, 33, 257) and
 * K from one block to 36.
 *
 * Quantizer (per block of 32): scale = max|w| / 127 in float32, q =
 * round(w / scale) in [-127, 127], so |w - q*scale| <= scale/2 and the
 * largest |w| has |q| = 127; a block of zeros has scale 0 and q 0; a
 * weight that is not finite and cols % 32 != 0 are refused. Its output is
 * poisoned (q = -128, scales NaN) before the call.
 *
 * Kernels: the reference sums x . (q * scale) in float64, the exact
 * dequantized weights, so only float32 summation is left: TOL 1e-5 as
 * test_linear. Against the unquantized weights each output may move by
 * at most sum_k |x_k| scale_k / 2 (each weight by half its block's scale):
 * checked output by output, and the difference checked to be non-zero. y is NaN before the call and the words around it sentinels that
 * must survive; the bytes around W (quants and scales) are 0xff, a NaN
 * scale, so a read past either plane shows. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_util.h"

static unsigned long long rng = 4242;
static const double TOL = 1e-5;
enum { GAP = 5, WGAP = 64 /* bytes before and after W, a multiple of 4 */ };
#define SENTINEL 12345.0f

/* ------------------------------------------------------------- quantizer */

static float scale_at(const unsigned char *q8, size_t n, size_t b)
{
    float s;
    memcpy(&s, q8 + n + 4 * b, 4);
    return s;
}

static void quantizer(void)
{
    const int rows = 5, cols = 96;
    const size_t n = (size_t)rows * cols, bytes = dytcl_q8_bytes(rows, cols);
    CHECK(bytes == n + n / 8, "dytcl_q8_bytes(5, 96) = %zu, want %zu", bytes, n + n / 8);
    float *w = malloc(n * sizeof *w), *back = malloc(n * sizeof *back);
    unsigned char *q8 = malloc(bytes);
    for (size_t i = 0; i < n; i++) w[i] = (float)check_rand(&rng, -2, 2);
    for (int j = 0; j < 32; j++) w[32 + j] = 0.0f;                  /* block 1: zeros */
    for (int j = 0; j < 32; j++) w[64 + j] = j == 7 ? -3e-3f : 0.0f; /* block 2: one negative weight */
    for (int j = 0; j < 32; j++) w[96 + j] = (float)(j - 16) * 1e-30f; /* block 3: tiny */
    memset(q8, 0x80, n), memset(q8 + n, 0xff, bytes - n);           /* q = -128, scales NaN */
    CHECK_OK(NULL, dytcl_q8_quantize(w, rows, cols, q8));
    const int8_t *q = (const int8_t *)q8;
    int bad_q = 0, bad_err = 0, bad_max = 0, bad_scale = 0;
    for (size_t b = 0; b < n / 32; b++) {
        double amax = 0;
        size_t at = 32 * b;
        for (size_t j = 32 * b; j < 32 * b + 32; j++)
            if (fabs(w[j]) > amax) amax = fabs(w[j]), at = j;
        const double s = scale_at(q8, n, b);
        bad_scale += !(fabs(s - amax / 127.0) <= amax / 127.0 * 0x1p-23);
        for (size_t j = 32 * b; j < 32 * b + 32; j++) {
            bad_q += q[j] == -128;
            bad_err += !(fabs(w[j] - q[j] * s) <= s / 2 * (1 + 1e-6));
            if (amax == 0) bad_q += q[j] != 0;
        }
        if (amax > 0) bad_max += q[at] != (w[at] > 0 ? 127 : -127);
    }
    CHECK(scale_at(q8, n, 1) == 0.0f, "a block of zeros: scale %g, want 0", (double)scale_at(q8, n, 1));
    CHECK(q[64 + 7] == -127 && q[64 + 6] == 0, "one negative weight: q %d, %d (want -127, 0)", q[64 + 7], q[64 + 6]);
    CHECK(bad_scale == 0, "%d scales are not max|w| / 127", bad_scale);
    CHECK(bad_q == 0, "%d quants outside [-127, 127] (or not 0 in a zero block)", bad_q);
    CHECK(bad_err == 0, "%d weights are further than scale/2 from q * scale (not rounded to nearest)", bad_err);
    CHECK(bad_max == 0, "%d blocks whose largest |w| is not +-127", bad_max);
    /* round to nearest: x / scale = k + 0.3 and k + 0.7 give k and k + 1 */
    float t[32] = {127.0f, 10.3f, 10.7f, -10.3f, -10.7f};
    unsigned char tq[36];
    CHECK_OK(NULL, dytcl_q8_quantize(t, 1, 32, tq));
    CHECK((int8_t)tq[1] == 10 && (int8_t)tq[2] == 11 && (int8_t)tq[3] == -10 && (int8_t)tq[4] == -11,
          "rounding: 10.3 10.7 -10.3 -10.7 gave %d %d %d %d", (int8_t)tq[1], (int8_t)tq[2], (int8_t)tq[3],
          (int8_t)tq[4]);
    /* dequantize: q * scale, every element written */
    for (size_t i = 0; i < n; i++) back[i] = NAN;
    CHECK_OK(NULL, dytcl_q8_dequantize(q8, rows, cols, back));
    int bad_back = 0;
    for (size_t i = 0; i < n; i++) bad_back += back[i] != (float)q[i] * scale_at(q8, n, i / 32);
    CHECK(bad_back == 0, "%d dequantized weights are not q * scale", bad_back);
    /* refusals */
    CHECK(dytcl_q8_bytes(2, 48) == 0 && dytcl_q8_bytes(0, 32) == 0 && dytcl_q8_bytes(INT64_MAX, 64) == 0,
          "dytcl_q8_bytes takes cols not a multiple of 32, no rows or an overflowing size");
    dytcl_status s = dytcl_q8_quantize(w, 2, 48, q8);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(NULL), "32"), "cols 48: %s: %s",
          dytcl_status_name(s), dytcl_last_error(NULL));
    w[37] = NAN;
    s = dytcl_q8_quantize(w, rows, cols, q8);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(NULL), "finite"), "a NaN weight: %s: %s",
          dytcl_status_name(s), dytcl_last_error(NULL));
    free(w), free(back), free(q8);
}

/* ------------------------------------------------------- safetensors I8 */

/* I8 tensors are written and read as stored (one byte a value, never
 * widened), beside F32 ones; a header whose I8 size does not match its
 * data_offsets is refused. */
static void safetensors_i8(void)
{
    char path[] = "/tmp/dytcl-q8-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    int8_t q[15];
    for (int i = 0; i < 15; i++) q[i] = (int8_t)(i * 17 - 127);
    const float sc[3] = {0.5f, -1.0f, 3.0f};
    const dytcl_st_tensor t[2] = {
        {.name = "w.q", .ndim = 2, .shape = {3, 5}, .numel = 15, .dtype = DYTCL_Q8, .i8 = q},
        {.name = "w.scale", .ndim = 2, .shape = {3, 1}, .numel = 3, .data = sc},
    };
    CHECK_OK(NULL, dytcl_st_save(path, t, 2, NULL, 0));
    dytcl_st_file *f = NULL;
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    dytcl_st_tensor g;
    CHECK(f && !dytcl_st_get(f, "w.q", &g) && g.dtype == DYTCL_Q8 && g.numel == 15 && g.bytes == 15 && !g.data &&
              g.i8 && !memcmp(g.i8, q, 15),
          "the I8 tensor read back as stored");
    CHECK(f && !dytcl_st_get(f, "w.scale", &g) && g.dtype == DYTCL_F32 && !g.i8 && !memcmp(g.data, sc, sizeof sc),
          "the F32 tensor beside it");
    dytcl_st_free(f);
    /* the file's header says I8 [3, 5] in 15 bytes: claim [3, 6] instead */
    FILE *fp = fopen(path, "rb");
    char buf[513];
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = '\0';
    char *at = n > 8 ? strstr(buf + 8, "[3,5]") : NULL;
    CHECK(at != NULL, "the header holds [3,5]");
    if (at) {
        at[3] = '6';
        dytcl_st_file *bad = NULL;
        dytcl_status s = dytcl_st_parse(buf, n, &bad);
        CHECK(s == DYTCL_ERR_FORMAT && !bad && strstr(dytcl_last_error(NULL), "I8"), "I8 [3, 6] in 15 bytes: %s: %s",
              dytcl_status_name(s), dytcl_last_error(NULL));
        dytcl_st_free(bad);
    }
    unlink(path);
}

/* ---------------------------------------------------------------- kernels */

static dytcl_buf *floats_with_gaps(dytcl_ctx *ctx, const double *v, size_t n)
{
    return dev_from_gapped(ctx, v, n, GAP, SENTINEL);
}

static void run_case(dytcl_ctx *ctx, int rows, int K, int N, int bias, const char *path)
{
    const size_t nx = (size_t)rows * K, nw = (size_t)N * K, ny = (size_t)rows * N, qb = dytcl_q8_bytes(N, K);
    double *x = malloc(nx * sizeof *x), *b = malloc((size_t)N * sizeof *b);
    double *want = malloc(ny * sizeof *want), *loose = malloc(ny * sizeof *loose), *g = malloc(ny * sizeof *g);
    float *w = malloc(nw * sizeof *w), *wd = malloc(nw * sizeof *wd), *got = malloc((ny + 2 * GAP) * sizeof *got);
    unsigned char *wq = malloc(qb + 2 * WGAP);
    rand_fill(x, nx, &rng, -1, 1), round_float(x, nx);
    rand_fill(b, (size_t)N, &rng, -1, 1), round_float(b, (size_t)N);
    for (size_t i = 0; i < nw; i++) w[i] = (float)check_rand(&rng, -1, 1);
    memset(wq, 0xff, qb + 2 * WGAP);
    CHECK_OK(NULL, dytcl_q8_quantize(w, N, K, wq + WGAP));
    CHECK_OK(NULL, dytcl_q8_dequantize(wq + WGAP, N, K, wd));
    /* bound[r, o] = sum_k |x[r, k]| scale[o, k/32] / 2: how far quantizing may move y[r, o] */
    double *bound = malloc(ny * sizeof *bound);
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < N; o++) {
            double s = bias ? b[o] : 0, t = s, e = 0;
            for (int k = 0; k < K; k++) {
                s += x[(size_t)r * K + k] * wd[(size_t)o * K + k];
                t += x[(size_t)r * K + k] * w[(size_t)o * K + k];
                float sc;
                memcpy(&sc, wq + WGAP + nw + 4 * (((size_t)o * K + k) / 32), 4);
                e += fabs(x[(size_t)r * K + k]) * sc / 2;
            }
            want[(size_t)r * N + o] = s, loose[(size_t)r * N + o] = t, bound[(size_t)r * N + o] = e;
        }
    dytcl_buf *bx = floats_with_gaps(ctx, x, nx), *by = floats_with_gaps(ctx, NULL, ny);
    dytcl_buf *bb = floats_with_gaps(ctx, b, (size_t)N), *bw = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, qb + 2 * WGAP, &bw));
    if (bw) CHECK_OK(ctx, dytcl_buf_write(ctx, bw, 0, wq, qb + 2 * WGAP));
    dytcl_tensor W = dytcl_tensor_as(dytcl_tensor_2d(bw, WGAP, N, K), DYTCL_Q8);
    dytcl_tensor bt = bias ? dytcl_tensor_1d(bb, GAP, N) : (dytcl_tensor){0};
    CHECK_OK(ctx, dytcl_linear_forward(ctx, dytcl_tensor_2d(by, GAP, rows, N), dytcl_tensor_2d(bx, GAP, rows, K), W, bt));
    CHECK_OK(ctx, dytcl_buf_read(ctx, by, 0, got, (ny + 2 * GAP) * sizeof *got));
    int outside = 0;
    for (size_t i = 0; i < ny; i++) g[i] = got[GAP + i];
    for (int i = 0; i < GAP; i++) outside += got[i] != SENTINEL || got[GAP + ny + i] != SENTINEL;
    const double e = rel_err(g, want, ny), el = rel_err(g, loose, ny);
    int past = 0;
    for (size_t i = 0; i < ny; i++) past += !(fabs(g[i] - loose[i]) <= bound[i] * (1 + 1e-5) + 1e-5 * fabs(want[i]));
    CHECK(e <= TOL, "q8 %s rows %d K %d N %d bias %d: relative error %.3g against the dequantized weights", path,
          rows, K, N, bias, e);
    CHECK(el > 0, "q8 %s rows %d K %d N %d: equal to the unquantized weights' products", path, rows, K, N);
    CHECK(past == 0, "q8 %s rows %d K %d N %d: %d outputs further from the unquantized weights' than "
          "sum |x| scale / 2 (relative %.3g overall)", path, rows, K, N, past, el);
    CHECK(outside == 0, "q8 %s rows %d K %d N %d: %d words around y changed", path, rows, K, N, outside);
    dytcl_buf_free(bx), dytcl_buf_free(by), dytcl_buf_free(bb), dytcl_buf_free(bw);
    free(x), free(b), free(want), free(loose), free(g), free(w), free(wd), free(got), free(wq), free(bound);
}

/* A Q8 W is refused where it does not fit, and every other op refuses it. */
static void refusals(dytcl_ctx *ctx)
{
    dytcl_buf *buf = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, 8192, &buf));
    dytcl_tensor x = dytcl_tensor_2d(buf, 0, 2, 64), y = dytcl_tensor_2d(buf, 256, 2, 4);
    dytcl_tensor W = dytcl_tensor_as(dytcl_tensor_2d(buf, 2048, 4, 64), DYTCL_Q8);
    CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(buf, 0, 2048), 0.0f));
    CHECK_OK(ctx, dytcl_linear_forward(ctx, y, x, W, (dytcl_tensor){0}));
    struct {
        dytcl_tensor W;
        const char *why, *word;
    } bad[] = {
        {dytcl_tensor_as(dytcl_tensor_2d(buf, 2048, 4, 48), DYTCL_Q8), "K 48", "multiple of 32"},
        {dytcl_tensor_as(dytcl_tensor_2d(buf, 2050, 4, 64), DYTCL_Q8), "offset 2050", "multiple of 4"},
        /* the quants fit (7920 + 256 <= 8192) but not the 32 bytes of scales after them */
        {dytcl_tensor_as(dytcl_tensor_2d(buf, 7920, 4, 64), DYTCL_Q8), "scales past the end", "scales"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dytcl_tensor xi = dytcl_tensor_2d(buf, 0, 2, (int)bad[i].W.shape[1]);
        dytcl_status s = dytcl_linear_forward(ctx, y, xi, bad[i].W, (dytcl_tensor){0});
        CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), bad[i].word), "%s: %s: %s", bad[i].why,
              dytcl_status_name(s), dytcl_last_error(ctx));
    }
    dytcl_status s = dytcl_linear_backward(ctx, x, dytcl_tensor_2d(buf, 512, 4, 64), (dytcl_tensor){0}, 0, y, x, W);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "q8"), "backward with a q8 W: %s",
          dytcl_last_error(ctx));
    s = dytcl_gemm(ctx, 0, 1, 2, 4, 64, 1.0f, x, W, 0.0f, y);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "q8"), "gemm with a q8 B: %s",
          dytcl_last_error(ctx));
    s = dytcl_copy(ctx, y, dytcl_tensor_as(dytcl_tensor_2d(buf, 2048, 2, 4), DYTCL_Q8));
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "q8"), "copy from q8: %s", dytcl_last_error(ctx));
    s = dytcl_fill(ctx, W, 0.0f);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "q8"), "fill q8: %s", dytcl_last_error(ctx));
    dytcl_buf_free(buf);
}

int main(void)
{
    quantizer();
    safetensors_i8();
    const int small = check_small();
    /* rows 1..4: the matrix-vector kernel; 5 and 17: dequantize + GEMM */
    const int shapes[][3] = {{1, 32, 1}, {1, 96, 257}, {3, 64, 3}, {4, 1152, 33}, {2, 288, 1},
                             {1, 2048, 3}, {5, 96, 3}, {17, 64, 257}};
    const int n = small ? 4 : (int)(sizeof shapes / sizeof shapes[0]);
    const char *shape_names[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
        for (int pass = 0; pass < 2; pass++) {
            char path[48];
            snprintf(path, sizeof path, "%s%s", shape_names[sh], pass ? " DYTCL_GEMV=0" : "");
            if (pass) setenv("DYTCL_GEMV", "0", 1);
            for (int i = 0; i < n; i++) run_case(ctx, shapes[i][0], shapes[i][1], shapes[i][2], i % 2, path);
            unsetenv("DYTCL_GEMV");
        }
        if (sh == 0) refusals(ctx);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_q8");
}
