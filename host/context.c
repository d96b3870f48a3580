/* context.c -- choosing a device, creating and freeing a context. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DY_MAX_LIST 64

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* Appends "  0: platform / device" lines for an error message. */
static void list_devices(char *out, size_t cap, const dytcl_device_info *info, int n)
{
    size_t len = strlen(out);
    for (int i = 0; i < n && len + 1 < cap; i++) {
        int w = snprintf(out + len, cap - len, "\n  %d: %s / %s", i, info[i].platform, info[i].name);
        if (w < 0) break;
        len += (size_t)w;
    }
}

/* Picks the device index from `spec` (an index or a name substring) or, with
 * no spec, the first GPU, else the first CPU, else device 0. */
static dytcl_status pick_device(const char *spec, const char *origin, const dytcl_device_info *info,
                                int n, int *pick)
{
    if (!spec || !*spec) {
        for (int i = 0; i < n; i++)
            if (info[i].is_gpu) return *pick = i, DYTCL_OK;
        for (int i = 0; i < n; i++)
            if (info[i].is_cpu) return *pick = i, DYTCL_OK;
        return *pick = 0, DYTCL_OK;
    }
    char msg[4096];
    if (all_digits(spec)) {
        long idx = strtol(spec, NULL, 10);
        if (idx >= 0 && idx < n) return *pick = (int)idx, DYTCL_OK;
        snprintf(msg, sizeof msg, "%s=\"%s\": no device with index %s; the %d device(s) are:",
                 origin, spec, spec, n);
    } else {
        for (int i = 0; i < n; i++) {
            char full[300];
            snprintf(full, sizeof full, "%s / %s", info[i].platform, info[i].name);
            if (contains_nocase(full, spec)) return *pick = i, DYTCL_OK;
        }
        snprintf(msg, sizeof msg, "%s=\"%s\": no device name contains \"%s\"; the %d device(s) are:",
                 origin, spec, spec, n);
    }
    list_devices(msg, sizeof msg, info, n);
    return dy_fail(NULL, DYTCL_ERR_NO_DEVICE, "%s", msg);
}

/* The cache directory from the options and the environment; "" when off. */
static void cache_dir_choose(const dytcl_ctx_options *opt, char *out, size_t cap)
{
    out[0] = '\0';
    const char *off = getenv("DYTCL_NO_CACHE");
    if ((opt && opt->no_cache) || (off && *off && strcmp(off, "0") != 0)) return;
    const char *dir = opt ? opt->cache_dir : NULL;
    if (dir && *dir) {
        snprintf(out, cap, "%s", dir);
        return;
    }
    if ((dir = getenv("DYTCL_CACHE_DIR")) && *dir) {
        snprintf(out, cap, "%s", dir);
        return;
    }
    if ((dir = getenv("XDG_CACHE_HOME")) && *dir) {
        snprintf(out, cap, "%s/dytcl", dir);
        return;
    }
    if ((dir = getenv("HOME")) && *dir) snprintf(out, cap, "%s/.cache/dytcl", dir);
}

/* One cap: the option when set, else the environment variable (a positive
 * integer), else none (0). */
static dytcl_status cap_choose(size_t opt, const char *env, size_t *out)
{
    *out = opt;
    const char *v = getenv(env);
    if (opt || !v || !*v) return DYTCL_OK;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!all_digits(v) || errno || n == 0 || n > SIZE_MAX)
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "%s=\"%s\": expected a positive integer", env, v);
    *out = (size_t)n;
    return DYTCL_OK;
}

/* Applies the work-group and local-memory caps to the context's device facts,
 * which every launch size is computed from. */
static dytcl_status caps_apply(const dytcl_ctx_options *opt, dytcl_device_info *info)
{
    size_t wg = 0, lm = 0;
    dytcl_status s = cap_choose(opt ? opt->max_work_group : 0, "DYTCL_MAX_WORK_GROUP", &wg);
    if (!s) s = cap_choose(opt ? opt->max_local_mem : 0, "DYTCL_MAX_LOCAL_MEM", &lm);
    if (s) return s;
    if (wg && wg < info->max_work_group) info->max_work_group = wg;
    if (lm && lm < info->local_mem) info->local_mem = lm;
    return DYTCL_OK;
}

