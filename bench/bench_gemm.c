/* bench_gemm.c -- `dytcl bench gemm`: dytcl_gemm at the shapes of a
 * GPT-2-small training step (1024 tokens, width 768, MLP 3072), in the three
 * transposes a linear layer uses (NT forward, NN dx, TN dW), on each path in
 * one run: CLBlast with its own parameters (DYTCL_GEMM_DEFAULTS=1; CLBlast
 * keeps parameters per process, so these must come first), CLBlast with the
 * ones dytcl applies (the device's tuning file from `dytcl tune gemm`, else
 * the built-in PoCL set), then the host-BLAS path (gemm_host.c) when this
 * build and device have it, with OpenBLAS called directly on host arrays
 * beside it, the two alternating over 3 rounds per case. GFLOP/s = 2MNK/t;
 * times from profiling events (map to unmap on the host path), median of
 * --reps after dytcl_gemm_warmup and two more warm-up calls per case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef DYTCL_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "bench.h"
#include "dytcl_experimental.h"

typedef struct {
    int ta, tb, M, N, K;
    dytcl_tensor A, B, C;
} gemm_case;

static dytcl_status run(dytcl_ctx *ctx, void *arg)
{
    gemm_case *g = arg;
    return dytcl_gemm(ctx, g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A, g->B, 0.0f, g->C);
}

#ifdef DYTCL_HAVE_OPENBLAS
/* The same product on the host, median wall time in us. */
static double openblas_us(const gemm_case *g, int reps)
{
    size_t na = (size_t)g->M * g->K, nb = (size_t)g->K * g->N, nc = (size_t)g->M * g->N;
    float *A = calloc(na, 4), *B = calloc(nb, 4), *C = calloc(nc, 4);
    double t[64];
    if (reps > 64) reps = 64;
    for (int r = -1; r < reps; r++) {
        double t0 = dytcl_now_ms();
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, g->M,
                    g->N, g->K, 1.0f, A, g->ta ? g->M : g->K, B, g->tb ? g->K : g->N, 0.0f, C, g->N);
        if (r >= 0) t[r] = (dytcl_now_ms() - t0) * 1e3; /* us */
    }
    free(A), free(B), free(C);
    return bench_median(t, reps);
}
#endif

enum { NSHAPES = 3, NTRANS = 3 };
static const int shapes[NSHAPES][3] = {{1024, 768, 768}, {1024, 3072, 768}, {1024, 768, 3072}};
static const int trans[NTRANS][2] = {{0, 1}, {0, 0}, {1, 0}};
static const char *const names[NTRANS] = {"NT", "NN", "TN"};

static char timer_used[16] = "events"; /* the clock of the last measure_all */

/* GFLOP/s of every case on a new context whose GEMMs take `path`; desc gets
 * its parameters. With ob (the host path), OpenBLAS's GFLOP/s on host arrays
 * too, alternating with dytcl over 3 rounds (medians of the rounds).
 * DYTCL_ERR_UNSUPPORTED: no such path here. */
static dytcl_status measure_all(const char *spec, dytcl_gemm_path_t path, int reps, double gf[NSHAPES][NTRANS],
                                double ob[NSHAPES][NTRANS], char *desc, size_t cap, dytcl_device_info *dev,
                                char *err, size_t errcap)
{
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.device = spec, .gemm_path = path};
    if (dytcl_ctx_create(&opt, &ctx) != DYTCL_OK) {
        bench_fail(err, errcap, "%s", dytcl_last_error(NULL));
        return DYTCL_ERR_NO_DEVICE;
    }
    dytcl_ctx_device(ctx, dev);
    dytcl_gemm_path_t got;
    dytcl_status s = dytcl_gemm_path(ctx, &got);
    if (s == DYTCL_ERR_UNSUPPORTED) {
        dytcl_ctx_free(ctx);
        return s;
    }
    if (!s) s = dytcl_gemm_config(ctx, desc, cap);
    if (!s) s = dytcl_gemm_warmup(ctx);
    for (int si = 0; si < NSHAPES && !s; si++) {
        gemm_case g = {0, 0, shapes[si][0], shapes[si][1], shapes[si][2], {0}, {0}, {0}};
        dytcl_buf *a = NULL, *b = NULL, *c = NULL;
        if (!(s = bench_random_buf(ctx, (size_t)g.M * g.K, -1, 1, 1, &a)) &&
            !(s = bench_random_buf(ctx, (size_t)g.K * g.N, -1, 1, 2, &b)) &&
            !(s = bench_random_buf(ctx, (size_t)g.M * g.N, -1, 1, 3, &c))) {
            g.A = dytcl_tensor_1d(a, 0, (int64_t)g.M * g.K);
            g.B = dytcl_tensor_1d(b, 0, (int64_t)g.K * g.N);
            g.C = dytcl_tensor_1d(c, 0, (int64_t)g.M * g.N);
            for (int ti = 0; ti < NTRANS && !s; ti++) {
                g.ta = trans[ti][0], g.tb = trans[ti][1];
                const double flop = 2.0 * g.M * g.N * g.K;
                double us = 0, ours[3] = {0}, theirs[3] = {0};
                const int rounds = ob ? 3 : 1;
                for (int r = 0; r < rounds && !s; r++) {
                    s = bench_median_us(ctx, run, &g, 2, reps, &us);
                    ours[r] = s ? 0 : flop / (us * 1e3);
#ifdef DYTCL_HAVE_OPENBLAS
                    if (ob) theirs[r] = flop / (openblas_us(&g, reps) * 1e3);
#endif
                }
                gf[si][ti] = bench_median(ours, rounds);
                if (ob) ob[si][ti] = bench_median(theirs, rounds);
            }
        }
        dytcl_buf_free(a), dytcl_buf_free(b), dytcl_buf_free(c);
    }
    if (s) bench_fail(err, errcap, "%s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    snprintf(timer_used, sizeof timer_used, "%s", dytcl_timer_name(ctx));
    dytcl_ctx_free(ctx);
    return s;
}

