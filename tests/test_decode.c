/* test_decode.c -- attention against a KV cache (dytcl_attention_decode):
 * outputs and cache contents against a float64 reference, agreement with
 * dytcl_attention_forward over the whole prefix, a prefill followed by
 * decoding steps on one cache, prompts long enough for the many-query
 * kernel (attn_prefill_rows), and bad arguments. */
#include "dev_util.h"

static unsigned long long rng = 2718;

/* The two caches [B, H, Tmax, D] at elements koff and voff of one buffer of
 * n floats, with gaps around them; `want` is what the buffer must hold (NaN
 * where nothing may be written: the gaps and the rows past the positions
 * decoded so far). */
typedef struct {
    int B, H, D, Tmax; /* H: key/value heads */
    int G;             /* query heads per key/value head (grouped-query attention; 1: multi-head) */
    size_t koff, voff, n;
    double *want;
    dytcl_buf *buf;
} kv_cache;

static size_t cache_plane(const kv_cache *c)
{
    return (size_t)c->B * c->H * c->Tmax * c->D;
}

/* Row t of head bh of the K (which = 0) or V (which = 1) cache in want. */
static double *cache_row(kv_cache *c, int which, int bh, int t)
{
    return c->want + (which ? c->voff : c->koff) + ((size_t)bh * c->Tmax + t) * c->D;
}

static dytcl_tensor cache_tensor(const kv_cache *c, int which)
{
    return (dytcl_tensor){c->buf, which ? c->voff : c->koff, 4, {c->B, c->H, c->Tmax, c->D}, DYTCL_F32};
}

/* Rows 0..filled-1 random (as if decoded before), the rest NaN. */
static void cache_init(dytcl_ctx *ctx, kv_cache *c, int B, int H, int D, int Tmax, int filled)
{
    *c = (kv_cache){.B = B, .H = H, .D = D, .Tmax = Tmax, .G = 1};
    size_t plane = cache_plane(c);
    c->koff = 3, c->voff = 3 + plane + 2, c->n = c->voff + plane + 5;
    c->want = malloc(c->n * sizeof(double));
    for (size_t i = 0; i < c->n; i++) c->want[i] = NAN;
    for (int w = 0; w < 2; w++)
        for (int bh = 0; bh < B * H; bh++) {
            double *r = cache_row(c, w, bh, 0);
            rand_fill(r, (size_t)filled * D, &rng, w ? -1 : -2, w ? 1 : 2);
            round_float(r, (size_t)filled * D);
        }
    c->buf = dev_from(ctx, c->want, c->n);
}

static void cache_free(kv_cache *c)
{
    dytcl_buf_free(c->buf);
    free(c->want);
}

/* o [B H G, Tq, D] for query positions pos.. from the keys and values in
 * want (query head bh reads key/value head bh / G). */
static void ref_decode(kv_cache *c, const double *q, int Tq, int pos, double *o)
{
    const int D = c->D, G = c->G;
    const double sc = 1 / sqrt((double)D);
    double *p = malloc((size_t)(pos + Tq) * sizeof(double));
    for (int bh = 0; bh < c->B * c->H * G; bh++)
        for (int i = 0; i < Tq; i++) {
            const double *qi = q + ((size_t)bh * Tq + i) * D;
            double m = -INFINITY, sum = 0;
            for (int j = 0; j <= pos + i; j++) {
                const double *kj = cache_row(c, 0, bh / G, j);
                double s = 0;
                for (int d = 0; d < D; d++) s += qi[d] * kj[d];
                p[j] = s * sc;
                m = fmax(m, p[j]);
            }
            for (int j = 0; j <= pos + i; j++) sum += p[j] = exp(p[j] - m);
            double *oi = o + ((size_t)bh * Tq + i) * D;
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int j = 0; j <= pos + i; j++) s += p[j] * cache_row(c, 1, bh / G, j)[d];
                oi[d] = s / sum;
            }
        }
    free(p);
}

/* The last Tq rows of dytcl_attention_forward over positions 0..pos+Tq-1
 * (queries before pos random, keys and values from want) into out. */
