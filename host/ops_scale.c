/* ops_scale.c -- multiplication by a learnable scalar on the device
 * (cl/copy.cl): LLaMA-DyT's scale after the token embedding; and by a
 * factor per row (stochastic depth's per-sample mask). */
#include "ops_args.h"

enum { SCALE_CHUNK = 16384 };

static dytcl_status check_scale(dytcl_ctx *ctx, dytcl_tensor a, const char *an, dytcl_tensor x, dytcl_tensor s)
{
    dytcl_status st;
    if ((st = dy_check_tensor(ctx, x, "x")) || (st = norm_check_like(ctx, a, an, x)) ||
        (st = dy_norm_check_vec(ctx, s, "s", 1, 1)))
        return st;
    if (dytcl_tensor_numel(x) > 0x7fffffff)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "scale: %lld elements is more than 2^31 - 1",
                       (long long)dytcl_tensor_numel(x));
    return DYTCL_OK;
}

dytcl_status dytcl_scale_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor s)
{
    DY_CHECK_CTX(ctx);
    dytcl_status st = check_scale(ctx, y, "y", x, s);
    if (st) return st;
    dy_kernel *k;
    if ((st = dy_kernel_get(ctx, DY_KERNEL(COPY, scale_f32), &k))) return st;
    int n = (int)dytcl_tensor_numel(x);
    int i = dy_arg_tensor(ctx, k, 0, y, NULL);
    i = dy_arg_tensor(ctx, k, i, x, NULL);
    i = dy_arg_tensor(ctx, k, i, s, NULL);
    i = dy_arg_int(ctx, k, i, n);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = ((size_t)n + 3) / 4;
    return global ? dy_launch(ctx, k, 1, &global, NULL) : DYTCL_OK;
}

dytcl_status dytcl_scale_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor ds, int accumulate, dytcl_tensor dy,
                                  dytcl_tensor x, dytcl_tensor s)
{
    DY_CHECK_CTX(ctx);
    dytcl_status st = check_scale(ctx, dy, "dy", x, s);
    if (st) return st;
    if (dx.buf && (st = norm_check_like(ctx, dx, "dx", x))) return st;
    if ((st = dy_norm_check_vec(ctx, ds, "ds", 1, 1))) return st;
    int n = (int)dytcl_tensor_numel(x), groups = (n + SCALE_CHUNK - 1) / SCALE_CHUNK;
    if (!n) return accumulate ? DYTCL_OK : dytcl_fill(ctx, ds, 0.0f);
    cl_mem parts;
    if ((st = dy_workspace(ctx, DY_WS_PARTIALS, sizeof(float) * (size_t)groups, &parts))) return st;
    dy_kernel *k;
    if ((st = dy_kernel_get(ctx, DY_KERNEL(COPY, scale_backward), &k))) return st;
    size_t L = dy_pow2_local(ctx, k, 256), global = L * (size_t)groups;
    int i = dy_arg_tensor(ctx, k, 0, dx, parts);
    i = dy_arg_int(ctx, k, i, dx.buf != NULL);
    i = dy_arg_tensor(ctx, k, i, dy, NULL);
    i = dy_arg_tensor(ctx, k, i, x, NULL);
    i = dy_arg_tensor(ctx, k, i, s, NULL);
    i = dy_arg_int(ctx, k, i, n);
    i = dy_arg_int(ctx, k, i, SCALE_CHUNK);
    i = dy_arg_mem(ctx, k, i, parts);
    i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    if ((st = dy_launch(ctx, k, 1, &global, &L))) return st;
    return launch_sum_all(ctx, DY_PROG_COPY, ds, parts, 0, groups, accumulate);
}

dytcl_status dytcl_scale_rows(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor s)
{
    DY_CHECK_CTX(ctx);
    dytcl_status st;
    if ((st = dy_check_tensor(ctx, x, "x")) || (st = norm_check_like(ctx, y, "y", x)) ||
        (st = dy_check_tensor(ctx, s, "s")))
        return st;
    const int64_t n = dytcl_tensor_numel(x), rows = dytcl_tensor_numel(s);
    if (n > 0x7fffffff || rows < 1 || n % rows)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "scale_rows: x has %lld elements, s %lld (x must be s's rows of equal length, at most "
                       "2^31 - 1 elements)", (long long)n, (long long)rows);
    if (!n) return DYTCL_OK;
    dy_kernel *k;
    if ((st = dy_kernel_get(ctx, DY_KERNEL(COPY, scale_rows_f32), &k))) return st;
    const int cols = (int)(n / rows);
    int i = dy_arg_tensor(ctx, k, 0, y, NULL);
    i = dy_arg_tensor(ctx, k, i, x, NULL);
    i = dy_arg_tensor(ctx, k, i, s, NULL);
    i = dy_arg_int(ctx, k, i, cols);
    i = dy_arg_int(ctx, k, i, (int)rows);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {((size_t)cols + 3) / 4, (size_t)rows};
    return dy_launch(ctx, k, 2, global, NULL);
}
