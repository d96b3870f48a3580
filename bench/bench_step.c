/* bench_step.c -- `dytcl bench step`: the share of a training step each op
 * takes, for one GPT-2-small block (C = 768, 12 heads, MLP 3072, GELU) at
 * B x T tokens, forward and backward, with DyT or RMSNorm as its norms.
 * Each op is timed alone (device time, median of --reps after a warm-up);
 * then the whole block, forward and backward, is enqueued at once and timed
 * by the wall clock with one synchronisation, as a training step runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

enum { C = 768, H = 12, D = 64, F = 3072 };

typedef struct {
    int B, T, rms; /* rms: RMSNorm instead of DyT */
    int64_t N;     /* B * T rows */
    /* activations */
    dytcl_tensor x, h1, rstd1, qkv, q, k, v, o, lse, att, proj, r2, h2, rstd2, fc, g, fc2;
    /* gradients of activations (reused across the block) */
    dytcl_tensor dA, dB, dqkv, dq, dk, dv, dfc;
    /* parameters and their gradients */
    dytcl_dyt_params p1, p2;
    dytcl_dyt_grads g1, g2;
    dytcl_tensor wqkv, bqkv, wo, bo, w1, b1, w2, b2;
    dytcl_tensor dwqkv, dbqkv, dwo, dbo, dw1, db1, dw2, db2;
} block;

/* ---- the ops of a block, forward then backward, one enqueue each */
#define OP(name) static dytcl_status name(dytcl_ctx *c, void *arg)
#define S ((block *)arg)
OP(norm1_f) { return S->rms ? dytcl_rmsnorm_forward(c, S->h1, S->rstd1, S->x, S->p1.weight, 1e-5f) : dytcl_dyt_forward(c, S->h1, S->x, &S->p1); }
OP(qkv_f) { return dytcl_linear_forward(c, S->qkv, S->h1, S->wqkv, S->bqkv); }
OP(split_f) { return dytcl_heads_split(c, S->q, S->k, S->v, S->qkv); }
OP(attn_f) { return dytcl_attention_forward(c, S->o, S->lse, S->q, S->k, S->v, DYTCL_ATTN_AUTO); }
OP(merge_f) { return dytcl_heads_merge(c, S->att, S->o); }
OP(proj_f) { return dytcl_linear_forward(c, S->proj, S->att, S->wo, S->bo); }
OP(norm2_f)
{
    return S->rms ? dytcl_residual_rmsnorm_forward(c, S->r2, S->h2, S->rstd2, S->x, S->proj, S->p2.weight, 1e-5f)
                  : dytcl_residual_dyt_forward(c, S->r2, S->h2, S->x, S->proj, &S->p2);
}
OP(fc_f) { return dytcl_linear_forward(c, S->fc, S->h2, S->w1, S->b1); }
OP(gelu_f) { return dytcl_gelu_forward(c, S->g, S->fc); }
OP(fc2_f) { return dytcl_linear_forward(c, S->fc2, S->g, S->w2, S->b2); }
OP(fc2_b) { return dytcl_linear_backward(c, S->dfc, S->dw2, S->db2, 1, S->dA, S->g, S->w2); }
OP(gelu_b) { return dytcl_gelu_backward(c, S->dfc, S->dfc, S->fc); }
OP(fc_b) { return dytcl_linear_backward(c, S->dB, S->dw1, S->db1, 1, S->dfc, S->h2, S->w1); }
OP(norm2_b)
{
    return S->rms ? dytcl_residual_rmsnorm_backward(c, S->dA, S->p2.weight, 1, S->dB, S->dA, S->r2, S->rstd2, S->p2.weight)
                  : dytcl_residual_dyt_backward(c, S->dA, &S->g2, S->dB, S->dA, S->r2, &S->p2);
}
OP(proj_b) { return dytcl_linear_backward(c, S->dB, S->dwo, S->dbo, 1, S->dA, S->att, S->wo); }
OP(merge_b) { return dytcl_heads_merge_backward(c, S->o, S->dB); }
OP(attn_b) { return dytcl_attention_backward(c, S->dq, S->dk, S->dv, S->o, S->q, S->k, S->v, S->o, S->lse, DYTCL_ATTN_AUTO); }
OP(split_b) { return dytcl_heads_split_backward(c, S->dqkv, S->dq, S->dk, S->dv); }
OP(qkv_b) { return dytcl_linear_backward(c, S->dB, S->dwqkv, S->dbqkv, 1, S->dqkv, S->h1, S->wqkv); }
OP(norm1_b)
{
    return S->rms ? dytcl_rmsnorm_backward(c, S->dB, S->p1.weight, 1, S->dB, S->x, S->rstd1, S->p1.weight)
                  : dytcl_dyt_backward(c, S->dB, &S->g1, S->dB, S->x, &S->p1);
}
#undef S
#undef OP

