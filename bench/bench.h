/* bench.h -- what the benchmarks share: timing with profiling events, the
 * results table, JSON records and the device object. */
#ifndef DYTCL_BENCH_H
#define DYTCL_BENCH_H

#include <jansson.h>

#include "dytcl.h"

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

/* Writes {"device": {...}, "records": [...]} to path; returns 0 on success
 * and prints the reason on failure. Steals neither reference. */
int bench_write_json(const char *path, json_t *device, json_t *records);

/* A buffer of n floats filled with uniform values in [lo, hi) from seed,
 * drawn as the op tests draw their inputs (bench/gen.h). */
dytcl_status bench_random_buf(dytcl_ctx *ctx, size_t n, float lo, float hi, unsigned seed,
                              dytcl_buf **out);

/* Draws one line per (op, pass) in `series` of GB/s against rows, for the
 * records of width `cols`, with gnuplot into a PNG. Returns 0 on success, 1
 * (with a message) when gnuplot is missing or fails. */
int bench_plot_gbps(const char *png, const char *title, json_t *records, long long cols,
                    const char *const *series, int nseries);

/* The benchmarks, each `dytcl bench <name> [options]`; each returns the exit
 * status (0 success, 1 failure, 2 usage error). */
int bench_norms(int argc, char **argv);     /* DyT, Derf, RMSNorm, LayerNorm vs copy */
int bench_gemm(int argc, char **argv);      /* GEMM at transformer shapes vs the host BLAS */
int bench_attention(int argc, char **argv); /* tiled vs GEMM attention */
int bench_step(int argc, char **argv);      /* per-op share of one block's step */
int bench_train(int argc, char **argv);     /* a model's training step and generation */
int bench_decode(int argc, char **argv);    /* decoding with f32, f16, bf16 weights */

#endif
