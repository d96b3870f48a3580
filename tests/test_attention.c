/* test_attention.c -- causal and bidirectional attention, both paths, against
 * a float64 reference whose backward is checked by finite differences. */
#include "dev_util.h"

static unsigned long long rng = 4242;

/* o, lse and (with dout) dq, dk, dv for one head of T x D; query t sees keys
 * 0..n(t)-1, n(t) = t + 1 when causal, T when not. */
static void ref_head(int causal, int T, int D, const double *q, const double *k, const double *v,
                     const double *dout, double *o, double *lse, double *dq, double *dk, double *dv)
{
    double sc = 1 / sqrt((double)D);
    double *P = calloc((size_t)T * T, 8), *dP = calloc((size_t)T * T, 8);
    for (int t = 0; t < T; t++) {
        const int n = causal ? t + 1 : T;
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += q[t * D + d] * k[j * D + d];
            P[t * T + j] = s * sc;
            m = fmax(m, s * sc);
        }
        for (int j = 0; j < n; j++) sum += exp(P[t * T + j] - m);
        lse[t] = m + log(sum);
        for (int j = 0; j < n; j++) P[t * T + j] = exp(P[t * T + j] - lse[t]);
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += P[t * T + j] * v[j * D + d];
            o[t * D + d] = s;
        }
    }
    if (dout) {
        for (int i = 0; i < T * D; i++) dq[i] = dk[i] = dv[i] = 0;
        for (int t = 0; t < T; t++) {
            const int n = causal ? t + 1 : T;
            double dot = 0;
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int d = 0; d < D; d++) s += dout[t * D + d] * v[j * D + d];
                dP[t * T + j] = s;
                dot += P[t * T + j] * s;
            }
            for (int j = 0; j < n; j++) {
                double ds = P[t * T + j] * (dP[t * T + j] - dot) * sc;
                for (int d = 0; d < D; d++) {
                    dq[t * D + d] += ds * k[j * D + d];
                    dk[j * D + d] += ds * q[t * D + d];
                    dv[j * D + d] += P[t * T + j] * dout[t * D + d];
                }
            }
        }
    }
    free(P), free(dP);
}

static void check_reference_gradients(int causal)
{
    enum { T = 4, D = 3, N = T * D };
    double q[N], k[N], v[N], dout[N], o[N], lse[T], dq[N], dk[N], dv[N], worst = 0, h = 1e-6;
    rand_fill(q, N, &rng, -1, 1), rand_fill(k, N, &rng, -1, 1), rand_fill(v, N, &rng, -1, 1);
    rand_fill(dout, N, &rng, -1, 1);
    ref_head(causal, T, D, q, k, v, dout, o, lse, dq, dk, dv);
    double *vars[3] = {q, k, v}, *grads[3] = {dq, dk, dv};
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < N; i++) {
            double keep = vars[w][i], lp = 0, lm = 0;
            vars[w][i] = keep + h;
            ref_head(causal, T, D, q, k, v, NULL, o, lse, NULL, NULL, NULL);
            for (int j = 0; j < N; j++) lp += o[j] * dout[j];
            vars[w][i] = keep - h;
            ref_head(causal, T, D, q, k, v, NULL, o, lse, NULL, NULL, NULL);
            for (int j = 0; j < N; j++) lm += o[j] * dout[j];
            vars[w][i] = keep;
            worst = fmax(worst, fabs((lp - lm) / (2 * h) - grads[w][i]));
        }
    CHECK(worst < 1e-7, "%s attention reference backward vs finite differences: %.3g",
          causal ? "causal" : "bidirectional", worst);
}

/* B, H query heads, Hk = H / G key/value heads (grouped-query attention
 * when G > 1: query head h reads key/value head h / G; the reference runs
 * each query head on its key/value head and sums dk, dv over the group). */
