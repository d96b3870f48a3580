/* dytcl.h -- the op library's public header (the model library's is
 * dytcl_model.h, on top of this one). Its calls are the stable API; hooks
 * for benchmarks and tests are in dytcl_experimental.h, which may change in
 * any version.
 *
 * dytcl runs transformer training and inference on any OpenCL 1.2 device, with
 * Dynamic Tanh (DyT, y = gamma * tanh(alpha * x) + beta) as a first-class
 * replacement for LayerNorm and RMSNorm.
 *
 * Conventions
 *   - Every call returns a dytcl_status. DYTCL_OK is 0; anything else is an error
 *     whose details (OpenCL error name, the compiler's build log, the argument
 *     that was wrong) are in dytcl_last_error(ctx).
 *   - The library never prints, never exits and never aborts on a caller's
 *     mistake, and it frees everything it allocated on every error path.
 *   - Handles are opaque; create/free pairs. free(NULL) is a no-op.
 *   - A context is not thread-safe: use one context per thread.
 *   - Tensors are row-major views (buffer, element offset, shape, storage
 *     dtype: f32, f16 or bf16); the math is float32 whatever the storage.
 *   - Work is enqueued asynchronously; dytcl_buf_read() and dytcl_finish()
 *     synchronise.
 *   - Argument order: ctx first; then the tensors an op writes, then those it
 *     reads (dst before src, as memcpy); a created handle or a value read
 *     back to the host comes last, as a pointer (dytcl_buf_create(ctx,
 *     bytes, &buf), dytcl_ctx_create(opt, &ctx), dytcl_profile_end(ctx, &ns)).
 *   - A backward's `accumulate` (0: overwrite, 1: add into) follows the
 *     gradient outputs it applies to (DyT: inside dytcl_dyt_grads with them).
 */
#ifndef DYTCL_H
#define DYTCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Public symbols are the only ones the shared library exports. */
#if defined(DYTCL_BUILDING) && defined(__GNUC__)
#define DYTCL_API __attribute__((visibility("default")))
#else
#define DYTCL_API
#endif

#define DYTCL_VERSION_MAJOR 0
#define DYTCL_VERSION_MINOR 1
#define DYTCL_VERSION_PATCH 0
/* The library version, "MAJOR.MINOR.PATCH". */
DYTCL_API const char *dytcl_version(void);

/* ---------------------------------------------------------------- status */

typedef enum {
    DYTCL_OK = 0,
    DYTCL_ERR_INVALID_ARG,   /* a NULL, a bad shape, an offset past a buffer */
    DYTCL_ERR_NO_DEVICE,     /* no OpenCL platform/device, or none matched */
    DYTCL_ERR_HOST_MEMORY,   /* malloc failed */
    DYTCL_ERR_DEVICE_MEMORY, /* larger than the device allows, or it ran out */
    DYTCL_ERR_BUILD,         /* an OpenCL program failed to compile */
    DYTCL_ERR_OPENCL,        /* any other OpenCL error */
    DYTCL_ERR_IO,            /* a file could not be read or written */
    DYTCL_ERR_FORMAT,        /* a file is corrupt or not what it claims */
    DYTCL_ERR_UNSUPPORTED,   /* the device lacks what the call needs */
    DYTCL_ERR_CALL_ORDER,    /* a call out of order: a read before what it reads was computed,
                                decoding calls outside a decoding session, ... */
    DYTCL_STATUS_COUNT
} dytcl_status;

/* "DYTCL_OK", "DYTCL_ERR_INVALID_ARG", ...; "DYTCL_STATUS_UNKNOWN" otherwise. */
DYTCL_API const char *dytcl_status_name(dytcl_status s);

/* ------------------------------------------------------------- devices */

typedef struct {
    int index;                  /* position in the flat list over all platforms */
    char platform[128];         /* platform name */
    char platform_version[128];
    char name[128];             /* device name */
    char vendor[128];
    char driver_version[128];
    char device_version[128];   /* "OpenCL 3.0 ..." */
    char c_version[64];         /* "OpenCL C 1.2 ..." */
    int is_gpu, is_cpu;
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem;        /* bytes */
    uint64_t local_mem;         /* bytes; in a context, capped like max_work_group */
    int local_mem_is_scratchpad;/* 1: dedicated on-chip memory; 0: emulated in global */
    uint64_t max_alloc;         /* bytes: CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    size_t max_work_group;      /* in a context: the smaller of this and any cap set (see options) */
    unsigned mem_base_align;    /* bytes: CL_DEVICE_MEM_BASE_ADDR_ALIGN / 8 */
    int fp16, fp64, subgroups;  /* extensions present */
    unsigned preferred_vector_float;
    uint64_t timer_resolution_ns; /* CL_DEVICE_PROFILING_TIMER_RESOLUTION (0 on some drivers) */
} dytcl_device_info;

/* Lists every device of every platform as one flat list. Fills at most `cap`
 * entries of `out` (which may be NULL when cap is 0) and sets *count to the
 * total. With no OpenCL platform installed this returns DYTCL_ERR_NO_DEVICE,
 * and dytcl_last_error(NULL) says how to install one. */
DYTCL_API dytcl_status dytcl_devices(dytcl_device_info *out, int cap, int *count);

/* ------------------------------------------------------------- context */

typedef struct dytcl_ctx dytcl_ctx;

typedef struct {
    /* Which device: NULL or "" means the environment variable DYTCL_DEVICE,
     * and when that is unset too, the first GPU, else the first CPU device,
     * else the first device. A string of digits is an index into
     * dytcl_devices(); anything else is a case-insensitive substring of
     * "platform name / device name". */
    const char *device;
    /* Directory of the compiled-program cache. NULL: $DYTCL_CACHE_DIR, else
     * $XDG_CACHE_HOME/dytcl, else $HOME/.cache/dytcl. */
    const char *cache_dir;
    /* 1: do not read or write the program cache (also DYTCL_NO_CACHE=1). */
    int no_cache;
    /* Caps below the device's own limits on the work-group size and local
     * memory (bytes) that the library's kernels may use; 0: none, unless
     * DYTCL_MAX_WORK_GROUP / DYTCL_MAX_LOCAL_MEM are set. Every op then picks
     * a kernel shape that fits, as it does on a device with such limits;
     * tests use this to run every op as a small device would. */
    size_t max_work_group;
    size_t max_local_mem;
    /* Who computes GEMMs (dytcl_gemm_path): AUTO (0) means the environment
     * variable DYTCL_GEMM=clblast|host, and when that is unset too, the host
     * BLAS on CPU devices whose buffers are host memory, CLBlast elsewhere. */
    int gemm_path;
} dytcl_ctx_options;