dytcl_status dytcl_ctx_create(const dytcl_ctx_options *opt, dytcl_ctx **out)
{
    dy_clear_error(NULL);
    if (!out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_ctx_create: out is NULL");
    *out = NULL;

    cl_platform_id plats[DY_MAX_LIST];
    cl_device_id devs[DY_MAX_LIST];
    dytcl_device_info info[DY_MAX_LIST];
    int n = 0;
    dytcl_status s = dy_device_ids(plats, devs, DY_MAX_LIST, &n);
    if (s != DYTCL_OK) return s;
    if (n > DY_MAX_LIST) n = DY_MAX_LIST;
    for (int i = 0; i < n; i++) dy_device_query(plats[i], devs[i], i, &info[i]);

    const char *spec = opt ? opt->device : NULL, *origin = "device option";
    if (!spec || !*spec) spec = getenv("DYTCL_DEVICE"), origin = "DYTCL_DEVICE";
    int pick = 0;
    if ((s = pick_device(spec, origin, info, n, &pick)) != DYTCL_OK) return s;
    if ((s = caps_apply(opt, &info[pick])) != DYTCL_OK) return s;

    dytcl_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_ctx_create: out of host memory");
    ctx->platform = plats[pick];
    ctx->device = devs[pick];
    ctx->info = info[pick];
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof ctx->max_items, ctx->max_items, NULL) !=
        CL_SUCCESS)
        ctx->max_items[0] = ctx->max_items[1] = ctx->max_items[2] = 1;
    cache_dir_choose(opt, ctx->cache_dir, sizeof ctx->cache_dir);
    ctx->gemm_path_opt = opt ? opt->gemm_path : DYTCL_GEMM_AUTO;
    const char *shape = getenv("DYTCL_KERNEL_SHAPE");
    ctx->row_shape = shape && !strcmp(shape, "rows") ? 1 : shape && !strcmp(shape, "groups") ? 0 : -1;
    const char *knobs = getenv("DYTCL_KNOBS");
    ctx->knobs = ctx->row_shape >= 0 ? !ctx->row_shape : !ctx->info.is_cpu;
    for (int i = 0; knobs && i < DY_KNOB_SETS; i++)
        if (!strcmp(knobs, dy_knob_name(i))) ctx->knobs = i;

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        s = dy_cl_fail(ctx, err, "clCreateContext");
        goto fail;
    }
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        s = dy_cl_fail(ctx, err, "clCreateCommandQueue");
        goto fail;
    }
    *out = ctx;
    return DYTCL_OK;

fail:
    dy_fail(NULL, s, "%s (device %d: %s)", ctx->err, pick, info[pick].name);
    dytcl_ctx_free(ctx);
    return s;
}

void dytcl_ctx_free(dytcl_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    for (int i = 1; i < DY_GEMM_PARTS; i++) /* host GEMM parts that found nothing left to do */
        if (ctx->gemm_queues[i]) clFinish(ctx->gemm_queues[i]);
    dytcl_ctx_save_cache(ctx); /* best effort: a cache that cannot be written is no error */
    dy_gemm_release(ctx);
    for (int i = 0; i < ctx->nevents; i++) clReleaseEvent(ctx->events[i]);
    for (int i = 0; i < DY_WORKSPACES; i++) dytcl_buf_free(ctx->workspace[i]);
    for (int i = 0; i < ctx->nkernels; i++) clReleaseKernel(ctx->kernels[i].kernel);
    for (int i = 0; i < DY_PROG_SLOTS; i++)
        if (ctx->progs[i].program) clReleaseProgram(ctx->progs[i].program);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    for (int i = 1; i < DY_GEMM_PARTS; i++)
        if (ctx->gemm_queues[i]) clReleaseCommandQueue(ctx->gemm_queues[i]);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

dytcl_status dytcl_ctx_device(const dytcl_ctx *ctx, dytcl_device_info *out)
{
    DY_CHECK_CTX(ctx);
    if (!out) return dy_fail((dytcl_ctx *)ctx, DYTCL_ERR_INVALID_ARG, "dytcl_ctx_device: out is NULL");
    *out = ctx->info;
    return DYTCL_OK;
}

dytcl_status dytcl_ctx_get_stats(const dytcl_ctx *ctx, dytcl_ctx_stats *out)
{
    DY_CHECK_CTX(ctx);
    if (!out) return dy_fail((dytcl_ctx *)ctx, DYTCL_ERR_INVALID_ARG, "dytcl_ctx_get_stats: out is NULL");
    *out = ctx->stats;
    return DYTCL_OK;
}

dytcl_status dytcl_finish(dytcl_ctx *ctx)
{
    DY_CHECK_CTX(ctx);
    cl_int err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? dy_gemm_fault(ctx) : dy_cl_fail(ctx, err, "clFinish");
}
