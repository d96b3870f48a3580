/* ops_dyt.c -- DyT and Derf, forward and backward, the residual add, and
 * the residual add fused with DyT (kernels in cl/dyt.cl). */
#include "ops_args.h"

/* The activations (x, y, dy, dx, r, h, r_out, the residual gradients) may
 * be f32, f16 or bf16, all of one call in x's dtype; the parameters, their
 * gradients and the reductions are f32. */
#define ACT_DTYPES DY_DT_ALL

static dytcl_status check_params(dytcl_ctx *ctx, const dytcl_dyt_params *p, int C, int derf)
{
    if (!p) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "params is NULL");
    dytcl_status s;
    if ((s = dy_norm_check_vec(ctx, p->alpha, "alpha", 1, 1)) || (s = dy_norm_check_vec(ctx, p->weight, "weight", C, 0)) ||
        (s = dy_norm_check_vec(ctx, p->bias, "bias", C, 0)) || (s = dy_norm_check_vec(ctx, p->shift, "shift", 1, derf)))
        return s;
    return DYTCL_OK;
}

static int param_flags(const dytcl_dyt_params *p)
{
    return (p->weight.buf ? HAS_W : 0) | (p->bias.buf ? HAS_B : 0);
}

/* A local size for a kernel whose dimension 0 spans `inner` items. */
static size_t local_for(const dytcl_ctx *ctx, const dy_kernel *k, int inner)
{
    return dy_pow2_local(ctx, k, inner < 256 ? (size_t)inner : 256);
}

/* ---------------------------------------------------------------- forward */

/* The forward kernel of each activation and layout, and its _tail twin. */
static const char *const fwd_names[2][2][2] = {
    {{DY_KNAME(DYT, dyt_forward), DY_KNAME(DYT, dyt_forward_tail)},
     {DY_KNAME(DYT, dyt_forward_nchw), DY_KNAME(DYT, dyt_forward_nchw_tail)}},
    {{DY_KNAME(DYT, derf_forward), DY_KNAME(DYT, derf_forward_tail)},
     {DY_KNAME(DYT, derf_forward_nchw), DY_KNAME(DYT, derf_forward_nchw_tail)}},
};

/* The chunked forward's work per work-item on a CPU (columns, rows), as
 * measured on PoCL (2-core AMD EPYC, variants interleaved in one process):
 *  - rows wider than 2048: 512 columns (2 KiB, a run the prefetcher
 *    follows) of 4 rows, so that one load of w and b serves four rows: a
 *    row of w and b (8 bytes a column) fills half of a 32 KiB L1 or more,
 *    and the x and y streams evict it (4096 x 4096: 0.66 -> 0.73 of copy);
 *  - narrower rows, where w and b stay in L1: the whole row, one row per
 *    work-item (16384 x 512: 0.36-0.38 -> 0.63-0.64 of copy, 16384 x 768:
 *    0.64-0.65 -> 0.70-0.81, 16384 x 1024: 0.48-0.53 -> 0.67-0.72; at 2048
 *    the two are even, at 3072 and 4096 four rows are ahead);
 *  - the fused residual: one row, as its four streams over four rows
 *    collide in L1 at power-of-two widths (cl/dyt.cl). */
static void forward_work(int C, int residual, int *chunk, int *row_step)
{
    const int narrow = C <= DY_CPU_NARROW_C;
    *chunk = narrow ? (C + 7) / 8 * 8 : 512;
    *row_step = narrow || residual ? 1 : 4;
}

/* Channels last on a CPU: y = act(x) or, with r_out, r_out = x + h and
 * y = act(r_out), by the chunked kernel. */