/* Creates a context on one device with one in-order, profiling-enabled queue.
 * `opt` may be NULL for defaults. On failure *out is NULL and
 * dytcl_last_error(NULL) holds the message (per thread). */
DYTCL_API dytcl_status dytcl_ctx_create(const dytcl_ctx_options *opt, dytcl_ctx **out);

/* Waits for queued work, saves newly compiled programs to the cache, frees. */
DYTCL_API void dytcl_ctx_free(dytcl_ctx *ctx);

/* The message of the last failed call on ctx (or, with ctx NULL, of the last
 * failed dytcl_ctx_create / dytcl_devices on this thread). "" when none. */
DYTCL_API const char *dytcl_last_error(const dytcl_ctx *ctx);

/* The facts of the context's device into *out. */
DYTCL_API dytcl_status dytcl_ctx_device(const dytcl_ctx *ctx, dytcl_device_info *out);

/* What the context adapts to on its device, as lines of text: the limits it
 * uses, the loop limit found by its probe, the kernel shape each op family
 * takes, the profiling clock and the GEMM parameters. Runs the probes. */
DYTCL_API dytcl_status dytcl_ctx_describe(dytcl_ctx *ctx, char *out, size_t cap);

/* Blocks until everything enqueued on the context has finished. */
DYTCL_API dytcl_status dytcl_finish(dytcl_ctx *ctx);

/* Counters that make the program cache observable. */
typedef struct {
    int programs_compiled;      /* built from source in this context */
    int programs_from_cache;    /* loaded from the on-disk cache */
    int programs_saved;         /* written to the cache (so far) */
    double build_ms;            /* wall time spent creating + building programs */
    int kernels_launched;
} dytcl_ctx_stats;
/* The context's counters so far into *out. */
DYTCL_API dytcl_status dytcl_ctx_get_stats(const dytcl_ctx *ctx, dytcl_ctx_stats *out);

/* Writes every program compiled or extended since it was loaded to the cache
 * now (dytcl_ctx_free does this too). Call it after the kernels have been
 * launched once at their real sizes: some drivers (PoCL) compile per launch
 * size, and the saved binary then carries that work. */
DYTCL_API dytcl_status dytcl_ctx_save_cache(dytcl_ctx *ctx);

/* ------------------------------------------------------------- buffers */

typedef struct dytcl_buf dytcl_buf;

/* Allocates `bytes` of device memory. Fails with DYTCL_ERR_DEVICE_MEMORY,
 * naming the sizes, when one allocation exceeds the device's maximum, or
 * more than dytcl_ctx_memory_room allows: no allocation reaches the driver
 * that the device, or on a host-memory device the process, cannot hold. */
DYTCL_API dytcl_status dytcl_buf_create(dytcl_ctx *ctx, size_t bytes, dytcl_buf **out);
/* How many more bytes of buffers ctx can allocate now, into *bytes: the
 * device's global memory less what the context holds; on a device whose
 * buffers live in host memory (a CPU device such as PoCL) also at most what
 * the process can still get: its address-space limit (RLIMIT_AS) less what
 * it has mapped, and the machine's available memory (MemAvailable), less
 * the context's own buffers that the driver may not have backed with pages
 * yet, and a margin for the driver. why[cap] (may be NULL) names the bound
 * that decided, for messages ("the address-space limit (ulimit -v)", ...). */
DYTCL_API dytcl_status dytcl_ctx_memory_room(dytcl_ctx *ctx, uint64_t *bytes, char *why, size_t cap);
/* Frees a buffer (NULL is ignored); queued kernels keep it alive until they finish. */
DYTCL_API void dytcl_buf_free(dytcl_buf *buf);
/* The buffer's size in bytes. */
DYTCL_API size_t dytcl_buf_size(const dytcl_buf *buf);

/* Blocking host <-> device copies of `bytes` at byte `offset`. */
DYTCL_API dytcl_status dytcl_buf_write(dytcl_ctx *ctx, dytcl_buf *buf, size_t offset,
                             const void *src, size_t bytes);
/* Blocking copy of `bytes` at byte `offset` of buf into host memory dst. */
DYTCL_API dytcl_status dytcl_buf_read(dytcl_ctx *ctx, const dytcl_buf *buf, size_t offset,
                            void *dst, size_t bytes);

/* The underlying cl_mem (as void*, so this header needs no OpenCL headers),
 * for applications that enqueue their own OpenCL work on the same data. */
DYTCL_API void *dytcl_buf_cl_mem(const dytcl_buf *buf);

/* ------------------------------------------------------------- tensors */

#define DYTCL_MAX_DIMS 4

/* How a tensor's elements are stored. The math is float32 whatever the
 * storage: f16 (IEEE binary16) and bf16 (the top half of a float32) are
 * widened on load and rounded to nearest even once, at the store. f16 and
 * bf16 are taken by copy (which converts between any two) and fill; by the
 * activations (x, y, dy, dx, r, h; one dtype in a call) of add, the norms
 * (DyT, Derf, RMSNorm, LayerNorm and their residual forms), GELU, SwiGLU and
 * RoPE; by the output of dytcl_embedding_forward and the dout of its
 * backward; and by W in dytcl_linear_forward. Everything else is f32:
 * parameters and their gradients, saved statistics (rstd, mean, lse), and
 * every tensor of the other ops. Any other dtype is DYTCL_ERR_INVALID_ARG
 * naming the tensor. */
typedef enum { DYTCL_F32 = 0, DYTCL_F16 = 1, DYTCL_BF16 = 2, DYTCL_Q8 = 3 } dytcl_dtype;
/* DYTCL_Q8 (inference weights, docs/quantization.md): a [N, K] matrix, K a
 * multiple of 32, in blocks of 32 weights along K, w ~= q * scale with q an
 * int8 in [-127, 127] and scale = max|w| / 127 of the block. A Q8 view is
 * two planes in one buffer: the quants, int8 [N, K], from byte `offset`
 * (a multiple of 4), then straight after them the scales, float32
 * [N, K / 32] (dytcl_q8_bytes in all). Only dytcl_linear_forward's W takes
 * it; every other op refuses it naming the tensor.
 * Bytes per element: 4, 2, 2, and for Q8 1 (the quant; the scales add
 * 1/8 byte per weight); 0 for a value that is not a dytcl_dtype. */