int bench_gemm(const bench_gemm_opts *o, char *err, size_t cap)
{
    const int reps = o->reps, defaults = !o->no_defaults;
    const char *spec = o->device;
    double def[NSHAPES][NTRANS] = {{0}}, ours[NSHAPES][NTRANS] = {{0}}, host[NSHAPES][NTRANS] = {{0}};
    double ob[NSHAPES][NTRANS] = {{0}};
    char def_desc[2048] = "", desc[2048] = "", host_desc[2048] = "";
    dytcl_device_info dev;
    if (defaults) { /* before anything in this process overrides CLBlast's parameters */
        const char *was = getenv("DYTCL_GEMM_DEFAULTS");
        char keep[64];
        snprintf(keep, sizeof keep, "%s", was ? was : "");
        setenv("DYTCL_GEMM_DEFAULTS", "1", 1);
        dytcl_status s = measure_all(spec, DYTCL_GEMM_CLBLAST, reps < 5 ? reps : 5, def, NULL, def_desc,
                                     sizeof def_desc, &dev, err, cap);
        if (was) setenv("DYTCL_GEMM_DEFAULTS", keep, 1);
        else unsetenv("DYTCL_GEMM_DEFAULTS");
        if (s) return 1;
    }
    if (measure_all(spec, DYTCL_GEMM_CLBLAST, reps, ours, NULL, desc, sizeof desc, &dev, err, cap)) return 1;
    dytcl_status hs = measure_all(spec, DYTCL_GEMM_HOST, reps, host, ob, host_desc, sizeof host_desc, &dev, err, cap);
    if (hs && hs != DYTCL_ERR_UNSUPPORTED) return 1;
    const int have_host = hs == DYTCL_OK;

    printf("device: %s (%s, driver %s)\n", dev.name, dev.platform, dev.driver_version);
    if (defaults) printf("CLBlast own:   %s\n", def_desc);
    printf("CLBlast dytcl: %s\n", desc);
    if (have_host) printf("host:          %s\n", host_desc);
    printf("\n%-4s %5s %5s %5s %12s %14s", "op", "M", "N", "K", "CLBlast own", "CLBlast dytcl");
    if (have_host) printf(" %9s %9s %14s", "host", "OpenBLAS", "host/OpenBLAS");
    printf("   (GFLOP/s)\n");
    json_t *records = json_array();
    for (int si = 0; si < NSHAPES; si++)
        for (int ti = 0; ti < NTRANS; ti++) {
            gemm_case g = {trans[ti][0], trans[ti][1], shapes[si][0], shapes[si][1], shapes[si][2], {0}, {0}, {0}};
            printf("%-4s %5d %5d %5d %12.1f %14.1f", names[ti], g.M, g.N, g.K, def[si][ti], ours[si][ti]);
            const double best = have_host ? host[si][ti] : ours[si][ti];
            json_t *r = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:f}", "op", "sgemm", "gemm",
                                  have_host ? "host" : "clblast", "trans", names[ti], "M", g.M, "N", g.N, "K", g.K,
                                  "gflops", best, "clblast_gflops", ours[si][ti], "clblast_defaults_gflops",
                                  def[si][ti]);
            if (have_host) {
                printf(" %9.1f %9.1f %14.2f", host[si][ti], ob[si][ti], host[si][ti] / ob[si][ti]);
                json_object_set_new(r, "host_gflops", json_real(host[si][ti]));
                json_object_set_new(r, "openblas_gflops", json_real(ob[si][ti]));
                json_object_set_new(r, "frac_of_openblas", json_real(host[si][ti] / ob[si][ti]));
            }
            printf("\n");
            json_array_append_new(records, r);
        }
    int code = 0;
    if (o->json) {
        json_t *d = bench_device_json(NULL, &dev);
        json_object_set_new(d, "gemm", json_string(have_host ? "host" : "clblast"));
        json_object_set_new(d, "gemm_parameters", json_string(desc));
        if (have_host) json_object_set_new(d, "gemm_host", json_string(host_desc));
        json_object_set_new(d, "timer", json_string(timer_used));
        code = bench_write_json(o->json, d, records, err, cap);
        json_decref(d);
    }
    json_decref(records);
    return code;
}