static const struct {
    const char *name;
    bench_fn fn;
    int is_norm;
} ops[] = {
    {"norm1 fwd", norm1_f, 1}, {"qkv linear fwd", qkv_f, 0}, {"heads split fwd", split_f, 0},
    {"attention fwd", attn_f, 0}, {"heads merge fwd", merge_f, 0}, {"proj linear fwd", proj_f, 0},
    {"residual+norm2 fwd", norm2_f, 1}, {"fc linear fwd", fc_f, 0}, {"gelu fwd", gelu_f, 0},
    {"fc2 linear fwd", fc2_f, 0}, {"fc2 linear bwd", fc2_b, 0}, {"gelu bwd", gelu_b, 0},
    {"fc linear bwd", fc_b, 0}, {"residual+norm2 bwd", norm2_b, 1}, {"proj linear bwd", proj_b, 0},
    {"heads merge bwd", merge_b, 0}, {"attention bwd", attn_b, 0}, {"heads split bwd", split_b, 0},
    {"qkv linear bwd", qkv_b, 0}, {"norm1 bwd", norm1_b, 1},
};
enum { NOPS = sizeof ops / sizeof ops[0] };

/* Every tensor of the block in its own buffer (freed by the caller). */
static dytcl_status block_alloc(dytcl_ctx *ctx, block *b, dytcl_buf **bufs, int *nb)
{
    const int64_t N = b->N;
    struct {
        dytcl_tensor *t;
        int ndim;
        int64_t shape[4];
    } list[] = {
        {&b->x, 2, {N, C}}, {&b->h1, 2, {N, C}}, {&b->rstd1, 1, {N}}, {&b->qkv, 2, {N, 3 * C}},
        {&b->q, 4, {b->B, H, b->T, D}}, {&b->k, 4, {b->B, H, b->T, D}}, {&b->v, 4, {b->B, H, b->T, D}},
        {&b->o, 4, {b->B, H, b->T, D}}, {&b->lse, 1, {N * H}}, {&b->att, 2, {N, C}},
        {&b->proj, 2, {N, C}}, {&b->r2, 2, {N, C}}, {&b->h2, 2, {N, C}}, {&b->rstd2, 1, {N}},
        {&b->fc, 2, {N, F}}, {&b->g, 2, {N, F}}, {&b->fc2, 2, {N, C}}, {&b->dA, 2, {N, C}},
        {&b->dB, 2, {N, C}}, {&b->dqkv, 2, {N, 3 * C}}, {&b->dq, 4, {b->B, H, b->T, D}},
        {&b->dk, 4, {b->B, H, b->T, D}}, {&b->dv, 4, {b->B, H, b->T, D}}, {&b->dfc, 2, {N, F}},
        {&b->wqkv, 2, {3 * C, C}}, {&b->bqkv, 1, {3 * C}}, {&b->wo, 2, {C, C}}, {&b->bo, 1, {C}},
        {&b->w1, 2, {F, C}}, {&b->b1, 1, {F}}, {&b->w2, 2, {C, F}}, {&b->b2, 1, {C}},
        {&b->dwqkv, 2, {3 * C, C}}, {&b->dbqkv, 1, {3 * C}}, {&b->dwo, 2, {C, C}}, {&b->dbo, 1, {C}},
        {&b->dw1, 2, {F, C}}, {&b->db1, 1, {F}}, {&b->dw2, 2, {C, F}}, {&b->db2, 1, {C}}, {&b->p1.alpha, 1, {1}}, {&b->p1.weight, 1, {C}},
        {&b->p2.alpha, 1, {1}}, {&b->p2.weight, 1, {C}}, {&b->g1.dalpha, 1, {1}}, {&b->g1.dweight, 1, {C}},
    };
    dytcl_status s = DYTCL_OK;
    for (size_t i = 0; i < sizeof list / sizeof list[0] && !s; i++) {
        dytcl_tensor t = {NULL, 0, list[i].ndim, {list[i].shape[0], list[i].shape[1], list[i].shape[2], list[i].shape[3]}, DYTCL_F32};
        for (int d = 1; d < 4; d++) t.shape[d] = d < t.ndim ? t.shape[d] : 0;
        int64_t n = 1;
        for (int d = 0; d < t.ndim; d++) n *= t.shape[d];
        s = bench_random_buf(ctx, (size_t)n, -0.05f, 0.05f, (unsigned)i, &bufs[*nb]);
        if (s) break;
        t.buf = bufs[(*nb)++];
        *list[i].t = t;
    }
    b->g2 = b->g1;
    return s;
}

