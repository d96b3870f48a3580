/* bench.c -- timing, JSON and random inputs for the benchmarks. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

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

dytcl_status bench_median_us(dytcl_ctx *ctx, bench_fn fn, void *arg, int warmup, int reps,
                             double *median_us)
{
    dytcl_status s = DYTCL_OK;
    for (int i = 0; i < warmup && s == DYTCL_OK; i++) s = fn(ctx, arg);
    if (s == DYTCL_OK) s = dytcl_finish(ctx);
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t) return DYTCL_ERR_HOST_MEMORY;
    for (int i = 0; i < reps && s == DYTCL_OK; i++) {
        double ns = 0;
        s = dytcl_profile_begin(ctx);
        if (s == DYTCL_OK) s = fn(ctx, arg);
        dytcl_status e = dytcl_profile_end(ctx, &ns); /* always end what began */
        if (s == DYTCL_OK) s = e;
        t[i] = ns / 1e3;
    }
    if (s == DYTCL_OK) *median_us = bench_median(t, reps);
    free(t);
    return s;
}

json_t *bench_device_json(const dytcl_device_info *d)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I}",
                     "name", d->name, "platform", d->platform, "platform_version", d->platform_version,
                     "driver", d->driver_version, "type", d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other",
                     "opencl_c", d->c_version, "compute_units", (int)d->compute_units,
                     "global_mem", (json_int_t)d->global_mem, "max_alloc", (json_int_t)d->max_alloc);
}

int bench_write_json(const char *path, json_t *device, json_t *records)
{
    json_t *root = json_pack("{s:O, s:O}", "device", device, "records", records);
    if (!root) {
        fprintf(stderr, "bench: cannot build the JSON document\n");
        return 1;
    }
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0) fprintf(stderr, "bench: cannot write %s\n", path);
    return rc != 0;
}

dytcl_status bench_random_buf(dytcl_ctx *ctx, size_t n, float lo, float hi, unsigned seed,
                              dytcl_buf **out)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return DYTCL_ERR_HOST_MEMORY;
    unsigned long long x = 0x9e3779b97f4a7c15ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        h[i] = lo + (hi - lo) * (float)((x * 2685821657736338717ULL) >> 40) / 16777216.0f;
    }
    dytcl_status s = dytcl_buf_create(ctx, n * sizeof *h, out);
    if (s == DYTCL_OK) s = dytcl_buf_write(ctx, *out, 0, h, n * sizeof *h);
    if (s != DYTCL_OK) {
        dytcl_buf_free(*out);
        *out = NULL;
    }
    free(h);
    return s;
}
