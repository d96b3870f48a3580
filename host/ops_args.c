/* ops_args.c -- what every op shares: shapes, checks, arguments, and the
 * final fixed-order reductions (colsum, sum_all in cl/common.cl). */
#include "ops_args.h"

dytcl_status norm_dims_of(dytcl_ctx *ctx, dytcl_tensor x, dytcl_layout layout, norm_dims *d)
{
    dytcl_status s = dy_check_tensor(ctx, x, "x");
    if (s) return s;
    int64_t n = dytcl_tensor_numel(x);
    d->channels_first = layout == DYTCL_CHANNELS_FIRST;
    if (layout == DYTCL_CHANNELS_LAST) {
        d->C = d->inner = (int)x.shape[x.ndim - 1];
        d->outer = (int)(n / d->C);
    } else if (layout == DYTCL_CHANNELS_FIRST) {
        if (x.ndim < 2)
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "channels-first x needs [N, C, ...], got %d dim(s)", x.ndim);
        d->C = (int)x.shape[1];
        d->outer = (int)(x.shape[0] * x.shape[1]);
        d->inner = (int)(n / d->outer);
    } else {
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "unknown layout %d", (int)layout);
    }
    return DYTCL_OK;
}

dytcl_status norm_check_like(dytcl_ctx *ctx, dytcl_tensor t, const char *name, dytcl_tensor x)
{
    dytcl_status s = dy_check_tensor(ctx, t, name);
    if (s) return s;
    if (dytcl_tensor_numel(t) != dytcl_tensor_numel(x))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s has %lld elements but x has %lld", name,
                       (long long)dytcl_tensor_numel(t), (long long)dytcl_tensor_numel(x));
    return DYTCL_OK;
}

dytcl_status norm_check_vec(dytcl_ctx *ctx, dytcl_tensor t, const char *name, int64_t n, int required)
{
    if (!t.buf) return required ? dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s is required", name) : DYTCL_OK;
    dytcl_status s = dy_check_tensor(ctx, t, name);
    if (s) return s;
    if (dytcl_tensor_numel(t) != n)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s has %lld elements, expected %lld", name,
                       (long long)dytcl_tensor_numel(t), (long long)n);
    return DYTCL_OK;
}

int arg_mem(dytcl_ctx *ctx, dy_kernel *k, int i, cl_mem m)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, sizeof m, &m) ? -1 : i + 1;
}

int arg_int(dytcl_ctx *ctx, dy_kernel *k, int i, int v)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, sizeof v, &v) ? -1 : i + 1;
}

int arg_float(dytcl_ctx *ctx, dy_kernel *k, int i, float v)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, sizeof v, &v) ? -1 : i + 1;
}

int arg_local(dytcl_ctx *ctx, dy_kernel *k, int i, size_t bytes)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, bytes, NULL) ? -1 : i + 1;
}

int arg_tensor(dytcl_ctx *ctx, dy_kernel *k, int i, dytcl_tensor t, cl_mem dummy)
{
    i = arg_mem(ctx, k, i, t.buf ? t.buf->mem : dummy);
    return arg_int(ctx, k, i, t.buf ? (int)t.offset : 0);
}

size_t pow2_local(const dytcl_ctx *ctx, const dy_kernel *k, size_t cap)
{
    size_t lim = dy_local_1d(ctx, k);
    size_t l = 1;
    while (l * 2 <= lim && l * 2 <= cap) l *= 2;
    return l;
}

dytcl_status launch_colsum(dytcl_ctx *ctx, dy_prog_id prog, dytcl_tensor out, cl_mem parts, int parts_off,
                           int nblocks, int C, int accumulate)
{
    if (!out.buf) return DYTCL_OK;
    dy_kernel *k;
    dytcl_status s = dy_kernel_get(ctx, prog, DY_KNAME(COMMON, colsum), &k);
    if (s) return s;
    int i = arg_tensor(ctx, k, 0, out, NULL);
    i = arg_mem(ctx, k, i, parts);
    i = arg_int(ctx, k, i, parts_off);
    i = arg_int(ctx, k, i, nblocks);
    i = arg_int(ctx, k, i, C);
    i = arg_int(ctx, k, i, accumulate);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = (size_t)C;
    return dy_launch(ctx, k, 1, &global, NULL);
}

dytcl_status launch_sum_all(dytcl_ctx *ctx, dy_prog_id prog, dytcl_tensor out, cl_mem in, int in_off, int n,
                            int accumulate)
{
    if (!out.buf) return DYTCL_OK;
    dy_kernel *k;
    dytcl_status s = dy_kernel_get(ctx, prog, DY_KNAME(COMMON, sum_all), &k);
    if (s) return s;
    size_t L = pow2_local(ctx, k, 256);
    int i = arg_tensor(ctx, k, 0, out, NULL);
    i = arg_mem(ctx, k, i, in);
    i = arg_int(ctx, k, i, in_off);
    i = arg_int(ctx, k, i, n);
    i = arg_int(ctx, k, i, accumulate);
    i = arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    return dy_launch(ctx, k, 1, &L, &L);
}
