/* probe.c -- what a device does that no query reports, found by running a
 * kernel once per context: the loop limit, and the kernel shapes that follow. */
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
    if ((s = dy_kernel_get(ctx, DY_PROG_COPY, "loop_probe", &k)) || (s = dytcl_buf_create(ctx, sizeof got, &out)) ||
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
