/* ops_args.c -- what every op shares: shapes, checks, arguments, and the
 * final fixed-order reductions (colsum, sum_all in cl/common.cl). */
#include "ops_args.h"

int64_t dy_size_mul(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (b != 0 && a > INT64_MAX / b)) return -1;
    return a * b;
}

int64_t dy_size_add(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || a > INT64_MAX - b) return -1;
    return a + b;
}

dytcl_status dy_norm_dims_of(dytcl_ctx *ctx, dytcl_tensor x, dytcl_layout layout, norm_dims *d)
{
    return dy_norm_dims_of_dt(ctx, x, layout, DY_DT(DYTCL_F32), d);
}

dytcl_status dy_norm_dims_of_dt(dytcl_ctx *ctx, dytcl_tensor x, dytcl_layout layout, unsigned dtypes, norm_dims *d)
{
    dytcl_status s = dy_check_tensor_dt(ctx, x, "x", dtypes);
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

dytcl_status dy_args_check_like(dytcl_ctx *ctx, dytcl_tensor t, const char *name, dytcl_tensor ref,
                             const char *ref_name)
{
    dytcl_status s = dy_check_tensor_dt(ctx, t, name, DY_DT_ALL);
    if (s) return s;
    if (t.dtype != ref.dtype)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s is %s but %s is %s: this op takes its tensors in one dtype",
                       name, dytcl_dtype_name(t.dtype), ref_name, dytcl_dtype_name(ref.dtype));
    if (dytcl_tensor_numel(t) != dytcl_tensor_numel(ref))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s has %lld elements but %s has %lld", name,
                       (long long)dytcl_tensor_numel(t), ref_name, (long long)dytcl_tensor_numel(ref));
    return DYTCL_OK;
}

dytcl_status dy_args_check_apart(dytcl_ctx *ctx, dytcl_tensor w, int64_t nw, const char *wname, dytcl_tensor r,
                              int64_t nr, const char *rname)
{
    if (!w.buf || !r.buf || w.buf != r.buf || nw <= 0 || nr <= 0) return DYTCL_OK;
    /* compared in bytes: the two views may store different dtypes */
    const int64_t ws = (int64_t)dytcl_dtype_size(w.dtype), rs = (int64_t)dytcl_dtype_size(r.dtype);
    int64_t w0 = (int64_t)w.offset, r0 = (int64_t)r.offset;
    if (w0 * ws < (r0 + nr) * rs && r0 * rs < (w0 + nw) * ws)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s (elements %lld..%lld) overlaps %s (%lld..%lld) in one buffer",
                       wname, (long long)w0, (long long)(w0 + nw - 1), rname, (long long)r0, (long long)(r0 + nr - 1));
    return DYTCL_OK;
}

dytcl_status dy_norm_check_vec(dytcl_ctx *ctx, dytcl_tensor t, const char *name, int64_t n, int required)
{
    if (!t.buf) return required ? dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s is required", name) : DYTCL_OK;
    dytcl_status s = dy_check_tensor(ctx, t, name);
    if (s) return s;
    if (dytcl_tensor_numel(t) != n)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s has %lld elements, expected %lld", name,
                       (long long)dytcl_tensor_numel(t), (long long)n);
    return DYTCL_OK;
}

dytcl_status dy_args_check_inplace(dytcl_ctx *ctx, dytcl_tensor y, const char *yname, dytcl_tensor x, const char *xname)
{
    if (y.buf == x.buf && y.offset == x.offset && dytcl_tensor_numel(y) == dytcl_tensor_numel(x)) return DYTCL_OK;
    return dy_args_check_apart(ctx, y, dytcl_tensor_numel(y), yname, x, dytcl_tensor_numel(x), xname);
}

static int64_t numel_or_0(dytcl_tensor t)
{
    return t.buf ? dytcl_tensor_numel(t) : 0;
}

dytcl_status dy_args_check_outputs(dytcl_ctx *ctx, const dytcl_tensor *w, const char *const *wname, int nw,
                                const dytcl_tensor *r, const char *const *rname, int nr)
{
    dytcl_status s = DYTCL_OK;
    for (int i = 0; i < nw && !s; i++) {
        for (int j = i + 1; j < nw && !s; j++)
            s = dy_args_check_apart(ctx, w[i], numel_or_0(w[i]), wname[i], w[j], numel_or_0(w[j]), wname[j]);
        for (int j = 0; j < nr && !s; j++)
            s = dy_args_check_apart(ctx, w[i], numel_or_0(w[i]), wname[i], r[j], numel_or_0(r[j]), rname[j]);
    }
    return s;
}