static void forward_tail(dytcl_ctx *ctx, kv_cache *c, const double *q, int Tq, int pos, dytcl_attn_path path,
                         double *out)
{
    const int BH = c->B * c->H * c->G, D = c->D, T = pos + Tq;
    const size_t n = (size_t)BH * T * D, nk = n / c->G, row = (size_t)D;
    double *qf = malloc(n * 8), *kf = malloc(nk * 8), *vf = malloc(nk * 8), *of = malloc(n * 8);
    rand_fill(qf, n, &rng, -2, 2), round_float(qf, n);
    for (int bh = 0; bh < BH; bh++)
        for (int t = 0; t < T; t++) {
            size_t at = ((size_t)bh * T + t) * D;
            if (t >= pos) memcpy(qf + at, q + ((size_t)bh * Tq + t - pos) * D, row * 8);
        }
    for (int bh = 0; bh < c->B * c->H; bh++)
        for (int t = 0; t < T; t++) {
            size_t at = ((size_t)bh * T + t) * D;
            memcpy(kf + at, cache_row(c, 0, bh, t), row * 8);
            memcpy(vf + at, cache_row(c, 1, bh, t), row * 8);
        }
    dytcl_buf *bq = dev_from(ctx, qf, n), *bk = dev_from(ctx, kf, nk), *bv = dev_from(ctx, vf, nk);
    dytcl_buf *bo = dev_from(ctx, NULL, n), *bl = dev_from(ctx, NULL, (size_t)BH * T);
#define T4(b) ((dytcl_tensor){b, 0, 4, {c->B, c->H * c->G, T, D}, DYTCL_F32})
#define K4(b) ((dytcl_tensor){b, 0, 4, {c->B, c->H, T, D}, DYTCL_F32})
    CHECK_OK(ctx, dytcl_attention_forward(ctx, T4(bo), dytcl_tensor_1d(bl, 0, (int64_t)BH * T), T4(bq), K4(bk),
                                          K4(bv), path));
#undef T4
#undef K4
    dev_to(ctx, bo, of, n);
    for (int bh = 0; bh < BH; bh++)
        memcpy(out + (size_t)bh * Tq * D, of + ((size_t)bh * T + pos) * D, (size_t)Tq * row * 8);
    dytcl_buf *all[] = {bq, bk, bv, bo, bl};
    for (int i = 0; i < 5; i++) dytcl_buf_free(all[i]);
    free(qf), free(kf), free(vf), free(of);
}

/* One call at positions pos..pos+Tq-1 on cache c (rows < pos already
 * there), checked against the reference and against the forward pass. */
static void decode_step(dytcl_ctx *ctx, kv_cache *c, int Tq, int pos)
{
    const int B = c->B, H = c->H, D = c->D, G = c->G, BH = B * H * G, Hq = H * G;
    const size_t n = (size_t)BH * Tq * D, nk = n / G;
    /* q, k_new, v_new in one buffer with gaps; o at an offset in its own */
    const size_t qo = 1, ko = qo + n + 2, vo = ko + nk + 3, nio = vo + nk + 1, oo = 2, no = n + 4;
    double *io = malloc(nio * 8), *want_o = malloc(no * 8), *fwd = malloc(n * 8), *got = malloc(n * 8);
    for (size_t i = 0; i < nio; i++) io[i] = NAN;
    rand_fill(io + qo, n, &rng, -2, 2), rand_fill(io + ko, nk, &rng, -2, 2), rand_fill(io + vo, nk, &rng, -1, 1);
    round_float(io, nio);
    dytcl_buf *bio = dev_from(ctx, io, nio), *bo = dev_from(ctx, NULL, no);
#define V4(b, off) ((dytcl_tensor){b, off, 4, {B, Hq, Tq, D}, DYTCL_F32})
#define K4(b, off) ((dytcl_tensor){b, off, 4, {B, H, Tq, D}, DYTCL_F32})
    CHECK_OK(ctx, dytcl_attention_decode(ctx, V4(bo, oo), V4(bio, qo), K4(bio, ko), K4(bio, vo), cache_tensor(c, 0),
                                         cache_tensor(c, 1), pos));
#undef V4
#undef K4
    /* the new rows into want, then the reference over it */
    for (int bh = 0; bh < B * H; bh++)
        for (int i = 0; i < Tq; i++) {
            memcpy(cache_row(c, 0, bh, pos + i), io + ko + ((size_t)bh * Tq + i) * D, (size_t)D * 8);
            memcpy(cache_row(c, 1, bh, pos + i), io + vo + ((size_t)bh * Tq + i) * D, (size_t)D * 8);
        }
    for (size_t i = 0; i < no; i++) want_o[i] = NAN;
    ref_decode(c, io + qo, Tq, pos, want_o + oo);
    CHECK_CLOSE(ctx, bo, want_o, no, 1e-5, "decode o B=%d H=%d Tq=%d D=%d Tmax=%d pos=%d", B, H, Tq, D, c->Tmax, pos);
    CHECK_CLOSE(ctx, c->buf, c->want, c->n, 0, "decode caches B=%d H=%d Tq=%d D=%d Tmax=%d pos=%d", B, H, Tq, D,
                c->Tmax, pos);
    /* the forward pass over the whole prefix gives the same rows (under
     * oclgrind, at short prefixes only: the forward costs O(T^2)) */
    double *all_o = malloc(no * 8);
    dev_to(ctx, bo, all_o, no);
    memcpy(got, all_o + oo, n * 8);
    free(all_o);
    for (int path = DYTCL_ATTN_GEMM; path <= DYTCL_ATTN_TILED; path++) {
        if (check_small() && (path == DYTCL_ATTN_GEMM || pos + Tq > 100)) continue; /* CLBlast: slow there */
        forward_tail(ctx, c, io + qo, Tq, pos, (dytcl_attn_path)path, fwd);
        double e = rel_err(got, fwd, n);
        CHECK(e <= 1e-5, "decode vs attention_forward (%s): relative error %.3g (B=%d H=%d Tq=%d D=%d pos=%d)",
              path == DYTCL_ATTN_GEMM ? "gemm" : "tiled", e, B, H, Tq, D, pos);
    }
    dytcl_buf_free(bio), dytcl_buf_free(bo);
    free(io), free(want_o), free(fwd), free(got);
}

