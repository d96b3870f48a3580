/* bench.h -- what the benchmarks share: timing with profiling events, the
 * results table, JSON records and the device object. */
#ifndef DYTCL_BENCH_H
#define DYTCL_BENCH_H

#include <jansson.h>

#include "dytcl.h"
#include "dytcl_model.h"

/* One timed case: enqueue it once. Returns a status; the timer measures the
 * device time of everything it enqueued. */
typedef dytcl_status (*bench_fn)(dytcl_ctx *ctx, void *arg);

/* Runs fn `warmup` times, then `reps` times, each timed with a profiling
 * span (events, or the host clock where the driver's events failed the
 * check: see bench_batch); *median_us is the median. */
dytcl_status bench_median_us(dytcl_ctx *ctx, bench_fn fn, void *arg, int warmup, int reps,
                             double *median_us);

/* How many runs of fn one sample should take: 1 with event timing; with the
 * host clock, enough runs for about a millisecond (at most 64), so that the
 * synchronisation around the span does not dominate. */
int bench_batch(dytcl_ctx *ctx, bench_fn fn, void *arg);

/* One sample: `batch` runs of fn in one profiling span, per run in us. */
dytcl_status bench_sample_us(dytcl_ctx *ctx, bench_fn fn, void *arg, int batch, double *us);

/* The q-quantile (0..1) of v [n], sorting v in place. */
double bench_quantile(double *v, int n, double q);

/* Copy bandwidth by the host clock: a 64 MiB copy (or the largest the
 * device allows), fastest of 5; the ceiling no memory-bound figure can pass
 * by much. */
dytcl_status bench_host_copy_gbps(dytcl_ctx *ctx, double *gbps);

/* The median of v [n] (n >= 1), sorting v in place. */
double bench_median(double *v, int n);

/* {"name": ..., "platform": ..., "driver": ..., "timer": "events"|"host",
 * "timer_reason": ..., ...} for the JSON output. */
json_t *bench_device_json(dytcl_ctx *ctx, const dytcl_device_info *d);

/* Writes {"device": {...}, "records": [...]} to path; returns 0 on success,
 * else 1 with the reason in err. Steals neither reference. */
int bench_write_json(const char *path, json_t *device, json_t *records, char *err, size_t cap);

/* Writes the message into err and returns 1: a benchmark's failure. */
int bench_fail(char *err, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A buffer of n floats filled with uniform values in [lo, hi) from seed,
 * drawn as the op tests draw their inputs (bench/gen.h). */
dytcl_status bench_random_buf(dytcl_ctx *ctx, size_t n, float lo, float hi, unsigned seed,
                              dytcl_buf **out);

/* Draws one line per (op, pass) in `series` of GB/s against rows, for the
 * records of width `cols`, with gnuplot into a PNG. Returns 0 on success, 1
 * (the reason in err) when gnuplot is missing or fails. */
int bench_plot_gbps(const char *png, const char *title, json_t *records, long long cols,
                    const char *const *series, int nseries, char *err, size_t cap);

/* The benchmarks, each `dytcl bench <name>`: each prints its table on
 * stdout and returns 0, or 1 with the reason in err (the program parses
 * the options and reports). Progress may go to stderr. */

typedef struct {
    int quick;                  /* fewer shapes and rounds */
    int reps, iters;            /* interleaved rounds; LLaMA-7B protocol rounds (0: none) */
    const char *json, *png;     /* outputs, or NULL */
    const char *device;         /* dytcl_ctx_options.device, or NULL */
    const char *only;           /* "dyt,rmsnorm/fwd": just these cases beside copy, or NULL */
    long long rows, cols;       /* one shape, or 0 for the standard set */
    dytcl_dtype dtypes[3];      /* the activations' storage, each once */
    int ndtypes;
} bench_norms_opts;
int bench_norms(const bench_norms_opts *o, char *err, size_t cap);     /* DyT, Derf, RMSNorm, LayerNorm vs copy */

typedef struct {
    int reps, no_defaults;      /* no_defaults: skip CLBlast with its own parameters */
    const char *json, *device;
} bench_gemm_opts;
int bench_gemm(const bench_gemm_opts *o, char *err, size_t cap);       /* GEMM at transformer shapes vs the host BLAS */

typedef struct {
    int reps, max_t;
    const char *json;
} bench_attention_opts;
int bench_attention(const bench_attention_opts *o, char *err, size_t cap); /* tiled vs GEMM attention */

typedef struct {
    int batch, seq, reps;
    const char *json;
} bench_step_opts;
int bench_step(const bench_step_opts *o, char *err, size_t cap);       /* per-op share of one block's step */

typedef struct {
    dytcl_arch arch;
    int layers, dim, heads, batch, seq, steps, gen; /* seq >= 10 */
    int peer;                   /* also PyTorch (llama only) */
    const char *json;
    const char *peer_modes;     /* "eager,compile" (NULL: both) */
    const char *peer_threads;   /* PyTorch's threads, "1,2" (NULL: $DYTCL_PEER_THREADS, else 1 and 2) */
    const char *norm;           /* just this norm ("dyt", "rmsnorm", "layernorm"), or NULL: all three */
} bench_train_opts;
int bench_train(const bench_train_opts *o, char *err, size_t cap);     /* a model's training step and generation */

typedef struct {
    int dim, layers, heads, tokens, rounds; /* rounds <= 64 */
} bench_decode_opts;
int bench_decode(const bench_decode_opts *o, char *err, size_t cap);
/* Tokens/s of n single-token decode steps of m after an 8-token prompt (each token
 * taken from the last logits [V]); < 0 on failure (the message in m's context). */
double bench_decode_rate(dytcl_model *m, int n, float *logits);   /* decoding with f32, f16, bf16 weights */

typedef struct {
    int dim, layers, heads, tokens, rounds; /* rounds <= 64 */
    int prompt;                 /* tokens of the prompt-processing case */
    int peer_threads;           /* llama.cpp's threads (0: one per CPU) */
    const char *json;
} bench_decode_peer_opts;
int bench_decode_peer(const bench_decode_peer_opts *o, char *err, size_t cap); /* dytcl vs llama.cpp */

#endif