static void run_case_g(dytcl_ctx *ctx, int causal, int B, int H, int G, int T, int D)
{
    const int mode = causal ? 0 : DYTCL_ATTN_BIDIRECTIONAL, Hk = H / G;
    size_t n = (size_t)B * H * T * D, nk = n / G, hd = (size_t)T * D;
    double *q = malloc(n * 8), *k = malloc(nk * 8), *v = malloc(nk * 8), *dout = malloc(n * 8), *o = malloc(n * 8);
    double *lse = malloc((size_t)B * H * T * 8), *dq = malloc(n * 8), *dk = calloc(nk, 8), *dv = calloc(nk, 8);
    double *dkh = malloc(hd * 8), *dvh = malloc(hd * 8);
    rand_fill(q, n, &rng, -2, 2), rand_fill(k, nk, &rng, -2, 2), rand_fill(v, nk, &rng, -1, 1);
    rand_fill(dout, n, &rng, -1, 1);
    round_float(q, n), round_float(k, nk), round_float(v, nk), round_float(dout, n);
    for (int h = 0; h < B * H; h++) {
        const size_t kv = (size_t)(h / G) * hd;
        ref_head(causal, T, D, q + h * hd, k + kv, v + kv, dout + h * hd, o + h * hd, lse + (size_t)h * T,
                 dq + h * hd, dkh, dvh);
        for (size_t i = 0; i < hd; i++) dk[kv + i] += dkh[i], dv[kv + i] += dvh[i];
    }
    dytcl_buf *bq = dev_from(ctx, q, n), *bk = dev_from(ctx, k, nk), *bv = dev_from(ctx, v, nk);
    dytcl_buf *bdo = dev_from(ctx, dout, n);
#define T4(b) ((dytcl_tensor){b, 0, 4, {B, H, T, D}, DYTCL_F32})
#define K4(b) ((dytcl_tensor){b, 0, 4, {B, Hk, T, D}, DYTCL_F32})
    for (int path = DYTCL_ATTN_GEMM; path <= DYTCL_ATTN_TILED; path++) {
        const char *name = path == DYTCL_ATTN_GEMM ? (causal ? "causal gemm" : "bidirectional gemm")
                                                   : (causal ? "causal tiled" : "bidirectional tiled");
        dytcl_buf *bo = dev_from(ctx, NULL, n), *bl = dev_from(ctx, NULL, (size_t)B * H * T);
        dytcl_buf *bdq = dev_from(ctx, NULL, n), *bdk = dev_from(ctx, NULL, nk), *bdv = dev_from(ctx, NULL, nk);
        dytcl_tensor tl = dytcl_tensor_1d(bl, 0, (int64_t)B * H * T);
        CHECK_OK(ctx, dytcl_attention_forward(ctx, T4(bo), tl, T4(bq), K4(bk), K4(bv), (dytcl_attn_path)(path | mode)));
        CHECK_CLOSE(ctx, bo, o, n, 1e-5, "%s attention o [%d,%d/%d,%d,%d]", name, B, H, Hk, T, D);
        CHECK_CLOSE(ctx, bl, lse, (size_t)B * H * T, 1e-5, "%s attention lse [%d,%d/%d,%d,%d]", name, B, H, Hk, T, D);
        CHECK_OK(ctx, dytcl_attention_backward(ctx, T4(bdq), K4(bdk), K4(bdv), T4(bdo), T4(bq), K4(bk), K4(bv), T4(bo),
                                               tl, (dytcl_attn_path)(path | mode)));
        CHECK_CLOSE(ctx, bdq, dq, n, 1e-4, "%s attention dq [%d,%d/%d,%d,%d]", name, B, H, Hk, T, D);
        CHECK_CLOSE(ctx, bdk, dk, nk, 1e-4, "%s attention dk [%d,%d/%d,%d,%d]", name, B, H, Hk, T, D);
        CHECK_CLOSE(ctx, bdv, dv, nk, 1e-5, "%s attention dv [%d,%d/%d,%d,%d]", name, B, H, Hk, T, D);
        dytcl_buf *all[] = {bo, bl, bdq, bdk, bdv};
        for (int i = 0; i < 5; i++) dytcl_buf_free(all[i]);
    }
    if (G > 1) { /* key/value heads that do not divide the query heads */
        dytcl_buf *bl = dev_from(ctx, NULL, (size_t)B * H * T), *bo = dev_from(ctx, NULL, n);
        dytcl_tensor odd = K4(bk);
        odd.shape[1] = Hk + 1, odd.shape[2] = 1, odd.shape[3] = 1; /* same buffer, a shape that cannot fit */
        CHECK(dytcl_attention_forward(ctx, T4(bo), dytcl_tensor_1d(bl, 0, (int64_t)B * H * T), T4(bq), odd, odd,
                                      DYTCL_ATTN_AUTO) == DYTCL_ERR_INVALID_ARG,
              "k with %d heads beside q's %d accepted", Hk + 1, H);
        dytcl_buf_free(bl), dytcl_buf_free(bo);
    }
#undef K4
    free(dkh), free(dvh);
    if (G > 1) {
        dytcl_buf_free(bq), dytcl_buf_free(bk), dytcl_buf_free(bv), dytcl_buf_free(bdo);
        free(q), free(k), free(v), free(dout), free(o), free(lse), free(dq), free(dk), free(dv);
        return;
    }
    dytcl_buf *bad = dev_from(ctx, NULL, (size_t)B * H * T + 1);
    CHECK(dytcl_attention_forward(ctx, T4(bq), dytcl_tensor_1d(bad, 0, (int64_t)B * H * T + 1), T4(bq), T4(bk), T4(bv),
                                  DYTCL_ATTN_AUTO) == DYTCL_ERR_INVALID_ARG, "an lse of the wrong size accepted");
    CHECK(dytcl_attention_forward(ctx, T4(bq), dytcl_tensor_1d(bad, 0, (int64_t)B * H * T), T4(bq), T4(bk), T4(bv),
                                  (dytcl_attn_path)(DYTCL_ATTN_TILED + 1)) == DYTCL_ERR_INVALID_ARG,
          "an unknown attention path accepted");
#undef T4
    dytcl_buf_free(bad), dytcl_buf_free(bq), dytcl_buf_free(bk), dytcl_buf_free(bv), dytcl_buf_free(bdo);
    free(q), free(k), free(v), free(dout), free(o), free(lse), free(dq), free(dk), free(dv);
}

