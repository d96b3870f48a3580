/* internal.h -- what the library's own files share; not installed. */
#ifndef DYTCL_INTERNAL_H
#define DYTCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stdarg.h>

#include "dytcl.h"
#include "dytcl_experimental.h"

#define DY_ERRLEN 8192

/* The programs, one per file in cl/: DY_PROG_COPY for cl/copy.cl, etc. The
 * build embeds their sources (cmake/embed_cl.cmake). */
#include "kernels_src.h"
/* Constants the kernels use too (HAS_W, head-size limits): cl/shared.h,
 * which the build puts in front of every program. */
#include "shared.h"

typedef struct {
    cl_program program;
    int from_cache;             /* loaded from disk */
    int dirty;                  /* compiled from source: save it */
    size_t cached_size;         /* binary size when loaded or last saved */
    char key[80];               /* hex digest that names the cache file */
} dy_prog;

/* Each program is built once per storage variant it is asked for: the
 * dtype its kernels read (DY_DT in cl/common.cl) times the dtype the
 * converting kernels write (DY_DT_OUT); f32/f32 is the plain build. */
#define DY_DTYPES 3
#define DY_VARIANTS (DY_DTYPES * DY_DTYPES)
#define DY_PROG_SLOTS (DY_PROG_COUNT * DY_VARIANTS)

#define DY_MAX_KERNELS 160
#define DY_GEMM_PARTS 8         /* the most parts a host GEMM is cut into */
typedef struct {
    const char *name;           /* points to a string literal of the caller */
    dy_prog_id prog;
    int variant;                /* in_dtype * DY_DTYPES + out_dtype */
    cl_kernel kernel;
    size_t wg_max;              /* CL_KERNEL_WORK_GROUP_SIZE */
} dy_kernel;

/* Workspace slots (dy_workspace). An op's scratch lives only during the
 * call. A slot held while the op calls another public op is its own, so no
 * op depends on what another one does with a slot. */
enum {
    DY_WS_PARTIALS = 0,     /* per-block partial sums of a reduction (most ops) */
    DY_WS_EMBED_STARTS,     /* embedding backward's counting sort (counts: PARTIALS) */
    DY_WS_EMBED_CURSOR,
    DY_WS_EMBED_BUCKET,
    DY_WS_ATTN_P,           /* attention: the scores / probabilities, [BH, T, T] ... */
    DY_WS_ATTN_DP,          /* ... their gradient ... */
    DY_WS_ATTN_DELTA,       /* ... and the rows' dot(dout, o), [BH, T] */
    DY_WS_WEIGHT,           /* linear: a half-width W widened to float32 for the GEMM */
    DY_WS_ROPE,             /* RoPE's cos/sin table (ops_act.c; what it holds: ctx->rope) */
    DY_WORKSPACES
};

/* 1 when ctx's buffers live in host memory (a CPU device, or host-unified
 * memory): then buffers are backed with pages as they are created, and
 * dytcl_ctx_memory_room counts what the process can get (memory.c). */
int dy_host_memory(dytcl_ctx *ctx);
/* Makes the context's RoPE table (ops_act.c) cover positions pos_offset ..
 * pos_offset + T - 1 for theta and D: cos and sin of p theta^(-2i/D) as
 * float [n, D/2, 2] for positions ctx->rope.base .. base + n - 1. */
dytcl_status dy_rope_table(dytcl_ctx *ctx, float theta, int D, int64_t pos_offset, int64_t T, cl_mem *mem);
/* DYTCL_OK, or the error of a queued host GEMM that found its buffers'
 * storage moved and computed nothing (gemm_host.c; checked at each host
 * GEMM and where the queue is waited for). */
dytcl_status dy_gemm_fault(dytcl_ctx *ctx);
/* Releases what CLBlast built for ctx's GEMMs (ops_linear.c; dytcl_ctx_free). */
void dy_gemm_release(dytcl_ctx *ctx);