static dytcl_status forward_chunked(dytcl_ctx *ctx, int derf, dytcl_tensor y, dytcl_tensor r_out, dytcl_tensor x,
                                    dytcl_tensor h, const dytcl_dyt_params *p, norm_dims d)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, DY_PROG_DYT, derf ? DY_KNAME(DYT, derf_forward_chunk) : DY_KNAME(DYT, dyt_forward_chunk),
                                      x.dtype, &k);
    if (s) return s;
    int chunk, row_step;
    forward_work(d.C, h.buf != NULL, &chunk, &row_step);
    cl_mem dummy = x.buf->mem;
    int i = dy_arg_tensor(ctx, k, 0, y, dummy);
    i = dy_arg_tensor(ctx, k, i, r_out, dummy);
    i = dy_arg_tensor(ctx, k, i, x, dummy);
    i = dy_arg_tensor(ctx, k, i, h, dummy);
    i = dy_arg_int(ctx, k, i, h.buf != NULL);
    i = dy_arg_tensor(ctx, k, i, p->alpha, dummy);
    i = dy_arg_tensor(ctx, k, i, derf ? p->shift : p->alpha, dummy); /* DyT ignores the shift */
    i = dy_arg_tensor(ctx, k, i, p->weight, dummy);
    i = dy_arg_tensor(ctx, k, i, p->bias, dummy);
    i = dy_arg_int(ctx, k, i, param_flags(p));
    i = dy_arg_int(ctx, k, i, d.C);
    i = dy_arg_int(ctx, k, i, d.outer);
    i = dy_arg_int(ctx, k, i, chunk);
    i = dy_arg_int(ctx, k, i, row_step);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {(size_t)((d.C + chunk - 1) / chunk), (size_t)((d.outer + row_step - 1) / row_step)};
    size_t local[2] = {1, 1};
    return dy_launch(ctx, k, 2, global, local);
}

static dytcl_status forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, const dytcl_dyt_params *p, int derf)
{
    DY_CHECK_CTX(ctx);
    norm_dims d;
    dytcl_status s;
    if ((s = p ? dy_norm_dims_of_dt(ctx, x, p->layout, ACT_DTYPES, &d) : dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "params is NULL")) ||
        (s = norm_check_like(ctx, y, "y", x)) || (s = check_params(ctx, p, d.C, derf)) ||
        (s = dy_args_check_inplace(ctx, y, "y", x, "x")) || /* y == x (in place) is supported */
        (s = dy_args_check_outputs(ctx, &y, (const char *[]){"y"}, 1,
                                (dytcl_tensor[]){p->alpha, p->shift, p->weight, p->bias},
                                (const char *[]){"alpha", "shift", "weight", "bias"}, 4)))
        return s;
    if (!d.channels_first && dy_row_shape(ctx)) {
        dytcl_tensor none = {0};
        return forward_chunked(ctx, derf, y, none, x, none, p, d);
    }
    dy_kernel *k[2];
    for (int v = 0; v < 2; v++) {
        if ((s = dy_kernel_get_dt(ctx, DY_PROG_DYT, fwd_names[derf][d.channels_first][v], x.dtype, &k[v]))) return s;
        cl_mem dummy = x.buf->mem;
        int i = dy_arg_tensor(ctx, k[v], 0, y, dummy);
        i = dy_arg_tensor(ctx, k[v], i, x, dummy);
        i = dy_arg_tensor(ctx, k[v], i, p->alpha, dummy);
        i = dy_arg_tensor(ctx, k[v], i, derf ? p->shift : p->alpha, dummy); /* DyT ignores the shift */
        i = dy_arg_tensor(ctx, k[v], i, p->weight, dummy);
        i = dy_arg_tensor(ctx, k[v], i, p->bias, dummy);
        i = dy_arg_int(ctx, k[v], i, param_flags(p));
        i = dy_arg_int(ctx, k[v], i, d.inner);
        i = dy_arg_int(ctx, k[v], i, d.C);
        if (i < 0) return DYTCL_ERR_OPENCL;
    }
    size_t global[2] = {(size_t)d.inner, (size_t)d.outer}, local[2] = {local_for(ctx, k[0], d.inner), 1};
    return dy_launch_split(ctx, k[0], k[1], 2, global, local);
}

dytcl_status dytcl_dyt_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, const dytcl_dyt_params *p)
{
    return forward(ctx, y, x, p, 0);
}

dytcl_status dytcl_derf_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, const dytcl_dyt_params *p)
{
    return forward(ctx, y, x, p, 1);
}

/* --------------------------------------------------------------- backward */