static void run_case(dytcl_ctx *ctx, int causal, int B, int H, int T, int D)
{
    run_case_g(ctx, causal, B, H, 1, T, D);
}

/* The head layout round trip: split, merge and their backward mappings;
 * qkv rows hold H query heads, then Hk key heads and Hk value heads. */
static void run_heads_g(dytcl_ctx *ctx, int B, int T, int H, int Hk, int D)
{
    const size_t n = (size_t)B * T * H * D, nk = (size_t)B * T * Hk * D, W = (size_t)(H + 2 * Hk) * D;
    const size_t nall = n + 2 * nk;
    double *qkv = malloc(nall * 8), *want = malloc(n * 8);
    rand_fill(qkv, nall, &rng, -1, 1), round_float(qkv, nall);
    dytcl_buf *bqkv = dev_from(ctx, qkv, nall), *bq = dev_from(ctx, NULL, n), *bk = dev_from(ctx, NULL, nk);
    dytcl_buf *bv = dev_from(ctx, NULL, nk), *by = dev_from(ctx, NULL, n), *back = dev_from(ctx, NULL, nall);
    dytcl_tensor tq = {bq, 0, 4, {B, H, T, D}, DYTCL_F32}, tk = {bk, 0, 4, {B, Hk, T, D}, DYTCL_F32};
    dytcl_tensor tv = {bv, 0, 4, {B, Hk, T, D}, DYTCL_F32};
    CHECK_OK(ctx, dytcl_heads_split(ctx, tq, tk, tv, dytcl_tensor_1d(bqkv, 0, (int64_t)nall)));
    dytcl_buf *parts[3] = {bq, bk, bv};
    const int heads[3] = {H, Hk, Hk};
    const size_t col0[3] = {0, (size_t)H * D, (size_t)(H + Hk) * D};
    for (int w = 0; w < 3; w++) {
        const int Hw = heads[w];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < Hw; h++)
                for (int t = 0; t < T; t++)
                    for (int d = 0; d < D; d++)
                        want[(((size_t)b * Hw + h) * T + t) * D + d] = qkv[((size_t)b * T + t) * W + col0[w] + h * D + d];
        CHECK_CLOSE(ctx, parts[w], want, (size_t)B * T * Hw * D, 0, "heads_split part %d [%d,%d,%d/%d,%d]", w, B, T,
                    H, Hk, D);
    }
    /* merge o = q into y [B, T, H, D] and back; split backward rebuilds qkv */
    CHECK_OK(ctx, dytcl_heads_merge(ctx, dytcl_tensor_1d(by, 0, (int64_t)n), tq));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int d = 0; d < D; d++)
                    want[(((size_t)b * T + t) * H + h) * D + d] = qkv[((size_t)b * T + t) * W + h * D + d];
    CHECK_CLOSE(ctx, by, want, n, 0, "heads_merge [%d,%d,%d,%d]", B, T, H, D);
    CHECK_OK(ctx, dytcl_heads_merge_backward(ctx, tq, dytcl_tensor_1d(by, 0, (int64_t)n))); /* q again */
    CHECK_OK(ctx, dytcl_heads_split_backward(ctx, dytcl_tensor_1d(back, 0, (int64_t)nall), tq, tv, tk)); /* k, v swapped */
    for (size_t r = 0; r < (size_t)B * T; r++) /* the k and v parts now swapped */
        for (size_t j = 0; j < (size_t)Hk * D; j++) {
            double *row = qkv + r * W + (size_t)H * D, keep = row[j];
            row[j] = row[(size_t)Hk * D + j], row[(size_t)Hk * D + j] = keep;
        }
    CHECK_CLOSE(ctx, back, qkv, nall, 0, "heads round trip [%d,%d,%d/%d,%d]", B, T, H, Hk, D);
    dytcl_buf *all[] = {bqkv, bq, bk, bv, by, back};
    for (int i = 0; i < 6; i++) dytcl_buf_free(all[i]);
    free(qkv), free(want);
}