int bench_step(const bench_step_opts *o, char *err, size_t cap)
{
    const int B = o->batch, T = o->seq, reps = o->reps;
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx) != DYTCL_OK) return bench_fail(err, cap, "%s", dytcl_last_error(NULL));
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    printf("device: %s; one GPT-2-small block, %d x %d tokens\n", dev.name, B, T);
    json_t *records = json_array();
    dytcl_status s = DYTCL_OK;
    double times[2][NOPS], total[2] = {0, 0}, norm_total[2] = {0, 0}, step_ms[2] = {0, 0};
    for (int rms = 0; rms < 2 && !s; rms++) {
        block b = {.B = B, .T = T, .rms = rms, .N = (int64_t)B * T};
        dytcl_buf *bufs[64];
        int nb = 0;
        s = block_alloc(ctx, &b, bufs, &nb);
        for (int i = 0; i < NOPS && !s; i++) {
            s = bench_median_us(ctx, ops[i].fn, &b, 1, reps, &times[rms][i]);
            total[rms] += times[rms][i];
            if (ops[i].is_norm) norm_total[rms] += times[rms][i];
        }
        for (int r = 0; r < 3 && !s; r++) { /* the whole block, one sync */
            double t0 = dytcl_now_ms();
            for (int i = 0; i < NOPS && !s; i++) s = ops[i].fn(ctx, &b);
            if (!s) s = dytcl_finish(ctx);
            double ms = dytcl_now_ms() - t0;
            if (r == 0 || ms < step_ms[rms]) step_ms[rms] = ms;
        }
        for (int i = 0; i < nb; i++) dytcl_buf_free(bufs[i]);
    }
    if (!s) {
        printf("\n%-20s %12s %7s %12s %7s\n", "op", "DyT us", "share", "RMSNorm us", "share");
        for (int i = 0; i < NOPS; i++) {
            printf("%-20s %12.1f %6.1f%% %12.1f %6.1f%%\n", ops[i].name, times[0][i], 100 * times[0][i] / total[0],
                   times[1][i], 100 * times[1][i] / total[1]);
            json_array_append_new(records, json_pack("{s:s, s:f, s:f, s:f, s:f}", "op", ops[i].name, "dyt_us",
                                                     times[0][i], "dyt_share", times[0][i] / total[0], "rmsnorm_us",
                                                     times[1][i], "rmsnorm_share", times[1][i] / total[1]));
        }
        printf("%-20s %12.1f %6.1f%% %12.1f %6.1f%%\n", "norm layers", norm_total[0], 100 * norm_total[0] / total[0],
               norm_total[1], 100 * norm_total[1] / total[1]);
        printf("%-20s %12.1f %7s %12.1f\n", "sum of ops", total[0], "", total[1]);
        printf("%-20s %12.1f %7s %12.1f   (ms, wall clock, one sync)\n", "whole block", step_ms[0], "", step_ms[1]);
        json_array_append_new(records, json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f}", "op", "block", "B", B, "T", T,
                                                 "dyt_ms", step_ms[0], "rmsnorm_ms", step_ms[1], "dyt_norm_share",
                                                 norm_total[0] / total[0], "rmsnorm_norm_share",
                                                 norm_total[1] / total[1]));
    }
    int code = 0;
    if (s) {
        code = bench_fail(err, cap, "%s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    } else if (o->json) {
        json_t *d = bench_device_json(ctx, &dev);
        code = bench_write_json(o->json, d, records, err, cap);
        json_decref(d);
    }
    json_decref(records);
    dytcl_ctx_free(ctx);
    return code;
}
