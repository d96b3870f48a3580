/* program.c -- building the embedded programs once per context, and their kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* OpenCL C 1.2 everywhere; per-device choices follow as -D options (knob_sets). */
static const char *build_options = "-cl-std=CL1.2 -cl-denorms-are-zero";

/* Compiles `src`; on failure the message carries the compiler's log. */
dytcl_status dy_program_build_source(dytcl_ctx *ctx, const char *src, const char *options,
                                     cl_program *out)
{
    *out = NULL;
    cl_int err;
    cl_program p = clCreateProgramWithSource(ctx->context, 1, &src, NULL, &err);
    if (err != CL_SUCCESS) return dy_cl_fail(ctx, err, "clCreateProgramWithSource");
    err = clBuildProgram(p, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t len = 0;
        clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
        char *log = malloc(len + 1);
        if (log) {
            log[0] = '\0';
            clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
            log[len] = '\0';
        }
        dy_fail(ctx, DYTCL_ERR_BUILD, "clBuildProgram failed on %s: %s (%d); build log:\n%s",
                ctx->info.name, dy_cl_error_name(err), (int)err, log ? log : "(no memory for the log)");
        free(log);
        clReleaseProgram(p);
        return DYTCL_ERR_BUILD;
    }
    *out = p;
    return DYTCL_OK;
}

/* Tuning constants the kernels take as -D options, one set per device
 * class; each constant has an #ifndef default in its cl/ file (the CPU
 * set's value), so a program built with no options is the CPU build. The
 * host picks a set once per context (dy_knob_set); DYTCL_KNOBS = cpu | gpu
 * forces one, so that a GPU run can compare them. Add a set here and
 * `make test-gpu-compile` builds and budgets it for every GPU target.
 *   ATTN_DC   columns of D the tiled attention kernels keep per work-item
 *             in one pass over the keys (cl/attention.cl): a compile-time
 *             count, so that the accumulators are registers on a GPU; D
 *             above it takes ceil(D / ATTN_DC) passes.
 *   DYT_BWD_VEC  columns per step of the DyT/Derf backward column kernels
 *             (cl/dyt.cl): 8 (one float8) or 4 (two float4 passes, half
 *             the registers).
 *   GEMV_SUMS  independent float16 sums of the one-row product kernels
 *             (cl/linear.cl): 4 on CPUs, 1 on GPUs (registers). */
static const struct {
    const char *name, *options;
} knob_sets[DY_KNOB_SETS] = {
    {"cpu", ""},
    {"gpu", " -DATTN_DC=32 -DDYT_BWD_VEC=4 -DGEMV_SUMS=1"},
};

const char *dy_knob_name(int knobs)
{
    return knobs >= 0 && knobs < DY_KNOB_SETS ? knob_sets[knobs].name : "?";
}

int dy_program_text(dy_prog_id id, int variant, int knobs, char **src_out, char *options, size_t cap)
{
    *src_out = NULL;
    if ((int)id < 0 || id >= DY_PROG_COUNT || id == DY_PROG_COMMON || variant < 0 || variant >= DY_VARIANTS ||
        knobs < 0 || knobs >= DY_KNOB_SETS)
        return 0;
    /* the source: cl/shared.h and cl/common.cl (one embedded string), then the program's own file */
    const char *common = dy_prog_source[DY_PROG_COMMON], *own = dy_prog_source[id];
    size_t a = strlen(common), b = strlen(own);
    char *src = malloc(a + b + 2);
    if (!src) return 0;
    memcpy(src, common, a);
    src[a] = '\n';
    memcpy(src + a + 1, own, b + 1);
    /* the options: the storage dtypes (cl/common.cl's DY_DT, DY_DT_OUT) for
     * a half-width variant, then the device class's knobs. The cache key
     * covers the options, so each build is cached on its own. */
    int n;
    if (variant == 0)
        n = snprintf(options, cap, "%s%s", build_options, knob_sets[knobs].options);
    else
        n = snprintf(options, cap, "%s -DDY_DT=%d -DDY_DT_OUT=%d%s", build_options, variant / DY_DTYPES,
                     variant % DY_DTYPES, knob_sets[knobs].options);
    if (n < 0 || (size_t)n >= cap) {
        free(src);
        return 0;
    }
    *src_out = src;
    return 1;
}