DYTCL_API size_t dytcl_dtype_size(dytcl_dtype dt);
/* "f32", "f16", "bf16", "q8"; "unknown" otherwise. */
DYTCL_API const char *dytcl_dtype_name(dytcl_dtype dt);
/* Host conversions (host/half.c): x rounded to nearest even into f16 or bf16
 * bits (f16 past 65504: +-inf; NaN stays NaN), and such bits widened to
 * float (exact). Any other dt gives 0. */
DYTCL_API uint16_t dytcl_half_from_float(float x, dytcl_dtype dt);
DYTCL_API float dytcl_half_to_float(uint16_t h, dytcl_dtype dt);

/* A row-major view: element `offset` of `buf`, then shape[0..ndim), each
 * element stored as `dtype` (DYTCL_F32 when zero-initialised). Views are
 * plain values; they own nothing. */
typedef struct {
    dytcl_buf *buf;
    size_t offset;              /* in elements of dtype */
    int ndim;
    int64_t shape[DYTCL_MAX_DIMS];
    dytcl_dtype dtype;
} dytcl_tensor;

/* dytcl_tensor_1d(buf, off, n) and dytcl_tensor_2d build f32 views
 * (dytcl_tensor_as reads them as another dtype). */
DYTCL_API dytcl_tensor dytcl_tensor_1d(dytcl_buf *buf, size_t offset, int64_t n);
/* A [rows, cols] view of buf from element offset. */
DYTCL_API dytcl_tensor dytcl_tensor_2d(dytcl_buf *buf, size_t offset, int64_t rows, int64_t cols);
/* The number of elements of a view (the product of its shape). */
DYTCL_API int64_t dytcl_tensor_numel(dytcl_tensor t);
/* The same view with its elements read as dtype (offset and shape unchanged,
 * both in elements of the new dtype). */
DYTCL_API dytcl_tensor dytcl_tensor_as(dytcl_tensor t, dytcl_dtype dtype);

/* Q8 matrices on the host (host/ops_q8.c), in the layout a Q8 view reads:
 * the int8 quants [rows, cols], then the float32 scales [rows, cols / 32]
 * (native byte order). dytcl_q8_bytes: the bytes of that, rows * cols *
 * 9 / 8; 0 when cols is not a positive multiple of 32, rows is not
 * positive or the size passes SIZE_MAX. */
DYTCL_API size_t dytcl_q8_bytes(int64_t rows, int64_t cols);
/* w [rows, cols] float32 quantized into out (dytcl_q8_bytes of it): per
 * block of 32, scale = max|w| / 127 and q = w / scale rounded to nearest
 * (ties away from zero); a block of zeros has scale 0 and q 0. A weight
 * that is not finite, or cols not a multiple of 32, is
 * DYTCL_ERR_INVALID_ARG (message in dytcl_last_error(NULL)). */
DYTCL_API dytcl_status dytcl_q8_quantize(const float *w, int64_t rows, int64_t cols, void *out);
/* The inverse view: w [rows, cols] = q * scale (float32 products). */
DYTCL_API dytcl_status dytcl_q8_dequantize(const void *in, int64_t rows, int64_t cols, float *w);

/* ---------------------------------------------------------- profiling */

/* The host clock (CLOCK_MONOTONIC) in milliseconds: the one every host-side
 * timing in dytcl, its programs and its benchmarks reads. */
DYTCL_API double dytcl_now_ms(void);

/* Everything enqueued between begin and end is timed: *ns is the span from
 * the first kernel's start to the last kernel's end, as the device's
 * profiling events saw it. end waits for the work. Some drivers report
 * impossible event times (every command 1 ns); the first begin checks the
 * events against the host clock (dytcl_timer_check, dytcl_experimental.h),
 * and where they fail, begin and end wait for the queue and *ns is host wall
 * time instead. */
DYTCL_API dytcl_status dytcl_profile_begin(dytcl_ctx *ctx);
/* Waits for the span's work and writes its duration to *ns. */
DYTCL_API dytcl_status dytcl_profile_end(dytcl_ctx *ctx, double *ns);

/* ------------------------------------------------------------ basic ops */

/* dst = src, elementwise over numel elements (shapes may differ; counts must
 * match), converting when the dtypes differ. The device's copy-bandwidth
 * reference for benchmarks. dst == src (the same elements, the same dtype)
 * does nothing; a partial overlap is refused. */
DYTCL_API dytcl_status dytcl_copy(dytcl_ctx *ctx, dytcl_tensor dst, dytcl_tensor src);

/* dst[:] = value. */
DYTCL_API dytcl_status dytcl_fill(dytcl_ctx *ctx, dytcl_tensor dst, float value);

/* Runs a kernel on the context's device and checks its result against the
 * host: a short self-test for `dytcl devices`. */
DYTCL_API dytcl_status dytcl_selftest(dytcl_ctx *ctx);

/* ------------------------------------------- safetensors files (host/safetensors.c)
 *
 * Checkpoints and weights are .safetensors files of F32, F16 or BF16
 * tensors, with string metadata; the reader hands every such tensor over as
 * float32, whatever the file stores. I8 tensors (the quants of Q8 matrices)
 * are handed over as they are (dytcl_st_tensor.i8). Loading checks everything against the file and refuses a
 * corrupt, truncated or hostile file with DYTCL_ERR_FORMAT (the message,
 * from dytcl_last_error(NULL), names the problem). Saving is atomic: a
 * temporary file, flushed to disk, renamed over the target. These calls use
 * no device and no context.
 */
typedef struct dytcl_st_file dytcl_st_file;

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[DYTCL_MAX_DIMS];
    size_t numel;
    const float *data;   /* loading: points into the dytcl_st_file (may be unaligned
                            only if the file is; copy before SIMD use); NULL for I8 */
    size_t bytes;        /* of data: numel * 4 (I8: of i8, numel) */
    dytcl_dtype dtype;   /* loading: how the file stores it (F16 and BF16 are widened
                            to data on load); saving: how to write it (rounded to
                            nearest even); F32 when zero. DYTCL_Q8 stands for the
                            file's I8 (a Q8 matrix's quants): never widened, handed
                            over and written as i8 */
    const int8_t *i8;    /* DYTCL_Q8 (I8) only: numel int8 values, as stored; NULL otherwise */
} dytcl_st_tensor;