/* A fresh cache of H / G key/value heads with rows 0..pos-1 filled, then
 * one call with H query heads. */
static void run_case_g(dytcl_ctx *ctx, int B, int H, int G, int Tq, int D, int Tmax, int pos)
{
    kv_cache c;
    cache_init(ctx, &c, B, H / G, D, Tmax, pos);
    c.G = G;
    decode_step(ctx, &c, Tq, pos);
    cache_free(&c);
}

static void run_case(dytcl_ctx *ctx, int B, int H, int Tq, int D, int Tmax, int pos)
{
    run_case_g(ctx, B, H, 1, Tq, D, Tmax, pos);
}

/* Generation: a prefill of 5 positions, single steps, then 3 at once, all
 * on one cache. */
static void run_sequence(dytcl_ctx *ctx, int B, int H, int D, int Tmax)
{
    kv_cache c;
    cache_init(ctx, &c, B, H, D, Tmax, 0);
    decode_step(ctx, &c, 5, 0);
    for (int pos = 5; pos < 9; pos++) decode_step(ctx, &c, 1, pos);
    decode_step(ctx, &c, 3, 9);
    cache_free(&c);
}

#define EXPECT(call, status)                                                                              \
    do {                                                                                                  \
        dytcl_status s_ = (call);                                                                         \
        CHECK(s_ == (status), "%s gave %s, expected %s (%s)", #call, dytcl_status_name(s_),              \
              dytcl_status_name(status), dytcl_last_error(ctx));                                          \
        CHECK(*dytcl_last_error(ctx) != '\0', "%s: no message", #call);                                 \
    } while (0)

/* Bad arguments return a status, launch nothing and leave o and the caches alone. */
static void run_bad_args(dytcl_ctx *ctx)
{
    enum { B = 1, H = 2, Tq = 2, D = 8, Tmax = 6, N = B * H * Tq * D };
    kv_cache c;
    cache_init(ctx, &c, B, H, D, Tmax, 3);
    double io[3 * N];
    rand_fill(io, 3 * N, &rng, -1, 1);
    dytcl_buf *bio = dev_from(ctx, io, 3 * N), *bo = dev_from(ctx, NULL, N), *big = dev_from(ctx, NULL, 5 * 129);
    const dytcl_tensor o = {bo, 0, 4, {B, H, Tq, D}, DYTCL_F32}, q = {bio, 0, 4, {B, H, Tq, D}, DYTCL_F32};
    const dytcl_tensor kn = {bio, N, 4, {B, H, Tq, D}, DYTCL_F32}, vn = {bio, 2 * N, 4, {B, H, Tq, D}, DYTCL_F32};
    const dytcl_tensor kc = cache_tensor(&c, 0), vc = cache_tensor(&c, 1);
    dytcl_tensor t;

    CHECK(dytcl_attention_decode(NULL, o, q, kn, vn, kc, vc, 0) == DYTCL_ERR_INVALID_ARG, "NULL ctx accepted");
    EXPECT(dytcl_attention_decode(ctx, (dytcl_tensor){0}, q, kn, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = kc, t.buf = NULL;
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, t, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = (dytcl_tensor){bio, 0, 3, {B * H, Tq, D}, DYTCL_F32};
    EXPECT(dytcl_attention_decode(ctx, o, t, kn, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    CHECK(strstr(dytcl_last_error(ctx), "[2, 2, 8]") != NULL, "message lacks the shape: %s", dytcl_last_error(ctx));
    t = (dytcl_tensor){bio, N, 4, {B, 1, 2 * Tq, D}, DYTCL_F32}; /* H mismatch */
    EXPECT(dytcl_attention_decode(ctx, o, q, t, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    CHECK(strstr(dytcl_last_error(ctx), "[1, 1, 4, 8]") != NULL, "message lacks the shape: %s", dytcl_last_error(ctx));
    t = (dytcl_tensor){bio, 2 * N, 4, {B, H, 2 * Tq, D / 2}, DYTCL_F32}; /* D mismatch */
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, t, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = (dytcl_tensor){bo, 0, 4, {B, H, 1, D}, DYTCL_F32}; /* Tq mismatch */
    EXPECT(dytcl_attention_decode(ctx, t, q, kn, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = kc, t.shape[0] = 2, t.shape[1] = 1; /* B mismatch */
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, t, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = kc, t.shape[2] = Tmax - 1; /* kcache and vcache differ */
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, t, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = vc, t.shape[3] = D / 2, t.shape[2] = 2 * Tmax;
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, kc, t, 3), DYTCL_ERR_INVALID_ARG);
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, kc, vc, -1), DYTCL_ERR_INVALID_ARG);
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, kc, vc, Tmax - Tq + 1), DYTCL_ERR_INVALID_ARG);
    CHECK(strstr(dytcl_last_error(ctx), "Tmax = 6") != NULL, "message lacks Tmax: %s", dytcl_last_error(ctx));
    t = vc, t.offset = c.n - 10; /* past the end of its buffer */
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, kc, t, 3), DYTCL_ERR_INVALID_ARG);
    t = q, t.offset = 3 * N - 1;
    EXPECT(dytcl_attention_decode(ctx, o, t, kn, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    /* overlaps: o on q, o on a cache, the caches on each other, a cache on k_new */
    EXPECT(dytcl_attention_decode(ctx, q, q, kn, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = (dytcl_tensor){c.buf, c.koff + 5, 4, {B, H, Tq, D}, DYTCL_F32};
    EXPECT(dytcl_attention_decode(ctx, t, q, kn, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    t = vc, t.offset = c.koff + 1;
    EXPECT(dytcl_attention_decode(ctx, o, q, kn, vn, kc, t, 3), DYTCL_ERR_INVALID_ARG);
    t = (dytcl_tensor){c.buf, c.voff + 7, 4, {B, H, Tq, D}, DYTCL_F32};
    EXPECT(dytcl_attention_decode(ctx, o, q, t, vn, kc, vc, 3), DYTCL_ERR_INVALID_ARG);
    /* a head size past 128 */
    dytcl_tensor big4[5];
    for (int i = 0; i < 5; i++) big4[i] = (dytcl_tensor){big, (size_t)i * 129, 4, {1, 1, 1, 129}, DYTCL_F32};
    EXPECT(dytcl_attention_decode(ctx, big4[0], big4[1], big4[2], big4[2], big4[3], big4[4], 0),
           DYTCL_ERR_UNSUPPORTED);

    double nan_o[N];
    for (int i = 0; i < N; i++) nan_o[i] = NAN;
    CHECK_CLOSE(ctx, bo, nan_o, (size_t)N, 0, "o written by a failed call%s", "");
    CHECK_CLOSE(ctx, c.buf, c.want, c.n, 0, "caches written by a failed call%s", "");
    /* and a good call afterwards works */
    CHECK_OK(ctx, dytcl_attention_decode(ctx, o, q, kn, vn, kc, vc, 3));
    dytcl_buf_free(bio), dytcl_buf_free(bo), dytcl_buf_free(big);
    cache_free(&c);
}

static void run_all(dytcl_ctx *ctx)
{
    run_bad_args(ctx);
    run_case(ctx, 1, 1, 1, 16, 5, 0);
    run_case(ctx, 1, 1, 1, 3, 4, 3);       /* tiny odd D; the last row of the cache */
    run_case(ctx, 2, 3, 3, 24, 37, 5);
    run_case(ctx, 1, 2, 1, 96, 77, 76);
    run_case(ctx, 1, 5, 7, 64, 19, 0);
    run_case(ctx, 1, 3, 3, 128, 45, 1);
    run_case(ctx, 1, 3, 3, 64, 270, 255);  /* keys in one and in two chunks of 256 */
    run_case(ctx, 1, 2, 7, 5, 40, 30);     /* D not a multiple of 4 */
    run_sequence(ctx, 1, 2, 32, 23);
    /* grouped-query attention: the caches hold H / G heads */
    run_case_g(ctx, 1, 6, 3, 1, 24, 13, 9);
    run_case_g(ctx, 2, 4, 2, 3, 5, 11, 4);
    run_case_g(ctx, 1, 6, 6, 7, 64, 270, 255);
    run_case_g(ctx, 1, 4, 2, 5, 16, 9, 0);
    /* a prompt at once: on CPUs, blocks of DECODE_QB queries per work-item
     * (attn_prefill_rows) from DECODE_PREFILL_MIN new positions on: whole
     * and partial blocks, odd head sizes, a filled cache before them, GQA */
    run_case(ctx, 1, 2, 16, 64, 16, 0);
    run_case(ctx, 1, 3, 37, 24, 50, 0);
    run_case(ctx, 2, 3, 21, 5, 40, 7);    /* D odd, keys from the cache and the new rows */
    run_case(ctx, 1, 1, 17, 1, 20, 3);    /* D = 1 */
    run_case(ctx, 1, 2, 50, 128, 70, 13);
    run_case_g(ctx, 1, 6, 3, 33, 34, 60, 20);
    run_case_g(ctx, 2, 4, 4, 19, 6, 19, 0); /* the whole cache */
    kv_cache pc;                            /* a prompt, one step, a second prompt on one cache */
    cache_init(ctx, &pc, 1, 3, 40, 90, 0);
    decode_step(ctx, &pc, 31, 0);
    decode_step(ctx, &pc, 1, 31);
    decode_step(ctx, &pc, 18, 32);
    cache_free(&pc);
    /* every head size a model allows (even, <= 128): one new token at
     * position 9, and a prompt-then-tokens sequence at some of them */
    for (int D = 2; D <= 128; D += 2) {
        run_case(ctx, 1, 2, 1, D, 12, 9);
        if (D % 26 == 0) run_sequence(ctx, 1, 1, D, 13);
    }
    if (!check_small()) {
        run_case(ctx, 2, 5, 1, 128, 1031, 1023);
        run_case(ctx, 1, 4, 7, 96, 613, 517);
        run_case(ctx, 3, 1, 3, 16, 2049, 1999);
        run_sequence(ctx, 2, 3, 64, 15);
        run_case(ctx, 1, 4, 300, 64, 812, 511);
        run_case_g(ctx, 1, 8, 2, 257, 96, 300, 0);
    }
    dytcl_ctx_free(ctx);
}

int main(void)
{
    /* Both kernel shapes: a work-item per query (CPUs) and a work-group per
     * query (GPUs), whatever the device. */
    const char *shape_names[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shape_names[sh], 1);
        printf("kernel shape: %s\n", shape_names[sh]);
        run_all(check_ctx(getenv("DYTCL_TEST_CACHE")));
    }
    /* Devices that allow few work-items per group (the library's cap stands
     * in for one): 16 leaves 8 columns of a 128-wide head per work-item; 4
     * fits no head size past 32, and decoding takes the per-query shape. */
    setenv("DYTCL_KERNEL_SHAPE", "groups", 1);
    const size_t caps[] = {16, 4};
    for (int i = 0; i < 2; i++) {
        dytcl_ctx *ctx = NULL;
        const char *dir = getenv("DYTCL_TEST_CACHE");
        dytcl_ctx_options opt = {.cache_dir = dir, .no_cache = dir == NULL, .max_work_group = caps[i]};
        CHECK_OK(NULL, dytcl_ctx_create(&opt, &ctx));
        if (!ctx) break;
        dytcl_device_info d;
        CHECK_OK(ctx, dytcl_ctx_device(ctx, &d));
        CHECK(d.max_work_group == caps[i], "cap %zu: the context reports %zu", caps[i], d.max_work_group);
        printf("work-groups capped at %zu\n", caps[i]);
        run_case(ctx, 1, 3, 3, 128, 45, 1);
        run_case(ctx, 1, 2, 1, 96, 77, 76);
        run_case(ctx, 1, 3, 3, 64, 270, 255);
        run_case(ctx, 1, 2, 7, 5, 40, 30);
        run_sequence(ctx, 1, 2, 32, 23);
        run_case_g(ctx, 1, 6, 3, 3, 96, 21, 7);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_done("test_decode");
}
