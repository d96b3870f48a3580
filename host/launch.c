/* launch.c -- kernel arguments, NDRange sizes, and profiling events. */
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
    cl_event ev = NULL, *evp = ctx->profiling ? &ev : NULL;
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
    if (!ctx->profiling) {
        clReleaseEvent(ev);
    } else if (ctx->nevents < 2) { /* the span needs only the first and the latest */
        ctx->events[ctx->nevents++] = ev;
    } else {
        clReleaseEvent(ctx->events[1]);
        ctx->events[1] = ev;
    }
}

static void release_events(dytcl_ctx *ctx)
{
    for (int i = 0; i < ctx->nevents; i++) clReleaseEvent(ctx->events[i]);
    ctx->nevents = 0;
}

dytcl_status dytcl_profile_begin(dytcl_ctx *ctx)
{
    DY_CHECK_CTX(ctx);
    release_events(ctx);
    ctx->profiling = 1;
    return DYTCL_OK;
}

dytcl_status dytcl_profile_end(dytcl_ctx *ctx, double *ns)
{
    DY_CHECK_CTX(ctx);
    if (!ns) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_profile_end: ns is NULL");
    *ns = 0;
    if (!ctx->profiling)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_profile_end without dytcl_profile_begin");
    ctx->profiling = 0;
    dytcl_status s = dytcl_finish(ctx);
    cl_ulong first = ~(cl_ulong)0, last = 0;
    for (int i = 0; s == DYTCL_OK && i < ctx->nevents; i++) {
        cl_ulong a = 0, b = 0;
        cl_int err = clGetEventProfilingInfo(ctx->events[i], CL_PROFILING_COMMAND_START, sizeof a, &a, NULL);
        if (err == CL_SUCCESS)
            err = clGetEventProfilingInfo(ctx->events[i], CL_PROFILING_COMMAND_END, sizeof b, &b, NULL);
        if (err != CL_SUCCESS) s = dy_cl_fail(ctx, err, "clGetEventProfilingInfo");
        if (a < first) first = a;
        if (b > last) last = b;
    }
    if (s == DYTCL_OK && ctx->nevents > 0) *ns = (double)(last - first);
    release_events(ctx);
    return s;
}
