/* ops_rmsnorm.c -- RMSNorm and LayerNorm, forward and backward, and RMSNorm
 * fused with the residual add (kernels in cl/rmsnorm.cl). One kernel pair
 * serves both norms: `centered` says whether the mean is subtracted. The
 * activations (x, y, r, h, r_out, dy, dx, the residual gradients) may be
 * f32, f16 or bf16, all of one call in x's dtype; weight, bias, mean, rstd
 * and the gradients of the parameters are f32. */
#include "ops_args.h"


/* CPUs run a row per work-item; other devices a row per work-group. */
static int rowwise(dytcl_ctx *ctx)
{
    return dy_row_shape(ctx);
}

/* Rows per work-item of norm_forward_rows (at most NORM_ROWS, cl/rmsnorm.cl):
 * four per load of w and b where those leave L1 between rows, one where
 * they stay (DY_CPU_NARROW_C). PoCL, 2-core AMD EPYC, interleaved: one row
 * takes RMSNorm forward at 16384 x 512 from 0.59-0.66 of copy to
 * 0.92-0.96, at 16384 x 1024 from 0.57-0.68 to 0.80-1.05, at 8192 x 2048
 * from 0.67-0.69 to 0.75; at 4096 x 4096 four rows stay ahead (0.70-0.72
 * against 0.57). */
#define NORM_ROWS 4
static int forward_rows(int C)
{
    return C <= DY_CPU_NARROW_C ? 1 : NORM_ROWS;
}

/* The work-group size for a row of C columns. */
static size_t wg_local(const dytcl_ctx *ctx, const dy_kernel *k, int C)
{
    return dy_pow2_local(ctx, k, C < 256 ? (size_t)C : 256);
}

typedef struct {
    dytcl_tensor y, x, r, h;      /* r, h: the residual inputs (fused forward) */
    dytcl_tensor w, b, mean, rstd;
    int centered;
    float eps;
} fwd_args;

static dytcl_status forward(dytcl_ctx *ctx, const fwd_args *a, int rows, int C)
{
    const int rw = rowwise(ctx);
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, DY_PROG_RMSNORM,
                                      rw ? DY_KNAME(RMSNORM, norm_forward_rows) : DY_KNAME(RMSNORM, norm_forward_wg),
                                      a->x.dtype, &k);
    if (s) return s;
    cl_mem dummy = a->x.buf->mem;
    int flags = (a->w.buf ? HAS_W : 0) | (a->b.buf ? HAS_B : 0);
    int i = dy_arg_tensor(ctx, k, 0, a->y, dummy);
    i = dy_arg_tensor(ctx, k, i, a->x, dummy);
    i = dy_arg_tensor(ctx, k, i, a->r, dummy);
    i = dy_arg_tensor(ctx, k, i, a->h, dummy);
    i = dy_arg_int(ctx, k, i, a->r.buf != NULL);
    i = dy_arg_tensor(ctx, k, i, a->w, dummy);
    i = dy_arg_tensor(ctx, k, i, a->b, dummy);
    i = dy_arg_int(ctx, k, i, flags);
    i = dy_arg_tensor(ctx, k, i, a->mean, dummy);
    i = dy_arg_tensor(ctx, k, i, a->rstd, dummy);
    i = dy_arg_int(ctx, k, i, a->centered);
    i = dy_arg_float(ctx, k, i, a->eps);
    i = dy_arg_int(ctx, k, i, C);
    i = dy_arg_int(ctx, k, i, rows);
    size_t L = rw ? 1 : wg_local(ctx, k, C);
    const int row_step = forward_rows(C);
    if (rw) i = dy_arg_int(ctx, k, i, row_step);
    if (!rw) i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    /* a work-group per row, or row_step rows per work-item */
    size_t global = rw ? (size_t)(rows + row_step - 1) / row_step : (size_t)rows * L;
    return dy_launch(ctx, k, 1, &global, &L);
}

typedef struct {
    dytcl_tensor dx, dy, dres, x, w, mean, rstd, dw, db;
    int centered, accumulate;
} bwd_args;

/* The arguments both backward shapes start with: dx, dy, dres, has_dres, x,
 * w, flags, mean, rstd, centered, C, rows. Returns the next index, or -1. */
static int backward_args(dytcl_ctx *ctx, dy_kernel *k, const bwd_args *a, int rows, int C)
{
    cl_mem dummy = a->x.buf->mem;
    int i = dy_arg_tensor(ctx, k, 0, a->dx, dummy);
    i = dy_arg_tensor(ctx, k, i, a->dy, dummy);
    i = dy_arg_tensor(ctx, k, i, a->dres, dummy);
    i = dy_arg_int(ctx, k, i, a->dres.buf != NULL);
    i = dy_arg_tensor(ctx, k, i, a->x, dummy);
    i = dy_arg_tensor(ctx, k, i, a->w, dummy);
    i = dy_arg_int(ctx, k, i, a->w.buf ? HAS_W : 0);
    i = dy_arg_tensor(ctx, k, i, a->mean, dummy);
    i = dy_arg_tensor(ctx, k, i, a->rstd, dummy);
    i = dy_arg_int(ctx, k, i, a->centered);
    i = dy_arg_int(ctx, k, i, C);
    i = dy_arg_int(ctx, k, i, rows);
    return i;
}

