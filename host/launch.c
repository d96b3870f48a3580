/* launch.c -- kernel arguments, NDRange sizes, and keeping profiling events. */
#include <string.h>

#include "internal.h"

dytcl_status dy_arg(dytcl_ctx *ctx, dy_kernel *k, cl_uint i, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(k->kernel, i, size, value);
    if (err == CL_SUCCESS) return DYTCL_OK;
    return dy_fail(ctx, DYTCL_ERR_OPENCL, "clSetKernelArg(%s, arg %u) failed: %s", k->name, i,
                   dy_cl_error_name(err));
}

size_t dy_local_1d(const dytcl_ctx *ctx, const dy_kernel *k)
{
    size_t cap = k->wg_max < ctx->info.max_work_group ? k->wg_max : ctx->info.max_work_group;
    size_t l = 1;
    while (l * 2 <= cap && l * 2 <= 256) l *= 2;
    return l;
}

dytcl_status dy_launch(dytcl_ctx *ctx, dy_kernel *k, cl_uint dims, const size_t *global,
                       const size_t *local)
{
    return dy_launch_at(ctx, k, dims, NULL, global, local);
}

dytcl_status dy_launch_split(dytcl_ctx *ctx, dy_kernel *body, dy_kernel *tail, cl_uint dims,
                             const size_t *global, const size_t *local)
{
    size_t g[3], off[3] = {0, 0, 0};
    for (cl_uint d = 0; d < dims; d++) g[d] = global[d];
    size_t whole = global[0] / local[0] * local[0];
    dytcl_status s = DYTCL_OK;
    if (whole > 0) {
        g[0] = whole;
        s = dy_launch_at(ctx, body, dims, NULL, g, local);
    }
    if (s == DYTCL_OK && whole < global[0]) {
        g[0] = global[0] - whole; /* rounded up to the local size by dy_launch_at */
        off[0] = whole;
        s = dy_launch_at(ctx, tail, dims, off, g, local);
    }
    return s;
}

dytcl_status dy_launch_at(dytcl_ctx *ctx, dy_kernel *k, cl_uint dims, const size_t *offset,
                          const size_t *global, const size_t *local)
{
    size_t loc[3] = {1, 1, 1}, glob[3] = {1, 1, 1};
    if (dims < 1 || dims > 3) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dy_launch: %u dims", dims);
    for (cl_uint d = 0; d < dims; d++) {
        loc[d] = local ? local[d] : (d == 0 ? dy_local_1d(ctx, k) : 1);
        if (global[d] == 0) return DYTCL_OK; /* nothing to do */
        glob[d] = (global[d] + loc[d] - 1) / loc[d] * loc[d];
    }
    cl_event ev = NULL, *evp = ctx->profiling && !ctx->timer_host ? &ev : NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k->kernel, dims, offset, glob, loc, 0, NULL, evp);
    if (err != CL_SUCCESS) {
        return dy_fail(ctx, err == CL_OUT_OF_RESOURCES ? DYTCL_ERR_DEVICE_MEMORY : DYTCL_ERR_OPENCL,
                       "clEnqueueNDRangeKernel(%s, global %zux%zux%zu, local %zux%zux%zu) failed: %s",
                       k->name, glob[0], glob[1], glob[2], loc[0], loc[1], loc[2],
                       dy_cl_error_name(err));
    }
    if (evp) dy_keep_event(ctx, ev);
    ctx->stats.kernels_launched++;
    return DYTCL_OK;
}

void dy_keep_event(dytcl_ctx *ctx, cl_event ev)
{
    if (!ev) return;
    if (!ctx->profiling || ctx->timer_host) {
        clReleaseEvent(ev);
    } else if (ctx->nevents < 2) { /* the span needs only the first and the latest */
        ctx->events[ctx->nevents++] = ev;
    } else {
        clReleaseEvent(ctx->events[1]);
        ctx->events[1] = ev;
    }
}