static dytcl_status check_grads(dytcl_ctx *ctx, const dytcl_dyt_grads *g, int C, int derf)
{
    if (!g) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "grads is NULL");
    dytcl_status s;
    if ((s = dy_norm_check_vec(ctx, g->dalpha, "dalpha", 1, 0)) || (s = dy_norm_check_vec(ctx, g->dweight, "dweight", C, 0)) ||
        (s = dy_norm_check_vec(ctx, g->dbias, "dbias", C, 0)) || (s = dy_norm_check_vec(ctx, g->dshift, "dshift", 1, 0)))
        return s;
    if (g->dshift.buf && !derf) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dshift is for Derf only");
    return DYTCL_OK;
}

/* Rows per block of the backward's first pass. Walking columns (GPUs):
 * enough blocks for 8 work-groups per compute unit, at most 64 rows so a
 * block's tile stays in cache. Walking rows (CPUs): 4 blocks per compute
 * unit (measured best on PoCL, 2 cores: 512 rows of 4096). */
static int rows_per_block(const dytcl_ctx *ctx, int rows, int colgroups, int rowwise)
{
    int want = (int)((rowwise ? 4 : 8) * ctx->info.compute_units) / (colgroups > 0 ? colgroups : 1);
    if (want < 1) want = 1;
    int R = (rows + want - 1) / want;
    return R < 1 ? 1 : (!rowwise && R > 64) ? 64 : R;
}

/* The parameter gradients from the planes of partial sums: dw, db, dalpha,
 * dshift, each [nblocks, C]. */
static dytcl_status reduce_planes(dytcl_ctx *ctx, dytcl_dtype dt, const dytcl_dyt_grads *g, cl_mem parts,
                                  int nblocks, int C)
{
    int plane = nblocks * C, acc = g->accumulate != 0;
    dytcl_status s;
    if ((s = dy_launch_colsum_dt(ctx, DY_PROG_DYT, dt, g->dweight, parts, 0, nblocks, C, acc)) ||
        (s = dy_launch_colsum_dt(ctx, DY_PROG_DYT, dt, g->dbias, parts, plane, nblocks, C, acc)) ||
        (s = dy_launch_sum_all_dt(ctx, DY_PROG_DYT, dt, g->dalpha, parts, 2 * plane, plane, acc)) ||
        (s = dy_launch_sum_all_dt(ctx, DY_PROG_DYT, dt, g->dshift, parts, 3 * plane, plane, acc)))
        return s;
    return DYTCL_OK;
}

/* Few rows: is one work-group (one launch, no partial sums) the faster
 * path? A single row always is; otherwise while the work stays small. */
static int few_rows(int rows, int C)
{
    return rows == 1 || (int64_t)rows * C <= 32768;
}

enum { OUT_DW = 1, OUT_DB = 2, OUT_DA = 4, OUT_DS = 8 };

/* The arguments both backward shapes start with: dx, dy, dres, x, alpha,
 * shift, weight, flags, has_dres, C, rows. Returns the next index, or -1. */
static int backward_args(dytcl_ctx *ctx, dy_kernel *k, int derf, dytcl_tensor dx, dytcl_tensor dy,
                         dytcl_tensor dres, dytcl_tensor x, const dytcl_dyt_params *p, norm_dims d)
{
    cl_mem dummy = x.buf->mem;
    int i = dy_arg_tensor(ctx, k, 0, dx, dummy);
    i = dy_arg_tensor(ctx, k, i, dy, dummy);
    i = dy_arg_tensor(ctx, k, i, dres, dummy);
    i = dy_arg_tensor(ctx, k, i, x, dummy);
    i = dy_arg_tensor(ctx, k, i, p->alpha, dummy);
    i = dy_arg_tensor(ctx, k, i, derf ? p->shift : p->alpha, dummy); /* unused by DyT */
    i = dy_arg_tensor(ctx, k, i, p->weight, dummy);
    i = dy_arg_int(ctx, k, i, param_flags(p));
    i = dy_arg_int(ctx, k, i, dres.buf != NULL);
    i = dy_arg_int(ctx, k, i, d.C);
    i = dy_arg_int(ctx, k, i, d.outer);
    return i;
}

