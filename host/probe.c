/* probe.c -- what a device does that no query reports, found by running a
 * kernel once per context: the loop limit, and the kernel shapes that follow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { PROBE_N = 1 << 18 };

static dytcl_status run_probe(dytcl_ctx *ctx, int *limit)
{
    const int ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int got = -1;
    dy_kernel *k = NULL;
    dytcl_buf *out = NULL, *in = NULL;
    dytcl_status s;
    if ((s = dy_kernel_get(ctx, DY_KERNEL(COPY, loop_probe), &k)) || (s = dytcl_buf_create(ctx, sizeof got, &out)) ||
        (s = dytcl_buf_create(ctx, sizeof ones, &in)) || (s = dytcl_buf_write(ctx, in, 0, ones, sizeof ones)))
        goto done;
    const int n = PROBE_N;
    if ((s = dy_arg(ctx, k, 0, sizeof(cl_mem), &out->mem)) || (s = dy_arg(ctx, k, 1, sizeof(cl_mem), &in->mem)) ||
        (s = dy_arg(ctx, k, 2, sizeof n, &n)))
        goto done;
    size_t one = 1;
    if ((s = dy_launch(ctx, k, 1, &one, &one)) || (s = dytcl_buf_read(ctx, out, 0, &got, sizeof got))) goto done;
    *limit = got >= n ? 0 : got > 0 ? got : 1;
done:
    dytcl_buf_free(out);
    dytcl_buf_free(in);
    return s;
}

int dy_loop_limit(dytcl_ctx *ctx)
{
    if (!ctx->probed) {
        int limit = 0;
        ctx->probed = 1; /* once: a failed probe (reported by the op that follows) counts as no limit */
        if (run_probe(ctx, &limit) == DYTCL_OK) ctx->loop_limit = limit;
    }
    return ctx->loop_limit;
}

int dy_row_shape(dytcl_ctx *ctx)
{
    if (ctx->row_shape >= 0) return ctx->row_shape;
    /* A work-item per row loops over a whole row: only where loops are unbounded. */
    return ctx->row_shape = ctx->info.is_cpu && dy_loop_limit(ctx) == 0;
}

int dy_loops_fit(dytcl_ctx *ctx, double iterations)
{
    const int limit = dy_loop_limit(ctx);
    return limit == 0 || iterations <= 0.9 * limit;
}

dytcl_status dytcl_ctx_describe(dytcl_ctx *ctx, char *out, size_t cap)
{
    DY_CHECK_CTX(ctx);
    if (!out || cap == 0) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_ctx_describe: no output buffer");
    const int limit = dy_loop_limit(ctx), rows = dy_row_shape(ctx);
    const char *forced = getenv("DYTCL_KERNEL_SHAPE");
    dytcl_timer_info ti = {0};
    dytcl_status s = dytcl_timer_check(ctx, &ti);
    if (s) return s;
    char gemm[2048] = "", conf[1900] = "";
    dytcl_gemm_path_t path = DYTCL_GEMM_AUTO;
    if (dytcl_gemm_config(ctx, conf, sizeof conf) || dytcl_gemm_path(ctx, &path))
        snprintf(gemm, sizeof gemm, "(not available: %.1000s)", ctx->err);
    else if (path == DYTCL_GEMM_CLBLAST) snprintf(gemm, sizeof gemm, "CLBlast, %s", conf);
    else snprintf(gemm, sizeof gemm, "%s", conf);
    char lim[64] = "none";
    if (limit) snprintf(lim, sizeof lim, "%d iterations per work-item", limit);
    const double tiled_T = limit ? 0.9 * limit / (4.0 * 64 + 4) : 0;
    char attn[96] = "tiled or GEMM by size";
    if (limit) snprintf(attn, sizeof attn, "tiled only up to T = %d at head size 64, then GEMM", (int)tiled_T);
    snprintf(out, cap,
             "limits used   work-group %zu, local memory %llu KiB\n"
             "loop limit    %s\n"
             "row kernels   %s (norms, loss, gradient norm, decode)%s\n"
             "attention     %s\n"
             "timer         %s\n"
             "gemm          %s",
             ctx->info.max_work_group, (unsigned long long)(ctx->info.local_mem / 1024), lim,
             rows ? "a row per work-item" : "a row per work-group",
             forced && *forced ? " (DYTCL_KERNEL_SHAPE)" : limit ? " (loops are limited)" : "", attn, ti.reason,
             gemm);
    return DYTCL_OK;
}
