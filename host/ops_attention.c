/* ops_attention.c -- multi-head attention, causal or bidirectional
 * (cl/attention.cl), through CLBlast's batched GEMM or the tiled kernels. */
#include <limits.h>
#include <math.h>

#include "ops_args.h"
#include "gemm_host.h"


typedef struct {
    int BH, T, D;
    int G;      /* query heads per key/value head (grouped-query attention; 1: multi-head) */
    float scale;
    int causal; /* 0 with DYTCL_ATTN_BIDIRECTIONAL */
} attn_dims;

/* t (k, v or their gradients) beside q [B, H, T, D]: [B, Hk, T, D] with Hk
 * dividing H, in q's dtype; *G = H / Hk. A tensor that is not 4-D must
 * hold as many elements as q (Hk = H). */
static dytcl_status check_kv(dytcl_ctx *ctx, dytcl_tensor t, const char *name, dytcl_tensor q, int *G)
{
    if (t.ndim != 4 || q.ndim != 4) {
        *G = 1;
        return norm_check_like(ctx, t, name, q);
    }
    dytcl_status s = dy_check_tensor_dt(ctx, t, name, DY_DT_ALL);
    if (s) return s;
    const int64_t H = q.shape[1], Hk = t.shape[1];
    if (t.dtype != q.dtype || t.shape[0] != q.shape[0] || t.shape[2] != q.shape[2] || t.shape[3] != q.shape[3] ||
        Hk < 1 || H % Hk)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "attention: %s [%lld, %lld, %lld, %lld] does not fit q [%lld, %lld, %lld, %lld]: it must be "
                       "[B, Hk, T, D] in q's dtype with Hk dividing H",
                       name, (long long)t.shape[0], (long long)Hk, (long long)t.shape[2], (long long)t.shape[3],
                       (long long)q.shape[0], (long long)H, (long long)q.shape[2], (long long)q.shape[3]);
    *G = (int)(H / Hk);
    return DYTCL_OK;
}

static dytcl_status check_qkv(dytcl_ctx *ctx, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v, dytcl_tensor lse,
                              dytcl_attn_path *path, attn_dims *a)
{
    dytcl_status s;
    const int p = (int)*path & ~DYTCL_ATTN_BIDIRECTIONAL;
    if (p < DYTCL_ATTN_AUTO || p > DYTCL_ATTN_TILED)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "attention: unknown path/mode %d", (int)*path);
    a->causal = !((int)*path & DYTCL_ATTN_BIDIRECTIONAL);
    *path = (dytcl_attn_path)p;
    int gv = 1;
    if ((s = dy_check_tensor(ctx, q, "q"))) return s;
    if (q.ndim != 4)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "attention: q must be [B, H, T, D], got %d dims", q.ndim);
    if ((s = check_kv(ctx, k, "k", q, &a->G)) || (s = check_kv(ctx, v, "v", q, &gv))) return s;
    if (gv != a->G)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "attention: k and v hold different numbers of heads");
    a->BH = (int)(q.shape[0] * q.shape[1]), a->T = (int)q.shape[2], a->D = (int)q.shape[3];
    a->scale = 1.0f / sqrtf((float)a->D);
    if (a->D > ATTN_DMAX)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "attention: head size %d > %d", a->D, ATTN_DMAX);
    return dy_norm_check_vec(ctx, lse, "lse", (int64_t)a->BH * a->T, 1);
}

/* The GEMM path needs [BH, T, T] floats (twice for the backward). The tiled
 * kernels loop about T * 4D times per work-item: on a device that ends long
 * loops early (dy_loop_limit) they would return garbage, so long rows take
 * the GEMM path there even when the tiled one was asked for. */
static int use_gemm(dytcl_ctx *ctx, dytcl_attn_path path, attn_dims a)
{
    if (!dy_loops_fit(ctx, (double)a.T * a.G * (4.0 * a.D + 4))) return 1;
    if (path != DYTCL_ATTN_AUTO) return path == DYTCL_ATTN_GEMM;
    /* Scores of up to a quarter of one allocation, and T large enough for
     * GEMM to pay: measured on PoCL, the tiled kernels win for short rows. */
    int64_t bytes = dy_size_mul(dy_size_mul(dy_size_mul(a.BH, a.T), a.T), 4);
    return a.T >= 64 && bytes >= 0 && (uint64_t)bytes <= ctx->info.max_alloc / 4;
}