static dytcl_status backward_few(dytcl_ctx *ctx, int derf, dytcl_tensor dx, const dytcl_dyt_grads *g,
                                 dytcl_tensor dy, dytcl_tensor dres, dytcl_tensor x, const dytcl_dyt_params *p,
                                 norm_dims d)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, DY_PROG_DYT, derf ? DY_KNAME(DYT, derf_backward_few) : DY_KNAME(DYT, dyt_backward_few),
                                      x.dtype, &k);
    if (s) return s;
    const int groups8 = (d.C + 7) / 8;
    /* a GPU fills a work-group; a CPU runs one on one thread, where fewer
     * work-items (each with more columns) cost less to switch between */
    const size_t cap = dy_row_shape(ctx) ? 16 : 256;
    size_t L = dy_pow2_local(ctx, k, (size_t)groups8 < cap ? (size_t)groups8 : cap);
    int outs = (g->dweight.buf ? OUT_DW : 0) | (g->dbias.buf ? OUT_DB : 0) | (g->dalpha.buf ? OUT_DA : 0) |
               (g->dshift.buf ? OUT_DS : 0);
    cl_mem dummy = x.buf->mem;
    int i = backward_args(ctx, k, derf, dx, dy, dres, x, p, d);
    i = dy_arg_tensor(ctx, k, i, g->dweight, dummy);
    i = dy_arg_tensor(ctx, k, i, g->dbias, dummy);
    i = dy_arg_tensor(ctx, k, i, g->dalpha, dummy);
    i = dy_arg_tensor(ctx, k, i, g->dshift, dummy);
    i = dy_arg_int(ctx, k, i, outs);
    i = dy_arg_int(ctx, k, i, g->accumulate != 0);
    i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    return dy_launch(ctx, k, 1, &L, &L);
}

/* Channels last; dres (may be absent) is added into dx: the fused residual. */
static dytcl_status backward_rows(dytcl_ctx *ctx, int derf, dytcl_tensor dx, const dytcl_dyt_grads *g,
                                  dytcl_tensor dy, dytcl_tensor dres, dytcl_tensor x, const dytcl_dyt_params *p,
                                  norm_dims d)
{
    if (few_rows(d.outer, d.C)) return backward_few(ctx, derf, dx, g, dy, dres, x, p, d);
    /* CPUs stream whole rows; GPUs walk columns, a float8 per work-item. */
    static const char *const names[2][2] = {{DY_KNAME(DYT, dyt_backward_cols), DY_KNAME(DYT, dyt_backward_rows)},
                                            {DY_KNAME(DYT, derf_backward_cols), DY_KNAME(DYT, derf_backward_rows)}};
    const int rowwise = dy_row_shape(ctx);
    dy_kernel *k;
    dytcl_status s;
    if ((s = dy_kernel_get_dt(ctx, DY_PROG_DYT, names[derf][rowwise], x.dtype, &k))) return s;
    int groups8 = (d.C + 7) / 8; /* columns: a work-item per 8 */
    size_t L = rowwise ? 1 : local_for(ctx, k, groups8);
    int colgroups = rowwise ? 1 : (int)((groups8 + L - 1) / L);
    int R = rows_per_block(ctx, d.outer, colgroups, rowwise), nblocks = (d.outer + R - 1) / R;
    /* walking rows: planes of dw and db, then a dalpha and a dshift per
     * block (reduce_parts); walking columns: four planes (reduce_planes) */
    size_t nparts = (size_t)nblocks * d.C * (rowwise ? 2 : 4) + (rowwise ? 2 * (size_t)nblocks : 0);
    cl_mem parts;
    if ((s = dy_workspace(ctx, DY_WS_PARTIALS, nparts * sizeof(float), &parts))) return s;
    int i = backward_args(ctx, k, derf, dx, dy, dres, x, p, d);
    i = dy_arg_int(ctx, k, i, R);
    i = dy_arg_mem(ctx, k, i, parts);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {rowwise ? (size_t)nblocks : (size_t)groups8, (size_t)nblocks}, local[2] = {L, 1};
    if ((s = dy_launch(ctx, k, rowwise ? 1 : 2, global, local))) return s;
    if (rowwise) {
        const dytcl_tensor out[4] = {g->dweight, g->dbias, g->dalpha, g->dshift};
        return dy_launch_reduce_parts(ctx, DY_PROG_DYT, x.dtype, out, parts, nblocks, d.C, g->accumulate != 0);
    }
    return reduce_planes(ctx, x.dtype, g, parts, nblocks, d.C);
}