/* Few rows: one work-group, one launch (norm_backward_few). A single row
 * always; otherwise while the work stays small. */
static dytcl_status backward_few(dytcl_ctx *ctx, const bwd_args *a, int rows, int C)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, DY_KERNEL(RMSNORM, norm_backward_few), a->x.dtype, &k);
    if (s) return s;
    const int groups8 = (C + 7) / 8;
    /* a GPU fills a work-group; a CPU runs one on one thread, where fewer
     * work-items (each with more columns) cost less to switch between */
    const size_t cap = dy_row_shape(ctx) ? 16 : 256;
    size_t L = dy_pow2_local(ctx, k, (size_t)groups8 < cap ? (size_t)groups8 : cap);
    cl_mem dummy = a->x.buf->mem;
    int i = backward_args(ctx, k, a, rows, C);
    i = dy_arg_tensor(ctx, k, i, a->dw, dummy);
    i = dy_arg_tensor(ctx, k, i, a->db, dummy);
    i = dy_arg_int(ctx, k, i, (a->dw.buf ? 1 : 0) | (a->db.buf ? 2 : 0));
    i = dy_arg_int(ctx, k, i, a->accumulate != 0);
    i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    return dy_launch(ctx, k, 1, &L, &L);
}

static dytcl_status backward(dytcl_ctx *ctx, const bwd_args *a, int rows, int C)
{
    if (rows == 1 || (int64_t)rows * C <= 32768) return backward_few(ctx, a, rows, C);
    const int rw = rowwise(ctx);
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, DY_PROG_RMSNORM,
                                      rw ? DY_KNAME(RMSNORM, norm_backward_rows) : DY_KNAME(RMSNORM, norm_backward_wg),
                                      a->x.dtype, &k);
    if (s) return s;
    size_t L = rw ? 1 : wg_local(ctx, k, C);
    /* Row blocks: 4 per compute unit on a CPU (each streams its rows); on a
     * GPU enough work-groups to fill it, at least 8 rows each. */
    int want = (int)ctx->info.compute_units * (rw ? 4 : 4);
    int R = (rows + want - 1) / want;
    if (!rw && R < 8) R = 8;
    if (R < 1) R = 1;
    int nblocks = (rows + R - 1) / R;
    cl_mem parts;
    if ((s = dy_workspace(ctx, DY_WS_PARTIALS, (size_t)2 * nblocks * C * sizeof(float), &parts))) return s;
    int i = backward_args(ctx, k, a, rows, C);
    i = dy_arg_int(ctx, k, i, R);
    i = dy_arg_mem(ctx, k, i, parts);
    if (!rw) i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = (size_t)nblocks * L;
    if ((s = dy_launch(ctx, k, 1, &global, &L))) return s;
    const dytcl_tensor out[4] = {a->dw, a->db, {0}, {0}};
    return dy_launch_reduce_parts(ctx, DY_PROG_RMSNORM, a->x.dtype, out, parts, nblocks, C, a->accumulate != 0);
}

/* x is [rows, C] (C = the last dimension); stats are [rows]. */
static dytcl_status check_rows(dytcl_ctx *ctx, dytcl_tensor x, int *rows, int *C)
{
    norm_dims d;
    dytcl_status s = dy_norm_dims_of_dt(ctx, x, DYTCL_CHANNELS_LAST, DY_DT_ALL, &d);
    *rows = d.outer, *C = d.inner;
    return s;
}

static dytcl_status check_eps(dytcl_ctx *ctx, float eps)
{
    if (!(eps >= 0.0f) || eps > 1e30f) /* also refuses NaN */
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "eps = %g must be finite and >= 0", eps);
    return DYTCL_OK;
}

dytcl_status dytcl_rmsnorm_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor rstd, dytcl_tensor x,
                                   dytcl_tensor weight, float eps)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, C = 0;
    dytcl_status s;
    if ((s = check_rows(ctx, x, &rows, &C)) || (s = norm_check_like(ctx, y, "y", x)) ||
        (s = dy_norm_check_vec(ctx, rstd, "rstd", rows, 1)) || (s = dy_norm_check_vec(ctx, weight, "weight", C, 0)) ||
        (s = check_eps(ctx, eps)))
        return s;
    fwd_args a = {.y = y, .x = x, .w = weight, .rstd = rstd, .centered = 0, .eps = eps};
    return forward(ctx, &a, rows, C);
}