/* Reads and checks a .safetensors file whole into *out. */
DYTCL_API dytcl_status dytcl_st_load(const char *path, dytcl_st_file **out);
/* The same from `size` bytes in memory. */
DYTCL_API dytcl_status dytcl_st_parse(const void *bytes, size_t size, dytcl_st_file **out);
/* Frees a loaded file (NULL is ignored). */
DYTCL_API void dytcl_st_free(dytcl_st_file *f);
/* The number of tensors in the file. */
DYTCL_API int dytcl_st_count(const dytcl_st_file *f);
/* Tensor number i (0 <= i < dytcl_st_count) into *out. */
DYTCL_API dytcl_status dytcl_st_tensor_at(const dytcl_st_file *f, int i, dytcl_st_tensor *out);
/* The tensor called name into *out; DYTCL_ERR_FORMAT when there is none. */
DYTCL_API dytcl_status dytcl_st_get(const dytcl_st_file *f, const char *name, dytcl_st_tensor *out);
/* The metadata string for key, or NULL. */
DYTCL_API const char *dytcl_st_metadata(const dytcl_st_file *f, const char *key);
/* Writes n tensors (name, ndim, shape, numel, data, dtype) and nmeta
 * key/value pairs (meta[2i], meta[2i+1]). */
DYTCL_API dytcl_status dytcl_st_save(const char *path, const dytcl_st_tensor *tensors, int n,
                                     const char *const *meta, int nmeta);

/* ------------------ normalisation layers (host/ops_dyt.c, host/ops_rmsnorm.c)
 *
 * x, y: [rows, C], rows = every dimension but the last (channels last), or,
 * with DYTCL_CHANNELS_FIRST, [N, C, H, W] with the channel in dim 1 (DyT and
 * Derf only). Parameters are tensors on the device: alpha and shift are [1],
 * weight and bias are [C]. A tensor whose .buf is NULL is absent.
 *
 *   DyT        y = weight * tanh(alpha * x) + bias
 *   Derf       y = weight * erf(alpha * x + shift) + bias
 *   RMSNorm    y = weight * x * rstd,                 rstd = 1/sqrt(mean(x^2) + eps)
 *   LayerNorm  y = weight * (x - mean) * rstd + bias, rstd = 1/sqrt(var(x) + eps)
 *
 * Backward passes take dy and the forward's inputs (and saved statistics),
 * write dx, and write (accumulate = 0) or add into (accumulate = 1) the
 * parameter gradients; a gradient tensor whose .buf is NULL is not computed.
 * Reductions are deterministic: the same inputs give the same bits. dx may
 * alias dy. Temporary memory comes from a workspace the context owns.
 * In place: DyT/Derf forward's y may be x itself (the same elements); any
 * other overlap of y with x or the parameters, and LayerNorm's y, mean and
 * rstd over each other or the inputs, return DYTCL_ERR_INVALID_ARG.
 */
typedef enum { DYTCL_CHANNELS_LAST = 0, DYTCL_CHANNELS_FIRST = 1 } dytcl_layout;

typedef struct {
    dytcl_tensor alpha;   /* [1] */
    dytcl_tensor shift;   /* [1], Derf only */
    dytcl_tensor weight;  /* [C] or absent (gamma = 1) */
    dytcl_tensor bias;    /* [C] or absent (beta = 0) */
    dytcl_layout layout;
} dytcl_dyt_params;

typedef struct {
    dytcl_tensor dalpha;  /* [1] */
    dytcl_tensor dshift;  /* [1], Derf only */
    dytcl_tensor dweight; /* [C] */
    dytcl_tensor dbias;   /* [C] */
    int accumulate;       /* 1: add into the gradients instead of overwriting */
} dytcl_dyt_grads;

/* y = weight * tanh(alpha * x) + bias. */
DYTCL_API dytcl_status dytcl_dyt_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x,
                                         const dytcl_dyt_params *p);
/* DyT's dx, and its parameter gradients into g. */
DYTCL_API dytcl_status dytcl_dyt_backward(dytcl_ctx *ctx, dytcl_tensor dx, const dytcl_dyt_grads *g,
                                          dytcl_tensor dy, dytcl_tensor x, const dytcl_dyt_params *p);
/* y = weight * erf(alpha * x + shift) + bias. */
DYTCL_API dytcl_status dytcl_derf_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x,
                                          const dytcl_dyt_params *p);
/* Derf's dx, and its parameter gradients into g. */
DYTCL_API dytcl_status dytcl_derf_backward(dytcl_ctx *ctx, dytcl_tensor dx, const dytcl_dyt_grads *g,
                                           dytcl_tensor dy, dytcl_tensor x, const dytcl_dyt_params *p);

/* rstd (and mean): [rows], saved for the backward pass. */
DYTCL_API dytcl_status dytcl_rmsnorm_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor rstd,
                                             dytcl_tensor x, dytcl_tensor weight, float eps);
/* RMSNorm's dx and dweight (accumulate: add into dweight). */
DYTCL_API dytcl_status dytcl_rmsnorm_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dweight,
                                              int accumulate, dytcl_tensor dy, dytcl_tensor x,
                                              dytcl_tensor rstd, dytcl_tensor weight);
/* y = weight * (x - mean) * rstd + bias, saving mean and rstd [rows]. */
DYTCL_API dytcl_status dytcl_layernorm_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor mean,
                                               dytcl_tensor rstd, dytcl_tensor x, dytcl_tensor weight,
                                               dytcl_tensor bias, float eps);
/* LayerNorm's dx, dweight and dbias (accumulate: add into them). */
DYTCL_API dytcl_status dytcl_layernorm_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dweight,
                                                dytcl_tensor dbias, int accumulate, dytcl_tensor dy,
                                                dytcl_tensor x, dytcl_tensor mean, dytcl_tensor rstd,
                                                dytcl_tensor weight);

/* Residual stream + norm in one pass (pre-norm blocks):
 *   forward:  r_out = r + h;  y = norm(r_out)        (r_out may alias r)
 *   backward: d = dr_out + dnorm/dr_out(dy): the gradient of both r and h
 *             (d may alias dr_out); r_out is the forward's r_out. */
DYTCL_API dytcl_status dytcl_residual_dyt_forward(dytcl_ctx *ctx, dytcl_tensor r_out, dytcl_tensor y,
                                                  dytcl_tensor r, dytcl_tensor h,
                                                  const dytcl_dyt_params *p);