/* Channels first: one work-group per row of [N*C, HW]. */
static dytcl_status backward_nchw(dytcl_ctx *ctx, const char *kname, dytcl_tensor dx, const dytcl_dyt_grads *g,
                                  dytcl_tensor dy, dytcl_tensor x, const dytcl_dyt_params *p, norm_dims d, int derf)
{
    dy_kernel *k;
    dytcl_status s;
    if ((s = dy_kernel_get_dt(ctx, DY_PROG_DYT, kname, x.dtype, &k))) return s;
    size_t L = local_for(ctx, k, d.inner);
    cl_mem parts;
    if ((s = dy_workspace(ctx, DY_WS_PARTIALS, (size_t)4 * d.outer * sizeof(float), &parts))) return s;
    cl_mem dummy = x.buf->mem;
    int i = dy_arg_tensor(ctx, k, 0, dx, dummy);
    i = dy_arg_tensor(ctx, k, i, dy, dummy);
    i = dy_arg_tensor(ctx, k, i, x, dummy);
    i = dy_arg_tensor(ctx, k, i, p->alpha, dummy);
    i = dy_arg_tensor(ctx, k, i, derf ? p->shift : p->alpha, dummy);
    i = dy_arg_tensor(ctx, k, i, p->weight, dummy);
    i = dy_arg_int(ctx, k, i, param_flags(p));
    i = dy_arg_int(ctx, k, i, d.inner);
    i = dy_arg_int(ctx, k, i, d.C);
    i = dy_arg_mem(ctx, k, i, parts);
    i = dy_arg_local(ctx, k, i, 4 * L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {L, (size_t)d.outer}, local[2] = {L, 1};
    if ((s = dy_launch(ctx, k, 2, global, local))) return s;
    /* rows o = n*C + c: the planes are [N, C], summed over n */
    return reduce_planes(ctx, x.dtype, g, parts, d.outer / d.C, d.C);
}

static dytcl_status backward(dytcl_ctx *ctx, int derf, dytcl_tensor dx, const dytcl_dyt_grads *g, dytcl_tensor dy,
                             dytcl_tensor x, const dytcl_dyt_params *p)
{
    DY_CHECK_CTX(ctx);
    norm_dims d;
    dytcl_status s;
    if ((s = p ? dy_norm_dims_of_dt(ctx, x, p->layout, ACT_DTYPES, &d) : dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "params is NULL")) ||
        (s = norm_check_like(ctx, dx, "dx", x)) || (s = norm_check_like(ctx, dy, "dy", x)) ||
        (s = check_params(ctx, p, d.C, derf)) || (s = check_grads(ctx, g, d.C, derf)))
        return s;
    if (d.channels_first)
        return backward_nchw(ctx, derf ? DY_KNAME(DYT, derf_backward_nchw) : DY_KNAME(DYT, dyt_backward_nchw), dx, g,
                             dy, x, p, d, derf);
    dytcl_tensor none = {0};
    return backward_rows(ctx, derf, dx, g, dy, none, x, p, d);
}

dytcl_status dytcl_dyt_backward(dytcl_ctx *ctx, dytcl_tensor dx, const dytcl_dyt_grads *g, dytcl_tensor dy,
                                dytcl_tensor x, const dytcl_dyt_params *p)
{
    return backward(ctx, 0, dx, g, dy, x, p);
}

dytcl_status dytcl_derf_backward(dytcl_ctx *ctx, dytcl_tensor dx, const dytcl_dyt_grads *g, dytcl_tensor dy,
                                 dytcl_tensor x, const dytcl_dyt_params *p)
{
    return backward(ctx, 1, dx, g, dy, x, p);
}

/* --------------------------------------------------- residual add and fusion */