/* Launches a row kernel over (T, BH) after setting its arguments. */
static dytcl_status launch_rows(dytcl_ctx *ctx, dy_kernel *k, attn_dims a)
{
    size_t global[2] = {(size_t)a.T, (size_t)a.BH}, local[2] = {dy_pow2_local(ctx, k, a.T < 64 ? a.T : 64), 1};
    return dy_launch(ctx, k, 2, global, local);
}

/* S = scale Q K^T for every head, into workspace slot `slot`. */
static dytcl_status scores(dytcl_ctx *ctx, attn_dims a, dytcl_tensor q, dytcl_tensor k, int slot, dytcl_tensor *S)
{
    dytcl_buf **ws = &ctx->workspace[slot];
    cl_mem mem;
    const int64_t n = dy_size_mul(dy_size_mul(a.BH, a.T), a.T);
    if (n < 0 || n > INT_MAX || (uint64_t)n * 4 > ctx->info.max_alloc)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "attention: the scores of %d heads x %d x %d do not fit one "
                       "allocation (the tiled path needs none)", a.BH, a.T, a.T);
    dytcl_status st = dy_workspace(ctx, slot, (size_t)n * 4, &mem);
    if (st) return st;
    *S = dytcl_tensor_1d(*ws, 0, (int64_t)a.BH * a.T * a.T);
    /* per key/value head: [G T, D] queries x [T, D] keys -> [G T, T] */
    const int64_t sd = (int64_t)a.T * a.D, ss = (int64_t)a.T * a.T;
    return dytcl_gemm_batched(ctx, 0, 1, a.G * a.T, a.T, a.D, a.scale, q, a.G * sd, k, sd, 0.0f, *S, a.G * ss,
                              a.BH / a.G);
}

static dytcl_status row_kernel(dytcl_ctx *ctx, const char *name, dy_kernel **k)
{
    return dy_kernel_get(ctx, DY_PROG_ATTENTION, name, k);
}

dytcl_status dytcl_attention_forward(dytcl_ctx *ctx, dytcl_tensor o, dytcl_tensor lse, dytcl_tensor q,
                                     dytcl_tensor k, dytcl_tensor v, dytcl_attn_path path)
{
    DY_CHECK_CTX(ctx);
    attn_dims a = {0};
    dytcl_status s;
    if ((s = check_qkv(ctx, q, k, v, lse, &path, &a)) || (s = norm_check_like(ctx, o, "o", q)) ||
        (s = dy_args_check_outputs(ctx, (dytcl_tensor[]){o, lse}, (const char *[]){"o", "lse"}, 2,
                                (dytcl_tensor[]){q, k, v}, (const char *[]){"q", "k", "v"}, 3)))
        return s; /* no output over an input: the tiled kernel reads every row of k, v while writing o */
    dy_kernel *kr;
    if (use_gemm(ctx, path, a)) {
        dytcl_tensor S;
        if ((s = scores(ctx, a, q, k, DY_WS_ATTN_P, &S)) ||
            (s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_softmax), &kr)))
            return s;
        int i = dy_arg_mem(ctx, kr, 0, S.buf->mem);
        i = dy_arg_tensor(ctx, kr, i, lse, NULL);
        i = dy_arg_int(ctx, kr, i, a.T);
        i = dy_arg_int(ctx, kr, i, a.causal);
        if (i < 0) return DYTCL_ERR_OPENCL;
        if ((s = launch_rows(ctx, kr, a))) return s;
        const int64_t sd = (int64_t)a.T * a.D, ss = (int64_t)a.T * a.T;
        return dytcl_gemm_batched(ctx, 0, 0, a.G * a.T, a.D, a.T, 1.0f, S, a.G * ss, v, sd, 0.0f, o, a.G * sd,
                                  a.BH / a.G);
    }
    if ((s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_forward_tiled), &kr))) return s;
    int i = dy_arg_tensor(ctx, kr, 0, o, NULL);
    i = dy_arg_tensor(ctx, kr, i, lse, NULL);
    i = dy_arg_tensor(ctx, kr, i, q, NULL);
    i = dy_arg_tensor(ctx, kr, i, k, NULL);
    i = dy_arg_tensor(ctx, kr, i, v, NULL);
    i = dy_arg_int(ctx, kr, i, a.T);
    i = dy_arg_int(ctx, kr, i, a.D);
    i = dy_arg_float(ctx, kr, i, a.scale);
    i = dy_arg_int(ctx, kr, i, a.causal);
    i = dy_arg_int(ctx, kr, i, a.G);
    if (i < 0) return DYTCL_ERR_OPENCL;
    return launch_rows(ctx, kr, a);
}