/* d = dr_out + the DyT backward of dy at r_out; parameter gradients into g. */
DYTCL_API dytcl_status dytcl_residual_dyt_backward(dytcl_ctx *ctx, dytcl_tensor d,
                                                   const dytcl_dyt_grads *g, dytcl_tensor dy,
                                                   dytcl_tensor dr_out, dytcl_tensor r_out,
                                                   const dytcl_dyt_params *p);
/* r_out = r + h; y = rmsnorm(r_out), saving rstd. */
DYTCL_API dytcl_status dytcl_residual_rmsnorm_forward(dytcl_ctx *ctx, dytcl_tensor r_out, dytcl_tensor y,
                                                      dytcl_tensor rstd, dytcl_tensor r, dytcl_tensor h,
                                                      dytcl_tensor weight, float eps);
/* d = dr_out + the RMSNorm backward of dy at r_out; dweight (+)= its gradient. */
DYTCL_API dytcl_status dytcl_residual_rmsnorm_backward(dytcl_ctx *ctx, dytcl_tensor d,
                                                       dytcl_tensor dweight, int accumulate,
                                                       dytcl_tensor dy, dytcl_tensor dr_out,
                                                       dytcl_tensor r_out, dytcl_tensor rstd,
                                                       dytcl_tensor weight);

/* out = a + b, elementwise (out may alias a or b). */
DYTCL_API dytcl_status dytcl_add(dytcl_ctx *ctx, dytcl_tensor out, dytcl_tensor a, dytcl_tensor b);

/* Multiplication by a learnable scalar s [1] on the device (host/ops_scale.c):
 *   forward   y = s[0] * x                      (y may alias x)
 *   backward  dx = s[0] * dy (skipped when dx is absent; dx may alias dy),
 *             ds (+)= the sum of dy * x, in a fixed order (the same bits every run) */
DYTCL_API dytcl_status dytcl_scale_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor s);
/* dx = s * dy and ds (+)= sum(dy * x). */
DYTCL_API dytcl_status dytcl_scale_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor ds, int accumulate,
                                            dytcl_tensor dy, dytcl_tensor x, dytcl_tensor s);

/* y[r, :] = s[r] * x[r, :], x seen as [rows, numel / rows] with rows = the
 * elements of s (y may alias x; its own backward: dx = s[r] * dy[r, :]).
 * Stochastic depth scales each sample's residual branch by its mask so. */
DYTCL_API dytcl_status dytcl_scale_rows(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor s);

/* ------------------------------------------------ GEMM and linear layers (host/ops_linear.c)
 *
 * Row-major throughout. dytcl_gemm computes C = alpha * op(A) * op(B) + beta * C
 * through CLBlast (or the host's BLAS on CPU devices: dytcl_gemm_path), in place on the tensors' buffers at their offsets:
 *   A is [M, K], or [K, M] when trans_a;  B is [K, N], or [N, K] when trans_b;
 *   C is [M, N].
 * The batched form repeats it `batch` times, the i-th matrices starting
 * stride_a, stride_b, stride_c elements after the (i-1)-th (attention heads).
 *
 * Linear layers follow torch.nn.Linear: W is [out, in], b is [out] or absent,
 *   forward   y [rows, out] = x [rows, in] . W^T + b
 *   backward  dx [rows, in] = dy . W             (skipped when dx is absent)
 *             dW [out, in] (+)= dy^T . x,  db (+)= the column sums of dy
 * with accumulate = 1 adding into dW and db. On PoCL CPU devices, which
 * CLBlast's tuning database does not know, dytcl applies CPU-shaped GEMM
 * parameters. A shape's first GEMM compiles CLBlast kernels (seconds on a
 * cold cache): warm up before timing.
 */
DYTCL_API dytcl_status dytcl_gemm(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                                  dytcl_tensor A, dytcl_tensor B, float beta, dytcl_tensor C);
/* `batch` GEMMs, the i-th on A + i stride_a, B + i stride_b, C + i stride_c. */
DYTCL_API dytcl_status dytcl_gemm_batched(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K,
                                          float alpha, dytcl_tensor A, int64_t stride_a, dytcl_tensor B,
                                          int64_t stride_b, float beta, dytcl_tensor C, int64_t stride_c,
                                          int batch);
/* y = x W^T + b (b may be absent); W is [out, in]. W may be stored f16 or
 * bf16 (inference weights; x, y, b float32, the sums float32): up to 4 rows
 * read it as stored (a matrix-vector kernel), more widen it once into a
 * float32 workspace for the GEMM. W may be Q8 too (host/ops_q8.c): up to
 * 4 rows read the quants and scales as stored (a block-dequantizing
 * matrix-vector kernel), more dequantize W once into a float32 workspace
 * for the GEMM. The backward and the GEMMs take f32 only. */
DYTCL_API dytcl_status dytcl_linear_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor W,
                                            dytcl_tensor b);
/* dx = dy W, dW (+)= dy^T x, db (+)= the column sums of dy. */
DYTCL_API dytcl_status dytcl_linear_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dW, dytcl_tensor db,
                                             int accumulate, dytcl_tensor dy, dytcl_tensor x, dytcl_tensor W);

/* ------------------------------ linear layers: details, warm-up, GEMM tuning
 *                                (host/ops_linear.c, host/gemm_params.c, host/gemm_tune.c)
 *
 * Shapes and arguments of the calls above:
 *   - x may have any number of dimensions; its last is `in`, the others are
 *     the rows. y, dy, dx are checked by element count against [rows, out]
 *     and [rows, in]; b and db have `out` elements. Mismatches return
 *     DYTCL_ERR_INVALID_ARG with the shapes in dytcl_last_error().
 *   - dx is always overwritten; dx absent (.buf NULL) skips it; db absent
 *     skips it; dW is required. accumulate = 1 adds into dW and db.
 *   - A tensor a call writes must not overlap one it reads (same buffer,
 *     overlapping elements): DYTCL_ERR_INVALID_ARG.
 *   - db is reduced in a fixed order (sums over blocks of rows into the
 *     context's workspace, then over blocks): the same bits on every run.
 *     CLBlast allocates its own temporaries inside a GEMM when it pads.
 *   - CLBlast failures return DYTCL_ERR_OPENCL (or the OpenCL error CLBlast
 *     passed through) with the CLBlast status name in the message.
 *
 * Warm-up. The first GEMM of a process compiles CLBlast's GEMM program, and
 * the first launch of each kernel and size class compiles again on drivers
 * that specialise (PoCL: seconds). dytcl_gemm_warmup runs every transpose,
 * single and batched, at a size CLBlast gives its direct kernel and at one
 * it gives its tiled kernel; call it before timing. It is not called for
 * you: a program that does not time pays the compile at its first GEMM.
 */