dytcl_status dytcl_add(dytcl_ctx *ctx, dytcl_tensor out, dytcl_tensor a, dytcl_tensor b)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor_dt(ctx, a, "a", ACT_DTYPES)) || (s = norm_check_like(ctx, b, "b", a)) ||
        (s = norm_check_like(ctx, out, "out", a)))
        return s;
    dy_kernel *k;
    if ((s = dy_kernel_get_dt(ctx, DY_KERNEL(DYT, add), a.dtype, &k))) return s;
    int n = (int)dytcl_tensor_numel(a);
    int i = dy_arg_tensor(ctx, k, 0, out, NULL);
    i = dy_arg_tensor(ctx, k, i, a, NULL);
    i = dy_arg_tensor(ctx, k, i, b, NULL);
    i = dy_arg_int(ctx, k, i, n);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = ((size_t)n + 3) / 4;
    return dy_launch(ctx, k, 1, &global, NULL);
}

static dytcl_status check_residual(dytcl_ctx *ctx, const dytcl_dyt_params *p, dytcl_tensor x, norm_dims *d)
{
    dytcl_status s = p ? dy_norm_dims_of_dt(ctx, x, DYTCL_CHANNELS_LAST, ACT_DTYPES, d)
                       : dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "params is NULL");
    if (!s && p->layout != DYTCL_CHANNELS_LAST)
        s = dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "the residual fusion is channels-last only");
    return s ? s : check_params(ctx, p, d->C, 0);
}

dytcl_status dytcl_residual_dyt_forward(dytcl_ctx *ctx, dytcl_tensor r_out, dytcl_tensor y, dytcl_tensor r,
                                        dytcl_tensor h, const dytcl_dyt_params *p)
{
    DY_CHECK_CTX(ctx);
    norm_dims d;
    dytcl_status s;
    if ((s = check_residual(ctx, p, r, &d)) || (s = norm_check_like(ctx, h, "h", r)) ||
        (s = norm_check_like(ctx, r_out, "r_out", r)) || (s = norm_check_like(ctx, y, "y", r)))
        return s;
    if (dy_row_shape(ctx)) return forward_chunked(ctx, 0, y, r_out, r, h, p, d);
    static const char *const names[2] = {DY_KNAME(DYT, residual_dyt_forward), DY_KNAME(DYT, residual_dyt_forward_tail)};
    dy_kernel *k[2];
    cl_mem dummy = r.buf->mem;
    for (int v = 0; v < 2; v++) {
        if ((s = dy_kernel_get_dt(ctx, DY_PROG_DYT, names[v], r.dtype, &k[v]))) return s;
        int i = dy_arg_tensor(ctx, k[v], 0, r_out, dummy);
        i = dy_arg_tensor(ctx, k[v], i, y, dummy);
        i = dy_arg_tensor(ctx, k[v], i, r, dummy);
        i = dy_arg_tensor(ctx, k[v], i, h, dummy);
        i = dy_arg_tensor(ctx, k[v], i, p->alpha, dummy);
        i = dy_arg_tensor(ctx, k[v], i, p->weight, dummy);
        i = dy_arg_tensor(ctx, k[v], i, p->bias, dummy);
        i = dy_arg_int(ctx, k[v], i, param_flags(p));
        i = dy_arg_int(ctx, k[v], i, d.C);
        if (i < 0) return DYTCL_ERR_OPENCL;
    }
    size_t global[2] = {(size_t)d.C, (size_t)d.outer}, local[2] = {local_for(ctx, k[0], d.C), 1};
    return dy_launch_split(ctx, k[0], k[1], 2, global, local);
}

dytcl_status dytcl_residual_dyt_backward(dytcl_ctx *ctx, dytcl_tensor dres, const dytcl_dyt_grads *g,
                                         dytcl_tensor dy, dytcl_tensor dr_out, dytcl_tensor r_out,
                                         const dytcl_dyt_params *p)
{
    DY_CHECK_CTX(ctx);
    norm_dims d;
    dytcl_status s;
    if ((s = check_residual(ctx, p, r_out, &d)) || (s = norm_check_like(ctx, dres, "d", r_out)) ||
        (s = norm_check_like(ctx, dy, "dy", r_out)) || (s = norm_check_like(ctx, dr_out, "dr_out", r_out)) ||
        (s = check_grads(ctx, g, d.C, 0)))
        return s;
    return backward_rows(ctx, 0, dres, g, dy, dr_out, r_out, p, d);
}