struct dytcl_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    dytcl_device_info info;
    size_t max_items[3];        /* CL_DEVICE_MAX_WORK_ITEM_SIZES */

    dy_prog progs[DY_PROG_SLOTS];   /* [program][variant] */
    dy_kernel kernels[DY_MAX_KERNELS];
    int nkernels;

    dytcl_buf *workspace[DY_WORKSPACES]; /* grown on demand; see dy_workspace */
    /* The RoPE table in DY_WS_ROPE: positions base .. base + n - 1 for theta
     * and head size D (n = 0: none). */
    struct {
        float theta;
        int D;
        int64_t base, n;
    } rope;

    char cache_dir[1024];       /* "" when the cache is off */
    /* Kernels that come in a CPU shape (a row per work-item) and a GPU shape
     * (columns or a row per work-group) pick by device type; DYTCL_KERNEL_SHAPE
     * = rows | groups forces one (tests run both on any device). */
    int row_shape;              /* -1 until dy_row_shape decides */
    int knobs;                  /* the programs' tuning set (program.c): CPU or GPU, by device type or
                                 * DYTCL_KERNEL_SHAPE; DYTCL_KNOBS = cpu | gpu forces one */
    int probed, loop_limit;     /* probe.c: 0 = loops run to the end */
    int gemm_ready;             /* CLBlast parameters applied (ops_linear.c) */
    int gemm_path_opt;          /* dytcl_ctx_options.gemm_path */
    int gemm_path;              /* DYTCL_GEMM_*: 0 until the first GEMM decides (gemm_host.c) */
    /* The host path's queued form (gemm_host.c): 0, mapped; else products
     * cut in up to this many parts, part i > 0 on gemm_queues[i]. */
    int gemm_parts;
    cl_command_queue gemm_queues[DY_GEMM_PARTS];
    volatile int gemm_fault;    /* a queued part found no storage for a buffer (dy_gemm_fault) */
    uint64_t allocated;         /* bytes of live buffers */
    int host_memory, host_memory_known; /* buffers live in host memory (memory.c) */
    dytcl_ctx_stats stats;

    int profiling;              /* between profile_begin and profile_end */
    cl_event events[2];         /* the span's first and latest kernel */
    int nevents;
    /* Profiling clock (timer.c): events unless the check found them
     * implausible (or DYTCL_TIMER=host): then the host clock around clFinish. */
    int timer_checked, timer_host;
    dytcl_timer_info timer;
    double span_t0_ms;          /* host clock at profile_begin */

    char err[DY_ERRLEN];
};

struct dytcl_buf {
    dytcl_ctx *ctx;
    cl_mem mem;
    size_t bytes;
    float *storage;             /* the host GEMM's queued form: where native kernels see the
                                 * buffer (gemm_host.c); NULL until its first product */
};

/* ---- errors (error.c) */

/* Records the message (printf-style) on ctx, or in the thread's message when
 * ctx is NULL, and returns `s`, so that `return dy_fail(...)` reads well. */