static dytcl_status backward_gemm(dytcl_ctx *ctx, attn_dims a, dytcl_tensor dq, dytcl_tensor dk, dytcl_tensor dv,
                                  dytcl_tensor dout, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v, dytcl_tensor lse)
{
    /* per key/value head, its G query heads as [G T] rows: dK, dV sum them */
    const int64_t sd = (int64_t)a.T * a.D, ss = (int64_t)a.T * a.T, GT = (int64_t)a.G * a.T;
    const int nb = a.BH / a.G;
    dytcl_tensor P, dP;
    dy_kernel *kr;
    dytcl_status s;
    /* P again from S and lse */
    if ((s = scores(ctx, a, q, k, DY_WS_ATTN_P, &P)) ||
        (s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_softmax_recompute), &kr)))
        return s;
    int i = dy_arg_mem(ctx, kr, 0, P.buf->mem);
    i = dy_arg_tensor(ctx, kr, i, lse, NULL);
    i = dy_arg_int(ctx, kr, i, a.T);
    i = dy_arg_int(ctx, kr, i, a.causal);
    if (i < 0) return DYTCL_ERR_OPENCL;
    if ((s = launch_rows(ctx, kr, a))) return s;
    /* dV = P^T dO;  dP = dO V^T (side by side where the GEMM path can) */
    cl_mem dpm;
    if ((s = dy_workspace(ctx, DY_WS_ATTN_DP, (size_t)ss * a.BH * 4, &dpm))) return s;
    dP = dytcl_tensor_1d(ctx->workspace[DY_WS_ATTN_DP], 0, ss * a.BH);
    const dy_gemm_args pdv = {1, 0, a.T, a.D, (int)GT, 1.0f, P, a.G * ss, dout, a.G * sd, 0.0f, dv, sd, nb};
    const dy_gemm_args pdp = {0, 1, (int)GT, a.T, a.D, 1.0f, dout, a.G * sd, v, sd, 0.0f, dP, a.G * ss, nb};
    if ((s = dy_gemm_pair(ctx, pdv, pdp))) return s;
    /* dS = P (dP - rowsum(P dP)) scale, over dP */
    if ((s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_softmax_backward), &kr))) return s;
    i = dy_arg_mem(ctx, kr, 0, dpm);
    i = dy_arg_mem(ctx, kr, i, P.buf->mem);
    i = dy_arg_int(ctx, kr, i, a.T);
    i = dy_arg_float(ctx, kr, i, a.scale);
    i = dy_arg_int(ctx, kr, i, a.causal);
    if (i < 0) return DYTCL_ERR_OPENCL;
    if ((s = launch_rows(ctx, kr, a))) return s;
    /* dQ = dS K;  dK = dS^T Q */
    const dy_gemm_args pdq = {0, 0, (int)GT, a.D, a.T, 1.0f, dP, a.G * ss, k, sd, 0.0f, dq, a.G * sd, nb};
    const dy_gemm_args pdk = {1, 0, a.T, a.D, (int)GT, 1.0f, dP, a.G * ss, q, a.G * sd, 0.0f, dk, sd, nb};
    return dy_gemm_pair(ctx, pdq, pdk);
}