DYTCL_API dytcl_status dytcl_gemm_warmup(dytcl_ctx *ctx);

/* Where GEMMs run (host/gemm_host.c). DYTCL_GEMM_HOST: the host's BLAS
 * (OpenBLAS through CBLAS, when the build found it) on the buffers' storage,
 * in queue order. Where the device runs native kernels (PoCL), a product is
 * enqueued like a kernel (clEnqueueNativeKernel): the call returns at once,
 * and a large product runs in chunks that the device's worker threads (one
 * per compute unit) share, OpenBLAS on one thread each; this sets
 * OpenBLAS's thread count to 1 for the process (openblas_set_num_threads).
 * DYTCL_GEMM_QUEUED=0, and devices without native kernels: the buffers are
 * mapped into host memory, the call waits for the queue to drain, computes
 * (on OpenBLAS's threads) and unmaps. On a CPU device with host-unified
 * memory (PoCL) the map copies nothing; on other devices it copies both ways
 * (correct, slow).
 * DYTCL_GEMM_CLBLAST: CLBlast kernels on the device. A context decides at its
 * first GEMM (see dytcl_ctx_options.gemm_path); forcing the host path in a
 * build without a host BLAS returns DYTCL_ERR_UNSUPPORTED there. */
typedef enum { DYTCL_GEMM_AUTO = 0, DYTCL_GEMM_CLBLAST = 1, DYTCL_GEMM_HOST = 2 } dytcl_gemm_path_t;
/* The path this context's GEMMs take (decided now if not yet). */
DYTCL_API dytcl_status dytcl_gemm_path(dytcl_ctx *ctx, dytcl_gemm_path_t *out);
/* "auto", "clblast", "host". */
DYTCL_API const char *dytcl_gemm_path_name(dytcl_gemm_path_t p);

/* On the host path (dytcl_gemm_path): a line naming the host BLAS. Else
 * which parameters CLBlast's SGEMM uses on this context's device, decided at
 * its first GEMM (or by this call), in this order:
 *   DYTCL_GEMM_DEFAULTS=1           CLBlast's own (its database or generic values)
 *   the device's tuning file        written by dytcl_gemm_tune / `dytcl tune gemm`
 *   a PoCL CPU device               parameters built into dytcl
 *   else                            CLBlast's own
 * The tuning file is <cache dir>/gemm-<digest>.txt, the digest covering the
 * platform, device and driver version (the cache directory follows the
 * program cache's rules: no file is read or written with DYTCL_NO_CACHE=1).
 * CLBlast keeps parameters per device for the whole process, so contexts on
 * one device share them. Writes a one-line description to out. */
DYTCL_API dytcl_status dytcl_gemm_config(dytcl_ctx *ctx, char *out, size_t cap);

/* A bounded search for faster SGEMM parameters on this device (each
 * candidate costs a CLBlast compile: seconds on PoCL). It starts from the
 * device's tuning file, or built-in parameters for its type, tries one change
 * at a time (tiles, work-items, vector widths, K step, local memory, the
 * direct kernel), checks each candidate's results against float64 and times
 * it at the given shape in NN, NT and TN, and keeps a change that is 2%
 * faster. It stops starting candidates after budget_seconds. The best set
 * stays in effect in this process and is written to the tuning file, unless
 * CLBlast's own parameters (measured first when this process has not yet
 * overridden them) were faster or no_save is set. */
typedef struct {
    double budget_seconds;     /* <= 0: 120 */
    int M, N, K;               /* the timed shape; 0: 1024, 3072, 768 */
    int reps;                  /* timed runs per transpose (the best counts); 0: 2 */
    int no_save;               /* 1: do not write the tuning file */
    void (*progress)(void *user, const char *line); /* one line per candidate; may be NULL */
    void *user;
} dytcl_gemm_tune_options;

typedef struct {
    double defaults_gflops;    /* CLBlast's own; 0 when not measured */
    double start_gflops;       /* the starting point */
    double best_gflops;
    int tried;                 /* candidates evaluated, including the start */
    double seconds;            /* the search's wall time */
    char best[1024];           /* "GEMMK=0 MWG=64 ... XGEMM_MIN_INDIRECT_SIZE=128" */
    char path[1200];           /* the tuning file written; "" when none */
} dytcl_gemm_tune_result;

/* Searches CLBlast GEMM parameters for this device; the best into *res and a tuning file. */
DYTCL_API dytcl_status dytcl_gemm_tune(dytcl_ctx *ctx, const dytcl_gemm_tune_options *opt,
                                       dytcl_gemm_tune_result *res);

/* -------------------------------------------- activations (host/ops_act.c)
 *
 *   GELU     y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (GPT-2's form)
 *   SwiGLU   y = silu(a) * b, silu(a) = a / (1 + exp(-a))          (a, b, y alike)
 *   RoPE     x is [B, T, H, D], D even; in every head the pair (x[2i], x[2i+1])
 *            at position p = t + pos_offset turns by the angle p * theta^(-2i/D)
 *            (the interleaved convention of the original RoFormer and of
 *            LLaMA's complex-number code; theta is usually 10000). The
 *            backward turns by the opposite angle. The cosines and sines
 *            come from a table the context computes in double precision
 *            (positions 0 .. a power of two, up to 16 MiB; past that, one for
 *            the call's positions), accurate to float rounding at any position.
 * Outputs may alias inputs. */
DYTCL_API dytcl_status dytcl_gelu_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x);
/* dx = dy * gelu'(x). */
DYTCL_API dytcl_status dytcl_gelu_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dy, dytcl_tensor x);
/* y = silu(a) * b. */
DYTCL_API dytcl_status dytcl_swiglu_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor a, dytcl_tensor b);
/* da and db from dy, a and b. */
DYTCL_API dytcl_status dytcl_swiglu_backward(dytcl_ctx *ctx, dytcl_tensor da, dytcl_tensor db, dytcl_tensor dy,
                                             dytcl_tensor a, dytcl_tensor b);
/* SwiGLU on the output of one fused gate|up projection: ab is [rows, 2H]
 * with a = ab[:, :H] and b = ab[:, H:]; y and dy are [rows, H] (rows = all
 * dimensions but the last). dab ([rows, 2H]) may alias ab. */