dytcl_status dy_fail(dytcl_ctx *ctx, dytcl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* "CL_OUT_OF_RESOURCES" etc. */
const char *dy_cl_error_name(cl_int err);
/* Maps an OpenCL error from `what` to a status and a message. */
dytcl_status dy_cl_fail(dytcl_ctx *ctx, cl_int err, const char *what);
void dy_clear_error(dytcl_ctx *ctx);

/* ---- devices (device.c) */

/* The flat device list: up to `cap` ids and their platforms. */
dytcl_status dy_device_ids(cl_platform_id *plats, cl_device_id *devs, int cap, int *count);
void dy_device_query(cl_platform_id p, cl_device_id d, int index, dytcl_device_info *out);

/* ---- programs and kernels (program.c, cache.c) */

/* Builds (or loads from the cache) program `id` and returns kernel `name`
 * from it, created once per context. Name kernels through the build's list,
 * dy_kernel_get(ctx, DY_KERNEL(COPY, copy), &k) or DY_KNAME(COPY,
 * copy), never by a string: a name cl/copy.cl does not define then
 * fails to compile. */
dytcl_status dy_kernel_get(dytcl_ctx *ctx, dy_prog_id id, const char *name, dy_kernel **out);
/* The same kernel from the program built for tensors stored as `dt`
 * (LOAD/STORE in cl/common.cl): dy_kernel_get_dt(ctx, DY_KERNEL(DYT, add),
 * x.dtype, &k). dy_kernel_get is dy_kernel_get_dt(..., DYTCL_F32, ...). */
dytcl_status dy_kernel_get_dt(dytcl_ctx *ctx, dy_prog_id id, const char *name, dytcl_dtype dt, dy_kernel **out);
/* A converting kernel: reads `from` (DT), writes `to` (DT_OUT). */
dytcl_status dy_kernel_get_conv(dytcl_ctx *ctx, dy_prog_id id, const char *name, dytcl_dtype from,
                                dytcl_dtype to, dy_kernel **out);

/* The tuning sets (program.c, knob_sets): 0 = cpu, 1 = gpu. */
#define DY_KNOB_SETS 2
#define DY_OPTIONS_MAX 256
const char *dy_knob_name(int knobs);
/* Exactly what the library hands to clCreateProgramWithSource and
 * clBuildProgram for program `id` (not DY_PROG_COMMON, which is in every
 * one) in storage variant `variant` with tuning set `knobs`: *src (malloc'd,
 * the caller frees) and `options` (cap >= DY_OPTIONS_MAX). Returns 1, or 0
 * when an argument is out of range or memory ran out. The library builds
 * with it, and so does tests/gpu_sources.c, which writes every program the
 * library can build for `make test-gpu-compile`. */
int dy_program_text(dy_prog_id id, int variant, int knobs, char **src, char *options, size_t cap);

/* Builds arbitrary source (for tests and the tuner). The caller releases. */
dytcl_status dy_program_build_source(dytcl_ctx *ctx, const char *src, const char *options,
                                     cl_program *out);

/* The cache: load returns 1 and sets *prog on a valid hit, else 0. */
int dy_cache_load(dytcl_ctx *ctx, const char *key, cl_program *prog, size_t *size_now);
dytcl_status dy_cache_save(dytcl_ctx *ctx, const char *key, cl_program prog);
void dy_cache_key(const dytcl_ctx *ctx, const char *src, const char *options, char out[80]);

/* ---- launching (launch.c) */

/* Sets argument i from a value of `size` bytes. */
dytcl_status dy_arg(dytcl_ctx *ctx, dy_kernel *k, cl_uint i, size_t size, const void *value);
/* Enqueues k over `global` work-items (each rounded up to a multiple of
 * `local`; kernels guard their tails). local may be NULL for 1-D kernels:
 * then a local size is chosen from device and kernel queries. */
dytcl_status dy_launch(dytcl_ctx *ctx, dy_kernel *k, cl_uint dims, const size_t *global,
                       const size_t *local);
/* The same, starting at a global offset (NULL: 0). */
dytcl_status dy_launch_at(dytcl_ctx *ctx, dy_kernel *k, cl_uint dims, const size_t *offset,
                          const size_t *global, const size_t *local);
/* Launches `body` (a kernel without a bounds check in dimension 0) over the
 * whole work-groups that fit in global[0], and `tail` (the same kernel with
 * the check) over the rest. PoCL vectorises the work-item loop only when a
 * kernel has no bounds check; GPUs do not mind either way. Both kernels must
 * have the same arguments set. */
dytcl_status dy_launch_split(dytcl_ctx *ctx, dy_kernel *body, dy_kernel *tail, cl_uint dims,
                             const size_t *global, const size_t *local);
/* The local size for a streaming 1-D kernel on this device. */
size_t dy_local_1d(const dytcl_ctx *ctx, const dy_kernel *k);

/* ---- run-time probes (probe.c) */

/* The number of loop iterations after which the device silently ends a
 * work-item's loops (all of them together), 0 when there is none. */
int dy_loop_limit(dytcl_ctx *ctx);
/* 1: kernels that come in two shapes take the row-per-work-item one. */
int dy_row_shape(dytcl_ctx *ctx);
/* 1 when a work-item may run `iterations` loop iterations on this device. */
int dy_loops_fit(dytcl_ctx *ctx, double iterations);

/* ---- clocks: dytcl_now_ms (dytcl.h, timer.c) */

/* ---- workspace (buffer.c) */

/* Device scratch memory owned by the context: slot `slot` (< DY_WORKSPACES)
 * holds at least `bytes`. The memory is reused by the next op, so an op must
 * not expect it to survive. */
dytcl_status dy_workspace(dytcl_ctx *ctx, int slot, size_t bytes, cl_mem *out);
/* Keeps a kernel's event for the profiling span (takes ownership). */
void dy_keep_event(dytcl_ctx *ctx, cl_event ev);

/* ---- argument checks shared by ops */

/* t is a valid f32 view inside its buffer (dy_check_tensor), or a valid
 * view whose dtype is one of the mask DY_DT(a) | DY_DT(b) ... */
#define DY_DT(dtype) (1u << (unsigned)(dtype))
#define DY_DT_ALL (DY_DT(DYTCL_F32) | DY_DT(DYTCL_F16) | DY_DT(DYTCL_BF16))
dytcl_status dy_check_tensor(dytcl_ctx *ctx, dytcl_tensor t, const char *name);
dytcl_status dy_check_tensor_dt(dytcl_ctx *ctx, dytcl_tensor t, const char *name, unsigned dtypes);

#define DY_CHECK_CTX(ctx)                                                              \
    do {                                                                               \
        if (!(ctx)) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "%s: ctx is NULL", __func__); \
    } while (0)

#endif