/* Builds program `id` in storage variant `variant` from the cache when a
 * valid entry exists, else from source. */
static dytcl_status program_ensure(dytcl_ctx *ctx, dy_prog_id id, int variant)
{
    dy_prog *pg = &ctx->progs[id * DY_VARIANTS + variant];
    if (pg->program) return DYTCL_OK;
    double t0 = dytcl_now_ms();
    char *src = NULL, options[DY_OPTIONS_MAX];
    if (!dy_program_text(id, variant, ctx->knobs, &src, options, sizeof options))
        return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "program cl/%s.cl: out of host memory", dy_prog_name[id]);
    dy_cache_key(ctx, src, options, pg->key);
    dytcl_status s = DYTCL_OK;
    if (dy_cache_load(ctx, pg->key, &pg->program, &pg->cached_size)) {
        pg->from_cache = 1;
        ctx->stats.programs_from_cache++;
    } else if ((s = dy_program_build_source(ctx, src, options, &pg->program)) != DYTCL_OK) {
        /* Say which of our programs failed, keeping the log after it. */
        char tmp[DY_ERRLEN];
        snprintf(tmp, sizeof tmp, "%s", ctx->err);
        dy_fail(ctx, s, "program cl/%s.cl (%s): %s", dy_prog_name[id], options, tmp);
    } else {
        pg->dirty = 1;
        ctx->stats.programs_compiled++;
    }
    free(src);
    ctx->stats.build_ms += dytcl_now_ms() - t0;
    return s;
}

static dytcl_status kernel_get(dytcl_ctx *ctx, dy_prog_id id, const char *name, int variant, dy_kernel **out)
{
    for (int i = 0; i < ctx->nkernels; i++) {
        if (ctx->kernels[i].prog == id && ctx->kernels[i].variant == variant &&
            strcmp(ctx->kernels[i].name, name) == 0) {
            *out = &ctx->kernels[i];
            return DYTCL_OK;
        }
    }
    if (ctx->nkernels == DY_MAX_KERNELS)
        return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "kernel table full (%d kernels)", DY_MAX_KERNELS);
    dytcl_status s = program_ensure(ctx, id, variant);
    if (s != DYTCL_OK) return s;

    cl_int err;
    cl_kernel k = clCreateKernel(ctx->progs[id * DY_VARIANTS + variant].program, name, &err);
    if (err != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "clCreateKernel(\"%s\") in cl/%s.cl", name, dy_prog_name[id]);
        return dy_cl_fail(ctx, err, what);
    }
    dy_kernel *dk = &ctx->kernels[ctx->nkernels++];
    dk->name = name;
    dk->prog = id;
    dk->variant = variant;
    dk->kernel = k;
    dk->wg_max = 1;
    clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof dk->wg_max,
                             &dk->wg_max, NULL);
    if (dk->wg_max == 0) dk->wg_max = 1;
    *out = dk;
    return DYTCL_OK;
}

dytcl_status dy_kernel_get_conv(dytcl_ctx *ctx, dy_prog_id id, const char *name, dytcl_dtype from,
                                dytcl_dtype to, dy_kernel **out)
{
    /* the storage variants are f32, f16 and bf16 (q8 has kernels of its own: cl/q8.cl) */
    if ((unsigned)from >= DY_DTYPES || (unsigned)to >= DY_DTYPES)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "kernel %s: dtype %d -> %d is not a storage variant", name,
                       (int)from, (int)to);
    return kernel_get(ctx, id, name, (int)from * DY_DTYPES + (int)to, out);
}

dytcl_status dy_kernel_get_dt(dytcl_ctx *ctx, dy_prog_id id, const char *name, dytcl_dtype dt, dy_kernel **out)
{
    return dy_kernel_get_conv(ctx, id, name, dt, dt, out);
}

dytcl_status dy_kernel_get(dytcl_ctx *ctx, dy_prog_id id, const char *name, dy_kernel **out)
{
    return kernel_get(ctx, id, name, 0, out);
}