DYTCL_API dytcl_status dytcl_swiglu_packed_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor ab);
/* dab = the gradient of ab from dy. */
DYTCL_API dytcl_status dytcl_swiglu_packed_backward(dytcl_ctx *ctx, dytcl_tensor dab, dytcl_tensor dy,
                                                    dytcl_tensor ab);
/* y = x with every pair turned by its position's angle (pos_offset: the first position). */
DYTCL_API dytcl_status dytcl_rope_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, int pos_offset,
                                          float theta);
/* dx = dy turned back by the same angles. */
DYTCL_API dytcl_status dytcl_rope_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dy, int pos_offset,
                                           float theta);

/* ------------------------------------------ cross-entropy (host/ops_loss.c)
 *
 * logits [rows, V]; targets [rows] holds int32 token ids in its 4-byte
 * elements (-1: ignore the row). One pass per row writes loss [rows] and,
 * when dlogits is present, dlogits = (softmax - onehot) * grad_scale (0 for
 * ignored rows); grad_scale is usually 1 / (number of rows not ignored).
 * dlogits may alias logits. A target outside [0, V) other than -1 gives a
 * NaN loss for its row: never an out-of-bounds read. */
DYTCL_API dytcl_status dytcl_cross_entropy(dytcl_ctx *ctx, dytcl_tensor loss, dytcl_tensor dlogits,
                                           dytcl_tensor logits, dytcl_tensor targets, float grad_scale);
/* The same against smoothed targets q = (1 - smoothing) onehot + smoothing / V
 * (smoothing in [0, 1]; 0 is dytcl_cross_entropy): loss = -sum_v q[v] log
 * softmax[v], dlogits = (softmax - q) * grad_scale. */
DYTCL_API dytcl_status dytcl_cross_entropy_smoothed(dytcl_ctx *ctx, dytcl_tensor loss, dytcl_tensor dlogits,
                                                    dytcl_tensor logits, dytcl_tensor targets, float smoothing,
                                                    float grad_scale);
/* mean[0] = the mean of loss [rows] over the rows whose target is not -1
 * (0 when all are ignored), summed in a fixed order in one work-group: the
 * same bits every run. It stays on the device; read it when you need it. */
DYTCL_API dytcl_status dytcl_cross_entropy_mean(dytcl_ctx *ctx, dytcl_tensor mean, dytcl_tensor loss,
                                                dytcl_tensor targets);

/* ---------------------------------------------- optimiser (host/ops_optim.c)
 *
 * dytcl_grad_norm writes norm[0] = ||grads||_2 (a fixed-order sum: the same
 * bits every run) and, when scale is present, scale[0] = min(1, max_norm /
 * (norm + 1e-6)) (1 when max_norm <= 0): the clipping factor dytcl_adamw
 * reads from the device, so a training step needs no host round trip.
 *
 * dytcl_adamw updates params, m and v (all of one shape, usually the whole
 * flat parameter buffer; none may overlap another or grads, decay_mask,
 * grad_scale) at step >= 1 with
 *   g = grads * grad_scale[0]  (grad_scale absent: 1)
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr (m / (1 - b1^step) / (sqrt(v / (1 - b2^step)) + eps) + wd * mask * p)
 * where mask (decay_mask, 1 or 0 per element; absent: 1) turns weight decay
 * off for the parameters that should not decay. Non-finite hyperparameters
 * are refused. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} dytcl_adamw_config;

/* norm[0] = ||grads||_2 and, when scale is present, the clipping factor into scale[0]. */
DYTCL_API dytcl_status dytcl_grad_norm(dytcl_ctx *ctx, dytcl_tensor norm, dytcl_tensor scale, dytcl_tensor grads,
                                       float max_norm);
/* One AdamW update of params, m and v at step >= 1. */
DYTCL_API dytcl_status dytcl_adamw(dytcl_ctx *ctx, dytcl_tensor params, dytcl_tensor grads, dytcl_tensor m,
                                   dytcl_tensor v, dytcl_tensor decay_mask, dytcl_tensor grad_scale,
                                   const dytcl_adamw_config *cfg, int step);

/* ------------------------------------------- embeddings (host/ops_embed.c)
 *
 * tokens [B*T] holds int32 token ids in its 4-byte elements; wte is [V, C],
 * wpe [T, C] or absent (LLaMA: no learned positions); out is [B*T, C].
 *   forward   out[r] = wte[tokens[r]] (+ wpe[r % T])
 *   backward  dwte[v] (+)= the sum of dout over the rows whose token is v,
 *             dwpe[t] (+)= the sum of dout over the rows at position t
 * The backward is deterministic (rows are bucketed by token with exact
 * integer counts, then added in row order; no float atomics). A token id
 * outside [0, V) gives a NaN row forward and is skipped backward. */
DYTCL_API dytcl_status dytcl_embedding_forward(dytcl_ctx *ctx, dytcl_tensor out, dytcl_tensor tokens,
                                               dytcl_tensor wte, dytcl_tensor wpe, int T);
/* dwte and dwpe (+)= the sums of dout by token and by position. */
DYTCL_API dytcl_status dytcl_embedding_backward(dytcl_ctx *ctx, dytcl_tensor dwte, dytcl_tensor dwpe,
                                                int accumulate, dytcl_tensor dout, dytcl_tensor tokens, int T);

/* --------------------------------------------- attention (host/ops_attention.c)
 *
 * Multi-head attention: q, k, v, o are [B, H, T, D] (each head's rows
 * contiguous), D <= 128; lse [B, H, T] receives each query's log-sum-exp of
 * its scores (scale = 1/sqrt(D)) for the backward pass. Causal by default:
 * query t attends to keys 0..t. With DYTCL_ATTN_BIDIRECTIONAL or'ed into the
 * path (e.g. DYTCL_ATTN_AUTO | DYTCL_ATTN_BIDIRECTIONAL) every query attends
 * to all T keys, as in a vision encoder; pass the same mode to the backward.
 *   DYTCL_ATTN_GEMM   scores through CLBlast's batched GEMM and a softmax
 *                     kernel: fast for long rows, needs B*H*T*T floats of
 *                     workspace (twice in the backward, which recomputes them)
 *   DYTCL_ATTN_TILED  a work-item per query (per key in the backward) with an
 *                     online softmax: O(T) memory per head
 *   DYTCL_ATTN_AUTO   GEMM when T >= 64 and the scores fit a quarter of one
 *                     allocation, else tiled
 * Both paths give the same results to float rounding (the tests compare them
 * with each other and with a float64 reference). The outputs (o and lse;
 * dq, dk, dv) must overlap neither each other nor an input:
 * DYTCL_ERR_INVALID_ARG. */