static dytcl_status backward_tiled(dytcl_ctx *ctx, attn_dims a, dytcl_tensor dq, dytcl_tensor dk, dytcl_tensor dv,
                                   dytcl_tensor dout, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v, dytcl_tensor o,
                                   dytcl_tensor lse)
{
    cl_mem delta;
    dy_kernel *kd, *kq, *kkv;
    dytcl_status s;
    if ((s = dy_workspace(ctx, DY_WS_ATTN_DELTA, (size_t)a.BH * a.T * 4, &delta)) ||
        (s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_delta), &kd)) ||
        (s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_backward_dq_tiled), &kq)) ||
        (s = row_kernel(ctx, DY_KNAME(ATTENTION, attn_backward_dkdv_tiled), &kkv)))
        return s;
    int i = dy_arg_mem(ctx, kd, 0, delta);
    i = dy_arg_tensor(ctx, kd, i, dout, NULL);
    i = dy_arg_tensor(ctx, kd, i, o, NULL);
    i = dy_arg_int(ctx, kd, i, a.T);
    i = dy_arg_int(ctx, kd, i, a.D);
    int j = dy_arg_tensor(ctx, kq, 0, dq, NULL);
    j = dy_arg_tensor(ctx, kq, j, dout, NULL);
    j = dy_arg_tensor(ctx, kq, j, q, NULL);
    j = dy_arg_tensor(ctx, kq, j, k, NULL);
    j = dy_arg_tensor(ctx, kq, j, v, NULL);
    j = dy_arg_tensor(ctx, kq, j, lse, NULL);
    j = dy_arg_mem(ctx, kq, j, delta);
    j = dy_arg_int(ctx, kq, j, a.T);
    j = dy_arg_int(ctx, kq, j, a.D);
    j = dy_arg_float(ctx, kq, j, a.scale);
    j = dy_arg_int(ctx, kq, j, a.causal);
    j = dy_arg_int(ctx, kq, j, a.G);
    int m = dy_arg_tensor(ctx, kkv, 0, dk, NULL);
    m = dy_arg_tensor(ctx, kkv, m, dv, NULL);
    m = dy_arg_tensor(ctx, kkv, m, dout, NULL);
    m = dy_arg_tensor(ctx, kkv, m, q, NULL);
    m = dy_arg_tensor(ctx, kkv, m, k, NULL);
    m = dy_arg_tensor(ctx, kkv, m, v, NULL);
    m = dy_arg_tensor(ctx, kkv, m, lse, NULL);
    m = dy_arg_mem(ctx, kkv, m, delta);
    m = dy_arg_int(ctx, kkv, m, a.T);
    m = dy_arg_int(ctx, kkv, m, a.D);
    m = dy_arg_float(ctx, kkv, m, a.scale);
    m = dy_arg_int(ctx, kkv, m, a.causal);
    m = dy_arg_int(ctx, kkv, m, a.G);
    if (i < 0 || j < 0 || m < 0) return DYTCL_ERR_OPENCL;
    if ((s = launch_rows(ctx, kd, a)) || (s = launch_rows(ctx, kq, a))) return s;
    attn_dims kv = a; /* a work-item per key of each key/value head */
    kv.BH = a.BH / a.G;
    return launch_rows(ctx, kkv, kv);
}

dytcl_status dytcl_attention_backward(dytcl_ctx *ctx, dytcl_tensor dq, dytcl_tensor dk, dytcl_tensor dv,
                                      dytcl_tensor dout, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v,
                                      dytcl_tensor o, dytcl_tensor lse, dytcl_attn_path path)
{
    DY_CHECK_CTX(ctx);
    attn_dims a = {0};
    dytcl_status s;
    if ((s = check_qkv(ctx, q, k, v, lse, &path, &a)) || (s = norm_check_like(ctx, o, "o", q)) ||
        (s = norm_check_like(ctx, dout, "dout", q)) || (s = norm_check_like(ctx, dq, "dq", q)) ||
        (s = norm_check_like(ctx, dk, "dk", k)) || (s = norm_check_like(ctx, dv, "dv", v)) ||
        (s = dy_args_check_outputs(ctx, (dytcl_tensor[]){dq, dk, dv}, (const char *[]){"dq", "dk", "dv"}, 3,
                                (dytcl_tensor[]){q, k, v, o, dout, lse},
                                (const char *[]){"q", "k", "v", "o", "dout", "lse"}, 6)))
        return s;
    if (use_gemm(ctx, path, a)) return backward_gemm(ctx, a, dq, dk, dv, dout, q, k, v, lse);
    return backward_tiled(ctx, a, dq, dk, dv, dout, q, k, v, o, lse);
}

/* ------------------------------------------------------------ head layout */

/* The head layout kernels (cl/attention.cl). The GPU shape: global (D, T, H),
 * local D (rounded to a power of two) by as many rows t as divide T and fit
 * 256 work-items. The CPU shape (the _rows kernels): global (T, H, B). */
static dytcl_status layout_launch(dytcl_ctx *ctx, dy_kernel *k, int rows, int B, int T, int H, int D)
{
    if (rows) {
        size_t global[3] = {(size_t)T, (size_t)H, (size_t)B}, local[3] = {dy_pow2_local(ctx, k, 16), 1, 1};
        return dy_launch(ctx, k, 3, global, local);
    }
    const size_t lim = dy_pow2_local(ctx, k, 256);
    size_t global[3] = {(size_t)D, (size_t)T, (size_t)H}, local[3] = {dy_pow2_local(ctx, k, (size_t)D), 1, 1};
    while (local[0] * local[1] * 2 <= lim && local[1] * 2 <= ctx->max_items[1] && T % (local[1] * 2) == 0)
        local[1] *= 2;
    return dy_launch(ctx, k, 3, global, local);
}

