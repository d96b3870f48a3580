/* bench.c -- timing, JSON and random inputs for the benchmarks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dytcl_experimental.h"
#include "gen.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double at = q * (n - 1);
    int i = (int)at;
    return i + 1 < n ? v[i] + (at - i) * (v[i + 1] - v[i]) : v[n - 1];
}

dytcl_status bench_sample_us(dytcl_ctx *ctx, bench_fn fn, void *arg, int batch, double *us)
{
    double ns = 0;
    dytcl_status s = dytcl_profile_begin(ctx);
    for (int i = 0; i < batch && s == DYTCL_OK; i++) s = fn(ctx, arg);
    dytcl_status e = dytcl_profile_end(ctx, &ns); /* always end what began */
    *us = ns / 1e3 / batch;
    return s ? s : e;
}

int bench_batch(dytcl_ctx *ctx, bench_fn fn, void *arg)
{
    if (strcmp(dytcl_timer_name(ctx), "host") != 0) return 1;
    double us = 0;
    if (bench_sample_us(ctx, fn, arg, 1, &us) != DYTCL_OK || us <= 0) return 1;
    int batch = (int)(1000.0 / us) + 1;
    return batch > 64 ? 64 : batch;
}

dytcl_status bench_median_us(dytcl_ctx *ctx, bench_fn fn, void *arg, int warmup, int reps,
                             double *median_us)
{
    dytcl_status s = DYTCL_OK;
    for (int i = 0; i < warmup && s == DYTCL_OK; i++) s = fn(ctx, arg);
    if (s == DYTCL_OK) s = dytcl_finish(ctx);
    if (s != DYTCL_OK) return s;
    const int batch = bench_batch(ctx, fn, arg);
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t) return DYTCL_ERR_HOST_MEMORY;
    for (int i = 0; i < reps && s == DYTCL_OK; i++) s = bench_sample_us(ctx, fn, arg, batch, &t[i]);
    if (s == DYTCL_OK) *median_us = bench_median(t, reps);
    free(t);
    return s;
}

typedef struct {
    dytcl_tensor dst, src;
} copy_args;

static dytcl_status run_copy(dytcl_ctx *ctx, void *arg)
{
    copy_args *c = arg;
    return dytcl_copy(ctx, c->dst, c->src);
}

dytcl_status bench_host_copy_gbps(dytcl_ctx *ctx, double *gbps)
{
    dytcl_device_info d;
    dytcl_ctx_device(ctx, &d);
    size_t n = (size_t)16 << 20; /* floats: 64 MiB */
    while (n > 1024 && n * sizeof(float) > d.max_alloc / 2) n /= 2;
    dytcl_buf *a = NULL, *b = NULL;
    dytcl_status s = dytcl_buf_create(ctx, n * sizeof(float), &a);
    if (!s) s = dytcl_buf_create(ctx, n * sizeof(float), &b);
    copy_args c = {dytcl_tensor_1d(b, 0, (int64_t)n), dytcl_tensor_1d(a, 0, (int64_t)n)};
    if (!s) s = dytcl_fill(ctx, c.src, 1.0f);
    double t[5];
    for (int r = -1; r < 5 && !s; r++) {
        if ((s = dytcl_finish(ctx))) break;
        double t0 = dytcl_now_ms();
        if (!(s = run_copy(ctx, &c)) && !(s = dytcl_finish(ctx)) && r >= 0) t[r] = dytcl_now_ms() - t0;
    }
    if (!s) *gbps = 2.0 * n * sizeof(float) / (bench_quantile(t, 5, 0.0) * 1e6); /* the fastest: a ceiling */
    dytcl_buf_free(a);
    dytcl_buf_free(b);
    return s;
}

json_t *bench_device_json(dytcl_ctx *ctx, const dytcl_device_info *d)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I}",
                          "name", d->name, "platform", d->platform, "platform_version", d->platform_version,
                          "driver", d->driver_version, "type", d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other",
                          "opencl_c", d->c_version, "compute_units", (int)d->compute_units,
                          "global_mem", (json_int_t)d->global_mem, "max_alloc", (json_int_t)d->max_alloc,
                          "max_work_group", (json_int_t)d->max_work_group, "local_mem", (json_int_t)d->local_mem);
    dytcl_gemm_path_t gp;
    if (j && ctx && dytcl_gemm_path(ctx, &gp) == DYTCL_OK)
        json_object_set_new(j, "gemm", json_string(dytcl_gemm_path_name(gp)));
    dytcl_timer_info ti = {0};
    if (j && ctx && dytcl_timer_check(ctx, &ti) == DYTCL_OK) {
        json_object_set_new(j, "timer", json_string(ti.host ? "host" : "events"));
        json_object_set_new(j, "timer_reason", json_string(ti.reason));
    }
    return j;
}

int bench_fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return 1;
}

int bench_write_json(const char *path, json_t *device, json_t *records, char *err, size_t cap)
{
    json_t *timer = json_object_get(device, "timer"); /* also at the top, where a reader looks first */
    json_t *root = timer ? json_pack("{s:O, s:O, s:O}", "device", device, "timer", timer, "records", records)
                         : json_pack("{s:O, s:O}", "device", device, "records", records);
    if (!root) return bench_fail(err, cap, "cannot build the JSON document");
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return rc != 0 ? bench_fail(err, cap, "%s: cannot write the JSON", path) : 0;
}

dytcl_status bench_random_buf(dytcl_ctx *ctx, size_t n, float lo, float hi, unsigned seed,
                              dytcl_buf **out)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return DYTCL_ERR_HOST_MEMORY;
    unsigned long long x = 0x9e3779b97f4a7c15ULL ^ seed; /* the op tests' uniform draw */
    for (size_t i = 0; i < n; i++) h[i] = (float)op_rand(&x, lo, hi);
    dytcl_status s = dytcl_buf_create(ctx, n * sizeof *h, out);
    if (s == DYTCL_OK) s = dytcl_buf_write(ctx, *out, 0, h, n * sizeof *h);
    if (s != DYTCL_OK) {
        dytcl_buf_free(*out);
        *out = NULL;
    }
    free(h);
    return s;
}