typedef enum {
    DYTCL_ATTN_AUTO = 0,
    DYTCL_ATTN_GEMM = 1,
    DYTCL_ATTN_TILED = 2,
    DYTCL_ATTN_BIDIRECTIONAL = 16 /* a mode flag, or'ed into one of the paths above */
} dytcl_attn_path;

/* o = softmax(q k^T / sqrt(D)) v (causal unless bidirectional), and lse for the backward. */
DYTCL_API dytcl_status dytcl_attention_forward(dytcl_ctx *ctx, dytcl_tensor o, dytcl_tensor lse, dytcl_tensor q,
                                               dytcl_tensor k, dytcl_tensor v, dytcl_attn_path path);
/* Head layout. The QKV projection writes qkv [B, T, 3, H, D] (q, k, v side
 * by side in each row); attention reads q, k, v as [B, H, T, D] (the shape of
 * q gives B, H, T, D) and its output o goes back to y [B, T, H, D] for the
 * output projection. The _backward calls map the gradients the other way. */
DYTCL_API dytcl_status dytcl_heads_split(dytcl_ctx *ctx, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v,
                                         dytcl_tensor qkv);
/* dqkv from dq, dk, dv (the inverse of dytcl_heads_split). */
DYTCL_API dytcl_status dytcl_heads_split_backward(dytcl_ctx *ctx, dytcl_tensor dqkv, dytcl_tensor dq,
                                                  dytcl_tensor dk, dytcl_tensor dv);
/* dytcl_heads_split with RoPE turned on q and k in the same pass: what
 * dytcl_heads_split followed by dytcl_rope_forward on q and on k (each seen
 * as [B * H, T, 1, D]: head rows at positions pos_offset .. pos_offset + T -
 * 1) computes, without writing q and k twice. D even, theta > 1; q, k, v
 * must not overlap qkv. float32. */
DYTCL_API dytcl_status dytcl_heads_split_rope(dytcl_ctx *ctx, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v,
                                              dytcl_tensor qkv, int pos_offset, float theta);
/* Its backward: dqkv from dq, dk (RoPE turned back on them on the way) and
 * dv; dq, dk, dv are read only. */
DYTCL_API dytcl_status dytcl_heads_split_rope_backward(dytcl_ctx *ctx, dytcl_tensor dqkv, dytcl_tensor dq,
                                                       dytcl_tensor dk, dytcl_tensor dv, int pos_offset, float theta);
/* y [B, T, H, D] from o [B, H, T, D]. */
DYTCL_API dytcl_status dytcl_heads_merge(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor o);
/* dout [B, H, T, D] from dy [B, T, H, D]. */
DYTCL_API dytcl_status dytcl_heads_merge_backward(dytcl_ctx *ctx, dytcl_tensor dout, dytcl_tensor dy);
/* dq, dk, dv from dout and the forward's q, k, v, o and lse. */
DYTCL_API dytcl_status dytcl_attention_backward(dytcl_ctx *ctx, dytcl_tensor dq, dytcl_tensor dk, dytcl_tensor dv,
                                                dytcl_tensor dout, dytcl_tensor q, dytcl_tensor k, dytcl_tensor v,
                                                dytcl_tensor o, dytcl_tensor lse, dytcl_attn_path path);
/* ------------------------------------------ patch embedding (host/ops_patch.c)
 *
 * A vision transformer's first layer: a linear map of each p x p patch.
 * images [B, C, H, W] with p dividing H and W hold N = (H/p)(W/p) patches,
 * numbered row by row, of F = C*p*p values each, ordered channel, row,
 * column (the layout of a torch Conv2d weight [E, C, p, p] flattened to [E, F]).
 *   dytcl_patchify           patches [B, N, F] <- images (a permutation)
 *   dytcl_patchify_backward  dimages <- dpatches (its inverse)
 *   forward   patches = patchify(images); y [B, N, E] = patches . W^T + b
 *             (W [E, F], b [E] or absent; patches is kept for the backward)
 *   backward  dW (+)= dy^T . patches, db (+)= the column sums of dy; when
 *             dimages is given, dpatches = dy . W and dimages = its inverse
 *             patchify (dpatches is then a required [B, N, F] scratch)
 * images must be 4-D; the others are checked by element count. */
DYTCL_API dytcl_status dytcl_patchify(dytcl_ctx *ctx, dytcl_tensor patches, dytcl_tensor images, int p);
DYTCL_API dytcl_status dytcl_patchify_backward(dytcl_ctx *ctx, dytcl_tensor dimages, dytcl_tensor dpatches, int p);
DYTCL_API dytcl_status dytcl_patch_embed_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor patches,
                                                 dytcl_tensor images, dytcl_tensor W, dytcl_tensor b, int p);
DYTCL_API dytcl_status dytcl_patch_embed_backward(dytcl_ctx *ctx, dytcl_tensor dimages, dytcl_tensor dpatches,
                                                  dytcl_tensor dW, dytcl_tensor db, int accumulate, dytcl_tensor dy,
                                                  dytcl_tensor patches, dytcl_tensor W, int p);

/* ------------------------------------- attention while decoding (host/ops_decode.c)
 *
 * Attention for Tq new positions pos..pos+Tq-1 against a KV cache (generation,
 * forward only). q, k_new, v_new, o: [B, H, Tq, D]; kcache, vcache: [B, H, Tmax, D]
 * with pos + Tq <= Tmax. First writes k_new, v_new into the caches at rows
 * pos..pos+Tq-1 of every head (the rows past them are not touched), then
 * query i (position pos+i) attends to cached keys 0..pos+i (causal), scale
 * 1/sqrt(D), D <= 128. o must not overlap any other argument, nor the caches
 * the inputs or each other. Matches the last Tq rows of dytcl_attention_forward
 * over the whole prefix to float rounding. */
DYTCL_API dytcl_status dytcl_attention_decode(dytcl_ctx *ctx, dytcl_tensor o, dytcl_tensor q, dytcl_tensor k_new,
                                              dytcl_tensor v_new, dytcl_tensor kcache, dytcl_tensor vcache, int pos);

#ifdef __cplusplus
}
#endif
#endif /* DYTCL_H */