/* The shapes a heads split (or merge back) needs: q [B, H, T, D], k and v
 * [B, Hk, T, D] with H a multiple of Hk (*G = H / Hk), qkv holding them all. */
static dytcl_status check_split(dytcl_ctx *ctx, dytcl_tensor qkv, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v,
                                int *G)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    int gv = 1;
    *G = 1;
    if ((s = dy_check_tensor(ctx, q, "q"))) return s;
    if (q.ndim != 4) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "q must be [B, H, T, D], got %d dims", q.ndim);
    if ((s = check_kv(ctx, k, "k", q, G)) || (s = check_kv(ctx, v, "v", q, &gv)) ||
        (s = dy_check_tensor(ctx, qkv, "qkv")))
        return s;
    if (gv != *G) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "heads split: k and v hold different numbers of heads");
    const int64_t nkv = dytcl_tensor_numel(q) / *G;
    if (dytcl_tensor_numel(qkv) != dytcl_tensor_numel(q) + 2 * nkv)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "qkv has %lld elements, expected %lld + 2 x %lld",
                       (long long)dytcl_tensor_numel(qkv), (long long)dytcl_tensor_numel(q), (long long)nkv);
    return DYTCL_OK;
}

/* qkv [B, T, (H + 2 Hk) D] <-> q [B, H, T, D], k, v [B, Hk, T, D]; back = 1
 * goes from q, k, v to qkv. */
static dytcl_status split(dytcl_ctx *ctx, dytcl_tensor qkv, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v, int back)
{
    int G = 1;
    dytcl_status s = check_split(ctx, qkv, q, k, v, &G);
    if (s) return s;
    int H = (int)q.shape[1], T = (int)q.shape[2], D = (int)q.shape[3];
    dy_kernel *k1;
    const int rows = dy_row_shape(ctx);
    if ((s = rows ? dy_kernel_get(ctx, DY_KERNEL(ATTENTION, heads_split_rows), &k1)
                  : dy_kernel_get(ctx, DY_KERNEL(ATTENTION, heads_split), &k1)))
        return s;
    int i = dy_arg_tensor(ctx, k1, 0, q, NULL);
    i = dy_arg_tensor(ctx, k1, i, k, NULL);
    i = dy_arg_tensor(ctx, k1, i, v, NULL);
    i = dy_arg_tensor(ctx, k1, i, qkv, NULL);
    i = dy_arg_int(ctx, k1, i, (int)q.shape[0]);
    i = dy_arg_int(ctx, k1, i, T);
    i = dy_arg_int(ctx, k1, i, H);
    i = dy_arg_int(ctx, k1, i, H / G);
    i = dy_arg_int(ctx, k1, i, D);
    i = dy_arg_int(ctx, k1, i, back);
    if (i < 0) return DYTCL_ERR_OPENCL;
    return layout_launch(ctx, k1, rows, (int)q.shape[0], T, H, D);
}

static dytcl_status merge(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor o, int back)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, o, "o")) || (s = norm_check_like(ctx, y, "y", o))) return s;
    if (o.ndim != 4) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "o must be [B, H, T, D], got %d dims", o.ndim);
    int H = (int)o.shape[1], T = (int)o.shape[2], D = (int)o.shape[3];
    dy_kernel *k1;
    const int rows = dy_row_shape(ctx);
    if ((s = rows ? dy_kernel_get(ctx, DY_KERNEL(ATTENTION, heads_merge_rows), &k1)
                  : dy_kernel_get(ctx, DY_KERNEL(ATTENTION, heads_merge), &k1)))
        return s;
    int i = dy_arg_tensor(ctx, k1, 0, y, NULL);
    i = dy_arg_tensor(ctx, k1, i, o, NULL);
    i = dy_arg_int(ctx, k1, i, (int)o.shape[0]);
    i = dy_arg_int(ctx, k1, i, T);
    i = dy_arg_int(ctx, k1, i, H);
    i = dy_arg_int(ctx, k1, i, D);
    i = dy_arg_int(ctx, k1, i, back);
    if (i < 0) return DYTCL_ERR_OPENCL;
    return layout_launch(ctx, k1, rows, (int)o.shape[0], T, H, D);
}