int dy_arg_mem(dytcl_ctx *ctx, dy_kernel *k, int i, cl_mem m)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, sizeof m, &m) ? -1 : i + 1;
}

int dy_arg_int(dytcl_ctx *ctx, dy_kernel *k, int i, int v)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, sizeof v, &v) ? -1 : i + 1;
}

int dy_arg_float(dytcl_ctx *ctx, dy_kernel *k, int i, float v)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, sizeof v, &v) ? -1 : i + 1;
}

int dy_arg_local(dytcl_ctx *ctx, dy_kernel *k, int i, size_t bytes)
{
    return i < 0 || dy_arg(ctx, k, (cl_uint)i, bytes, NULL) ? -1 : i + 1;
}

int dy_arg_tensor(dytcl_ctx *ctx, dy_kernel *k, int i, dytcl_tensor t, cl_mem dummy)
{
    i = dy_arg_mem(ctx, k, i, t.buf ? t.buf->mem : dummy);
    return dy_arg_int(ctx, k, i, t.buf ? (int)t.offset : 0);
}

size_t dy_pow2_local(const dytcl_ctx *ctx, const dy_kernel *k, size_t cap)
{
    size_t lim = dy_local_1d(ctx, k);
    size_t l = 1;
    while (l * 2 <= lim && l * 2 <= cap) l *= 2;
    return l;
}

/* colsum (parts f32) or colsum_dt (parts stored as dt). */
static dytcl_status colsum(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, const char *kname, dytcl_tensor out,
                           cl_mem parts, int parts_off, int nblocks, int C, int accumulate)
{
    if (!out.buf) return DYTCL_OK;
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, prog, kname, dt, &k);
    if (s) return s;
    int i = dy_arg_tensor(ctx, k, 0, out, NULL);
    i = dy_arg_mem(ctx, k, i, parts);
    i = dy_arg_int(ctx, k, i, parts_off);
    i = dy_arg_int(ctx, k, i, nblocks);
    i = dy_arg_int(ctx, k, i, C);
    i = dy_arg_int(ctx, k, i, accumulate);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = (size_t)C;
    return dy_launch(ctx, k, 1, &global, NULL);
}

dytcl_status dy_launch_colsum_dt(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, dytcl_tensor out, cl_mem parts,
                              int parts_off, int nblocks, int C, int accumulate)
{
    return colsum(ctx, prog, dt, DY_KNAME(COMMON, colsum), out, parts, parts_off, nblocks, C, accumulate);
}

dytcl_status dy_launch_colsum_of(dytcl_ctx *ctx, dy_prog_id prog, dytcl_tensor out, dytcl_tensor in, int nblocks,
                              int C, int accumulate)
{
    return colsum(ctx, prog, in.dtype, DY_KNAME(COMMON, colsum_dt), out, in.buf->mem, (int)in.offset, nblocks, C,
                  accumulate);
}

dytcl_status dy_launch_reduce_parts(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, const dytcl_tensor out[4],
                                 cl_mem parts, int nblocks, int C, int accumulate)
{
    int outs = 0;
    for (int j = 0; j < 4; j++) outs |= out[j].buf ? 1 << j : 0;
    if (!outs) return DYTCL_OK;
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, prog, DY_KNAME(COMMON, reduce_parts), dt, &k);
    if (s) return s;
    int i = 0;
    for (int j = 0; j < 4; j++) i = dy_arg_tensor(ctx, k, i, out[j], parts);
    i = dy_arg_mem(ctx, k, i, parts);
    i = dy_arg_int(ctx, k, i, nblocks);
    i = dy_arg_int(ctx, k, i, C);
    i = dy_arg_int(ctx, k, i, outs);
    i = dy_arg_int(ctx, k, i, accumulate);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = (size_t)(C + 7) / 8 + 1;
    return dy_launch(ctx, k, 1, &global, NULL);
}

dytcl_status dy_launch_sum_all_dt(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, dytcl_tensor out, cl_mem in,
                               int in_off, int n, int accumulate)
{
    if (!out.buf) return DYTCL_OK;
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, prog, DY_KNAME(COMMON, sum_all), dt, &k);
    if (s) return s;
    size_t L = dy_pow2_local(ctx, k, 256);
    int i = dy_arg_tensor(ctx, k, 0, out, NULL);
    i = dy_arg_mem(ctx, k, i, in);
    i = dy_arg_int(ctx, k, i, in_off);
    i = dy_arg_int(ctx, k, i, n);
    i = dy_arg_int(ctx, k, i, accumulate);
    i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    return dy_launch(ctx, k, 1, &L, &L);
}
