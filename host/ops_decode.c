/* ops_decode.c -- attention for new positions against a KV cache
 * (cl/decode.cl): the forward pass of autoregressive generation, one token
 * at a time or a whole prompt at once (on CPUs, blocks of DECODE_QB queries
 * per work-item from DECODE_PREFILL_MIN positions on). */
#include <math.h>
#include <stdio.h>

#include "ops_args.h"


/* "[2, 3, 5, 64]" */
static const char *shape_str(dytcl_tensor t, char buf[96])
{
    int n = snprintf(buf, 96, "[");
    for (int i = 0; i < t.ndim && n < 80; i++)
        n += snprintf(buf + n, (size_t)(96 - n), i ? ", %lld" : "%lld", (long long)t.shape[i]);
    snprintf(buf + n, (size_t)(96 - n), "]");
    return buf;
}

/* t must be 4-D and, in the dimensions where `mask` has a 1 bit (bit i for
 * dimension i), the same as `like`. */
static dytcl_status check_shape(dytcl_ctx *ctx, dytcl_tensor t, const char *name, dytcl_tensor like,
                                const char *like_name, unsigned mask)
{
    char a[96], b[96];
    if (t.ndim != 4)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "attention_decode: %s must be 4-D, got %s", name, shape_str(t, a));
    for (int i = 0; i < 4; i++)
        if ((mask >> i & 1) && t.shape[i] != like.shape[i])
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                           "attention_decode: %s %s does not match %s %s (q, o: [B, H, Tq, D]; k_new, v_new: "
                           "[B, Hk, Tq, D]; kcache, vcache: [B, Hk, Tmax, D], Hk dividing H)",
                           name, shape_str(t, a), like_name, shape_str(like, b));
    return DYTCL_OK;
}

/* A tensor the call writes (o, kcache, vcache) must not share elements with
 * any other of its tensors. */
static dytcl_status check_apart(dytcl_ctx *ctx, const dytcl_tensor *t, const char *const *names, int n)
{
    for (int w = 0; w < n; w++) {
        if (w != 0 && w != 4 && w != 5) continue; /* o, kcache, vcache */
        int64_t w0 = (int64_t)t[w].offset, w1 = w0 + dytcl_tensor_numel(t[w]);
        for (int r = 0; r < n; r++) {
            if (r == w || t[r].buf != t[w].buf) continue;
            int64_t r0 = (int64_t)t[r].offset, r1 = r0 + dytcl_tensor_numel(t[r]);
            if (w0 < r1 && r0 < w1)
                return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                               "attention_decode: %s (elements %lld..%lld) overlaps %s (%lld..%lld) in one buffer",
                               names[w], (long long)w0, (long long)(w1 - 1), names[r], (long long)r0,
                               (long long)(r1 - 1));
        }
    }
    return DYTCL_OK;
}

/* All checks; t = {o, q, k_new, v_new, kcache, vcache}. */
static dytcl_status check_decode(dytcl_ctx *ctx, const dytcl_tensor *t, int pos)
{
    static const char *const names[6] = {"o", "q", "k_new", "v_new", "kcache", "vcache"};
    dytcl_status s;
    for (int i = 0; i < 6; i++)
        if ((s = dy_check_tensor(ctx, t[i], names[i]))) return s;
    const dytcl_tensor q = t[1];
    if ((s = check_shape(ctx, q, "q", q, "q", 0)) || (s = check_shape(ctx, t[2], "k_new", q, "q", 0xd)) ||
        (s = check_shape(ctx, t[3], "v_new", t[2], "k_new", 0xf)) || (s = check_shape(ctx, t[0], "o", q, "q", 0xf)) ||
        (s = check_shape(ctx, t[4], "kcache", t[2], "k_new", 0xb)) ||
        (s = check_shape(ctx, t[5], "vcache", t[4], "kcache", 0xf)))
        return s;
    char a[96], b[96];
    if (t[2].shape[1] < 1 || q.shape[1] % t[2].shape[1])
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "attention_decode: k_new %s: its %lld heads do not divide q's %s",
                       shape_str(t[2], a), (long long)t[2].shape[1], shape_str(q, b));
    const int64_t Tq = q.shape[2], Tmax = t[4].shape[2];
    if (pos < 0 || pos + Tq > Tmax)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "attention_decode: positions %d..%lld do not fit the cache: q is %s, kcache %s (Tmax = %lld)",
                       pos, (long long)(pos + Tq - 1), shape_str(q, a), shape_str(t[4], b), (long long)Tmax);
    if (q.shape[3] > DECODE_DMAX)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "attention_decode: head size %lld > %d (q is %s)",
                       (long long)q.shape[3], DECODE_DMAX, shape_str(q, a));
    return check_apart(ctx, t, names, 6);
}