/* split with RoPE on q and k (heads_split_rope*, cl/attention.cl). */
static dytcl_status split_rope(dytcl_ctx *ctx, dytcl_tensor qkv, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v,
                               int pos, float theta, int back)
{
    int G = 1;
    dytcl_status s = check_split(ctx, qkv, q, k, v, &G);
    if (s) return s;
    const int B = (int)q.shape[0], H = (int)q.shape[1], T = (int)q.shape[2], D = (int)q.shape[3];
    if (D % 2) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "heads split with RoPE: D = %d must be even", D);
    if (!(theta > 1.0f) || isinf(theta) || pos < 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "heads split with RoPE: theta = %g must be finite and > 1, "
                       "pos_offset (%d) >= 0", theta, pos);
    if ((int64_t)pos + T > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "heads split with RoPE: positions up to %lld are past the "
                       "largest int", (long long)pos + T);
    /* the kernel reads a qkv row and writes q, k, v rows (or back): apart */
    dytcl_tensor heads[3] = {q, k, v}, packed[1] = {qkv};
    const char *hn[3] = {back ? "dq" : "q", back ? "dk" : "k", back ? "dv" : "v"}, *pn[1] = {back ? "dqkv" : "qkv"};
    if ((s = back ? dy_args_check_outputs(ctx, packed, pn, 1, heads, hn, 3)
                  : dy_args_check_outputs(ctx, heads, hn, 3, packed, pn, 1)))
        return s;
    cl_mem cs;
    dy_kernel *k1;
    const int rows = dy_row_shape(ctx);
    if ((s = dy_rope_table(ctx, theta, D, pos, T, &cs)) ||
        (s = rows ? dy_kernel_get(ctx, DY_KERNEL(ATTENTION, heads_split_rope_rows), &k1)
                  : dy_kernel_get(ctx, DY_KERNEL(ATTENTION, heads_split_rope), &k1)))
        return s;
    int i = dy_arg_tensor(ctx, k1, 0, q, NULL);
    i = dy_arg_tensor(ctx, k1, i, k, NULL);
    i = dy_arg_tensor(ctx, k1, i, v, NULL);
    i = dy_arg_tensor(ctx, k1, i, qkv, NULL);
    i = dy_arg_mem(ctx, k1, i, cs);
    i = dy_arg_int(ctx, k1, i, pos);
    i = dy_arg_int(ctx, k1, i, (int)ctx->rope.base);
    i = dy_arg_int(ctx, k1, i, B);
    i = dy_arg_int(ctx, k1, i, T);
    i = dy_arg_int(ctx, k1, i, H);
    i = dy_arg_int(ctx, k1, i, H / G);
    i = dy_arg_int(ctx, k1, i, D);
    i = dy_arg_int(ctx, k1, i, back);
    if (i < 0) return DYTCL_ERR_OPENCL;
    return layout_launch(ctx, k1, rows, B, T, H, D / 2); /* GPU shape: a pair per work-item */
}

dytcl_status dytcl_heads_split_rope(dytcl_ctx *ctx, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v, dytcl_tensor qkv,
                                    int pos_offset, float theta)
{
    return split_rope(ctx, qkv, q, k, v, pos_offset, theta, 0);
}

dytcl_status dytcl_heads_split_rope_backward(dytcl_ctx *ctx, dytcl_tensor dqkv, dytcl_tensor dq, dytcl_tensor dk,
                                             dytcl_tensor dv, int pos_offset, float theta)
{
    return split_rope(ctx, dqkv, dq, dk, dv, pos_offset, theta, 1);
}

dytcl_status dytcl_heads_split(dytcl_ctx *ctx, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v, dytcl_tensor qkv)
{
    return split(ctx, qkv, q, k, v, 0);
}

dytcl_status dytcl_heads_split_backward(dytcl_ctx *ctx, dytcl_tensor dqkv, dytcl_tensor dq, dytcl_tensor dk,
                                        dytcl_tensor dv)
{
    return split(ctx, dqkv, dq, dk, dv, 1);
}

dytcl_status dytcl_heads_merge(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor o)
{
    return merge(ctx, y, o, 0);
}

dytcl_status dytcl_heads_merge_backward(dytcl_ctx *ctx, dytcl_tensor dout, dytcl_tensor dy)
{
    return merge(ctx, dy, dout, 1);
}