static void run_heads(dytcl_ctx *ctx, int B, int T, int H, int D)
{
    run_heads_g(ctx, B, T, H, H, D);
}

int main(void)
{
    check_reference_gradients(1);
    check_reference_gradients(0);
    /* The head layout in both kernel shapes, whatever the device: a row per
     * work-item (CPUs) and D x rows per work-group (GPUs: several rows where
     * D x rows <= 256; D not a power of two). */
    const char *shapes[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shapes[sh], 1);
        dytcl_ctx *c = check_ctx(getenv("DYTCL_TEST_CACHE"));
        run_heads(c, 1, 1, 1, 2);
        run_heads(c, 2, 7, 3, 16);
        run_heads(c, 2, 64, 4, 64);
        run_heads(c, 1, 6, 2, 96);
        run_heads(c, 3, 8, 2, 24);
        run_heads_g(c, 2, 7, 6, 2, 16);
        run_heads_g(c, 1, 5, 4, 1, 24);
        run_heads_g(c, 3, 3, 6, 3, 9);
        dytcl_ctx_free(c);
    }
    /* Attention on the device's own programs, then with the GPU tuning set
     * (host/program.c: DYTCL_KNOBS=gpu; the tiled kernels take ATTN_DC
     * columns per pass, so D = 64 and 128 take several passes and 24 a
     * partial one). */
    unsetenv("DYTCL_KERNEL_SHAPE");
    const char *knobs[] = {NULL, "gpu"};
    for (int kn = 0; kn < 2; kn++) {
        if (knobs[kn]) setenv("DYTCL_KNOBS", knobs[kn], 1);
        dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
        for (int causal = 1; causal >= 0; causal--) {
            run_case(ctx, causal, 1, 1, 1, 16);
            run_case(ctx, causal, 2, 3, 7, 32);
            run_case(ctx, causal, 1, 2, 33, 64);
            run_case(ctx, causal, 1, 1, 17, 128);
            run_case(ctx, causal, 3, 2, 17, 24); /* a ViT's shape: 16 patches and a class token */
            if (!check_small()) run_case(ctx, causal, 2, 2, 129, 16);
            /* grouped-query attention: 2, 3 and 6 query heads per key/value head */
            run_case_g(ctx, causal, 2, 6, 3, 7, 24);
            run_case_g(ctx, causal, 1, 4, 2, 33, 20);
            run_case_g(ctx, causal, 3, 6, 6, 5, 9);
            run_case_g(ctx, causal, 1, 4, 2, 70, 64); /* T >= 64: AUTO takes GEMM */
        }
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KNOBS");
    return check_done("test_attention");
}