dytcl_status dytcl_layernorm_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor mean, dytcl_tensor rstd,
                                     dytcl_tensor x, dytcl_tensor weight, dytcl_tensor bias, float eps)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, C = 0;
    dytcl_status s;
    if ((s = check_rows(ctx, x, &rows, &C)) || (s = norm_check_like(ctx, y, "y", x)) ||
        (s = dy_norm_check_vec(ctx, mean, "mean", rows, 1)) || (s = dy_norm_check_vec(ctx, rstd, "rstd", rows, 1)) ||
        (s = dy_norm_check_vec(ctx, weight, "weight", C, 0)) || (s = dy_norm_check_vec(ctx, bias, "bias", C, 0)) ||
        (s = check_eps(ctx, eps)) ||
        (s = dy_args_check_outputs(ctx, (dytcl_tensor[]){y, mean, rstd}, (const char *[]){"y", "mean", "rstd"}, 3,
                                (dytcl_tensor[]){x, weight, bias}, (const char *[]){"x", "weight", "bias"}, 3)))
        return s;
    fwd_args a = {.y = y, .x = x, .w = weight, .b = bias, .mean = mean, .rstd = rstd, .centered = 1, .eps = eps};
    return forward(ctx, &a, rows, C);
}

dytcl_status dytcl_residual_rmsnorm_forward(dytcl_ctx *ctx, dytcl_tensor r_out, dytcl_tensor y,
                                            dytcl_tensor rstd, dytcl_tensor r, dytcl_tensor h,
                                            dytcl_tensor weight, float eps)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, C = 0;
    dytcl_status s;
    if ((s = check_rows(ctx, r, &rows, &C)) || (s = norm_check_like(ctx, h, "h", r)) ||
        (s = norm_check_like(ctx, r_out, "r_out", r)) || (s = norm_check_like(ctx, y, "y", r)) ||
        (s = dy_norm_check_vec(ctx, rstd, "rstd", rows, 1)) || (s = dy_norm_check_vec(ctx, weight, "weight", C, 0)) ||
        (s = check_eps(ctx, eps)))
        return s;
    fwd_args a = {.y = y, .x = r_out, .r = r, .h = h, .w = weight, .rstd = rstd, .centered = 0, .eps = eps};
    return forward(ctx, &a, rows, C);
}

dytcl_status dytcl_rmsnorm_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dweight, int accumulate,
                                    dytcl_tensor dy, dytcl_tensor x, dytcl_tensor rstd, dytcl_tensor weight)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, C = 0;
    dytcl_status s;
    if ((s = check_rows(ctx, x, &rows, &C)) || (s = norm_check_like(ctx, dx, "dx", x)) ||
        (s = norm_check_like(ctx, dy, "dy", x)) || (s = dy_norm_check_vec(ctx, rstd, "rstd", rows, 1)) ||
        (s = dy_norm_check_vec(ctx, weight, "weight", C, 0)) || (s = dy_norm_check_vec(ctx, dweight, "dweight", C, 0)))
        return s;
    bwd_args a = {.dx = dx, .dy = dy, .x = x, .w = weight, .rstd = rstd, .dw = dweight, .accumulate = accumulate};
    return backward(ctx, &a, rows, C);
}

dytcl_status dytcl_layernorm_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dweight, dytcl_tensor dbias,
                                      int accumulate, dytcl_tensor dy, dytcl_tensor x, dytcl_tensor mean,
                                      dytcl_tensor rstd, dytcl_tensor weight)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, C = 0;
    dytcl_status s;
    if ((s = check_rows(ctx, x, &rows, &C)) || (s = norm_check_like(ctx, dx, "dx", x)) ||
        (s = norm_check_like(ctx, dy, "dy", x)) || (s = dy_norm_check_vec(ctx, mean, "mean", rows, 1)) ||
        (s = dy_norm_check_vec(ctx, rstd, "rstd", rows, 1)) || (s = dy_norm_check_vec(ctx, weight, "weight", C, 0)) ||
        (s = dy_norm_check_vec(ctx, dweight, "dweight", C, 0)) || (s = dy_norm_check_vec(ctx, dbias, "dbias", C, 0)))
        return s;
    bwd_args a = {.dx = dx, .dy = dy, .x = x, .w = weight, .mean = mean, .rstd = rstd, .dw = dweight,
                  .db = dbias, .centered = 1, .accumulate = accumulate};
    return backward(ctx, &a, rows, C);
}

dytcl_status dytcl_residual_rmsnorm_backward(dytcl_ctx *ctx, dytcl_tensor d, dytcl_tensor dweight,
                                             int accumulate, dytcl_tensor dy, dytcl_tensor dr_out,
                                             dytcl_tensor r_out, dytcl_tensor rstd, dytcl_tensor weight)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, C = 0;
    dytcl_status s;
    if ((s = check_rows(ctx, r_out, &rows, &C)) || (s = norm_check_like(ctx, d, "d", r_out)) ||
        (s = norm_check_like(ctx, dy, "dy", r_out)) || (s = norm_check_like(ctx, dr_out, "dr_out", r_out)) ||
        (s = dy_norm_check_vec(ctx, rstd, "rstd", rows, 1)) || (s = dy_norm_check_vec(ctx, weight, "weight", C, 0)) ||
        (s = dy_norm_check_vec(ctx, dweight, "dweight", C, 0)))
        return s;
    bwd_args a = {.dx = d, .dy = dy, .dres = dr_out, .x = r_out, .w = weight, .rstd = rstd, .dw = dweight,
                  .accumulate = accumulate};
    return backward(ctx, &a, rows, C);
}