/* The work-group size of attn_decode_wg: a power of two up to DECODE_WG_MAX, as
 * the kernel and device allow. Each work-item keeps up to DECODE_COLS
 * columns of a head, so L >= D / DECODE_COLS; 0 when no such size fits,
 * and the caller takes the work-item-per-query shape instead. */
static size_t group_size(const dytcl_ctx *ctx, const dy_kernel *k, int D)
{
    size_t L = dy_pow2_local(ctx, k, DECODE_WG_MAX);
    return L * DECODE_COLS >= (size_t)D ? L : 0;
}

dytcl_status dytcl_attention_decode(dytcl_ctx *ctx, dytcl_tensor o, dytcl_tensor q, dytcl_tensor k_new,
                                    dytcl_tensor v_new, dytcl_tensor kcache, dytcl_tensor vcache, int pos)
{
    DY_CHECK_CTX(ctx);
    const dytcl_tensor t[6] = {o, q, k_new, v_new, kcache, vcache};
    dytcl_status s = check_decode(ctx, t, pos);
    if (s) return s;
    const int BH = (int)(q.shape[0] * q.shape[1]), Tq = (int)q.shape[2], D = (int)q.shape[3];
    const int Tmax = (int)kcache.shape[2], G = (int)(q.shape[1] / k_new.shape[1]);
    /* a work-item per query loops about (pos + Tq) * 3D/8 + 4D times; per
     * block of DECODE_QB queries (a prompt), (pos + Tq) D/2 + 2 DECODE_QB D */
    int rows = dy_row_shape(ctx) && dy_loops_fit(ctx, (double)(pos + Tq) * (3.0 * D / 8 + 1) + 4.0 * D);
    const int prefill = rows && Tq >= DECODE_PREFILL_MIN &&
                        dy_loops_fit(ctx, (double)(pos + Tq) * (D / 2.0 + 1) + 2.0 * DECODE_QB * D);
    dy_kernel *k = NULL;
    size_t L = 1;
    if (prefill) {
        if ((s = dy_kernel_get(ctx, DY_KERNEL(DECODE, attn_prefill_rows), &k))) return s;
    } else if (!rows) {
        if ((s = dy_kernel_get(ctx, DY_KERNEL(DECODE, attn_decode_wg), &k))) return s;
        L = group_size(ctx, k, D);
        rows = L == 0; /* the device allows too few work-items: a slower shape that always fits */
    }
    if (rows && !prefill && (s = dy_kernel_get(ctx, DY_KERNEL(DECODE, attn_decode_rows), &k))) return s;
    int i = dy_arg_tensor(ctx, k, 0, o, NULL);
    i = dy_arg_tensor(ctx, k, i, q, NULL);
    i = dy_arg_tensor(ctx, k, i, k_new, NULL);
    i = dy_arg_tensor(ctx, k, i, v_new, NULL);
    i = dy_arg_tensor(ctx, k, i, kcache, NULL);
    i = dy_arg_tensor(ctx, k, i, vcache, NULL);
    i = dy_arg_int(ctx, k, i, Tq);
    i = dy_arg_int(ctx, k, i, Tmax);
    i = dy_arg_int(ctx, k, i, D);
    i = dy_arg_int(ctx, k, i, pos);
    i = dy_arg_float(ctx, k, i, 1.0f / sqrtf((float)D));
    i = dy_arg_int(ctx, k, i, G);
    if (i < 0) return DYTCL_ERR_OPENCL;
    if (prefill) {
        size_t global[2] = {((size_t)Tq + DECODE_QB - 1) / DECODE_QB, (size_t)BH}, local[2] = {1, 1};
        return dy_launch(ctx, k, 2, global, local);
    }
    if (rows) {
        size_t global[2] = {(size_t)Tq, (size_t)BH}, local[2] = {1, 1};
        return dy_launch(ctx, k, 2, global, local);
    }
    size_t global[3] = {L, (size_t)Tq, (size_t)BH}, local[3] = {L, 1, 1};
    return dy_launch(ctx, k, 3, global, local);
}
