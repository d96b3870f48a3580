/* bench_attention.c -- `dytcl bench attention`: causal attention forward and
 * backward against the sequence length T, through the GEMM path and the
 * tiled path, with the extra memory each needs: the GEMM path's scores grow
 * as T^2, the tiled path keeps O(T) per head. GPT-2-small heads: H = 12,
 * D = 64, B = 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct {
    dytcl_tensor q, k, v, o, lse, dq, dk, dv, dout;
    dytcl_attn_path path;
} attn_case;

static dytcl_status fwd(dytcl_ctx *ctx, void *arg)
{
    attn_case *a = arg;
    return dytcl_attention_forward(ctx, a->o, a->lse, a->q, a->k, a->v, a->path);
}

static dytcl_status bwd(dytcl_ctx *ctx, void *arg)
{
    attn_case *a = arg;
    return dytcl_attention_backward(ctx, a->dq, a->dk, a->dv, a->dout, a->q, a->k, a->v, a->o, a->lse, a->path);
}

int bench_attention(const bench_attention_opts *o, char *err, size_t cap)
{
    const int reps = o->reps, maxT = o->max_t;
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx) != DYTCL_OK) return bench_fail(err, cap, "%s", dytcl_last_error(NULL));
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    printf("device: %s\n\n%5s %-6s %12s %12s %14s\n", dev.name, "T", "path", "fwd_us", "bwd_us", "extra_MiB");
    const int H = 12, D = 64;
    json_t *records = json_array();
    dytcl_status s = DYTCL_OK;
    for (int T = 64; T <= maxT && !s; T *= 2) {
        size_t n = (size_t)H * T * D;
        dytcl_buf *b[9] = {0};
        for (int i = 0; i < 9 && !s; i++) s = bench_random_buf(ctx, i == 4 ? (size_t)H * T : n, -1, 1, (unsigned)i, &b[i]);
        if (s) {
            for (int i = 0; i < 9; i++) dytcl_buf_free(b[i]);
            break;
        }
#define T4(x) ((dytcl_tensor){x, 0, 4, {1, H, T, D}, DYTCL_F32})
        attn_case a = {T4(b[0]), T4(b[1]), T4(b[2]), T4(b[3]), dytcl_tensor_1d(b[4], 0, (int64_t)H * T),
                       T4(b[5]), T4(b[6]), T4(b[7]), T4(b[8]), DYTCL_ATTN_GEMM};
#undef T4
        for (int p = DYTCL_ATTN_GEMM; p <= DYTCL_ATTN_TILED && !s; p++) {
            a.path = (dytcl_attn_path)p;
            double f = 0, g = 0;
            if ((s = bench_median_us(ctx, fwd, &a, 1, reps, &f)) || (s = bench_median_us(ctx, bwd, &a, 1, reps, &g)))
                break;
            /* extra memory: the GEMM path's scores (twice in the backward); the tiled path's row terms */
            double mib = p == DYTCL_ATTN_GEMM ? 2.0 * H * T * T * 4 / 1048576.0 : (double)H * T * 4 / 1048576.0;
            const char *name = p == DYTCL_ATTN_GEMM ? "gemm" : "tiled";
            printf("%5d %-6s %12.1f %12.1f %14.3f\n", T, name, f, g, mib);
            json_array_append_new(records, json_pack("{s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:f}", "op", "attention",
                                                     "path", name, "T", T, "H", H, "D", D, "fwd_us", f, "bwd_us", g,
                                                     "extra_mib", mib));
        }
        for (int i = 0; i < 9; i++) dytcl_buf_free(b[i]);
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
