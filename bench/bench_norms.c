/* bench_norms.c -- `dytcl bench norms`: DyT, Derf, RMSNorm and LayerNorm,
 * forward, backward and fused with the residual add, against a copy kernel
 * measured in the same run; then the paper's LLaMA-7B protocol.
 *
 * Every case runs in each storage dtype asked for (--dtype: f32, f16, bf16;
 * activations in that dtype, parameters and statistics f32, as the ops take
 * them). GB/s counts the bytes an op must move (inputs read once, outputs
 * written once, parameters included, 2 bytes an element in f16 and bf16);
 * frac_of_copy divides by the GB/s of the copy kernel in the same dtype at
 * the same shape; vs_f32 is the case's time over the same case's in f32.
 * The cases of one shape, all dtypes, are measured interleaved: --reps
 * rounds, each timing every case once, so that a noisy machine slows all of
 * them alike; a case's time is its median over rounds, and its fraction of
 * copy and its ratio to f32 are medians of per-round ratios, with the
 * quartiles beside the fraction. x_empty is the case's time over a near-empty
 * kernel's (a one-element copy): at decode sizes, how far an op is from the
 * launch cost. Each fused residual case ends with its time over its unfused
 * pair's (add then the norm forward; the norm backward then add), the
 * median of per-round ratios. Times come from profiling events, or from the
 * host clock (batches of runs around clFinish) where the driver's events
 * fail dytcl_timer_check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dytcl_experimental.h"

/* Every tensor a case may touch, for one shape [rows, C]. */
typedef struct {
    int64_t rows, cols;
    dytcl_dtype dt;                           /* of x, y, r, h, dy, dx */
    dytcl_tensor x, y, r, h, dy, dx, rstd, mean;
    dytcl_dyt_params p;
    dytcl_dyt_grads g, gd; /* gd: with dshift, for Derf */
    dytcl_tensor dw, db;
    dytcl_buf *bufs[16];
    int nbufs;
} shape_bufs;

typedef struct {
    const char *op, *pass;
    bench_fn fn;
    double acts;           /* activation elements moved per element of [rows, C] */
    double bytes_per_row;  /* statistics (f32) */
    double bytes_per_col;  /* parameters and their gradients (f32) */
} norm_case;

/* ---- the cases: one enqueue each */

#define B(a) ((shape_bufs *)(a))
static dytcl_status run_copy(dytcl_ctx *c, void *a) { return dytcl_copy(c, B(a)->y, B(a)->x); }
static dytcl_status run_add(dytcl_ctx *c, void *a) { return dytcl_add(c, B(a)->r, B(a)->x, B(a)->h); }
static dytcl_status run_dyt_f(dytcl_ctx *c, void *a) { return dytcl_dyt_forward(c, B(a)->y, B(a)->x, &B(a)->p); }
static dytcl_status run_dyt_b(dytcl_ctx *c, void *a)
{
    return dytcl_dyt_backward(c, B(a)->dx, &B(a)->g, B(a)->dy, B(a)->x, &B(a)->p);
}
static dytcl_status run_derf_f(dytcl_ctx *c, void *a) { return dytcl_derf_forward(c, B(a)->y, B(a)->x, &B(a)->p); }
static dytcl_status run_derf_b(dytcl_ctx *c, void *a)
{
    return dytcl_derf_backward(c, B(a)->dx, &B(a)->gd, B(a)->dy, B(a)->x, &B(a)->p);
}
static dytcl_status run_rms_f(dytcl_ctx *c, void *a)
{
    return dytcl_rmsnorm_forward(c, B(a)->y, B(a)->rstd, B(a)->x, B(a)->p.weight, 1e-6f);
}
static dytcl_status run_rms_b(dytcl_ctx *c, void *a)
{
    return dytcl_rmsnorm_backward(c, B(a)->dx, B(a)->dw, 0, B(a)->dy, B(a)->x, B(a)->rstd, B(a)->p.weight);
}
static dytcl_status run_ln_f(dytcl_ctx *c, void *a)
{
    return dytcl_layernorm_forward(c, B(a)->y, B(a)->mean, B(a)->rstd, B(a)->x, B(a)->p.weight,
                                   B(a)->p.bias, 1e-5f);
}
static dytcl_status run_ln_b(dytcl_ctx *c, void *a)
{
    return dytcl_layernorm_backward(c, B(a)->dx, B(a)->dw, B(a)->db, 0, B(a)->dy, B(a)->x, B(a)->mean,
                                    B(a)->rstd, B(a)->p.weight);
}
/* residual add then the norm, as two ops; and the same fused in one */
static dytcl_status run_add_dyt(dytcl_ctx *c, void *a)
{
    dytcl_status s = dytcl_add(c, B(a)->r, B(a)->x, B(a)->h);
    return s ? s : dytcl_dyt_forward(c, B(a)->y, B(a)->r, &B(a)->p);
}
static dytcl_status run_res_dyt_f(dytcl_ctx *c, void *a)
{
    return dytcl_residual_dyt_forward(c, B(a)->r, B(a)->y, B(a)->x, B(a)->h, &B(a)->p);
}
static dytcl_status run_res_dyt_b(dytcl_ctx *c, void *a)
{
    return dytcl_residual_dyt_backward(c, B(a)->dx, &B(a)->g, B(a)->dy, B(a)->h, B(a)->r, &B(a)->p);
}
static dytcl_status run_add_rms(dytcl_ctx *c, void *a)
{
    dytcl_status s = dytcl_add(c, B(a)->r, B(a)->x, B(a)->h);
    return s ? s : dytcl_rmsnorm_forward(c, B(a)->y, B(a)->rstd, B(a)->r, B(a)->p.weight, 1e-6f);
}
static dytcl_status run_res_rms_f(dytcl_ctx *c, void *a)
{
    return dytcl_residual_rmsnorm_forward(c, B(a)->r, B(a)->y, B(a)->rstd, B(a)->x, B(a)->h, B(a)->p.weight,
                                          1e-6f);
}
static dytcl_status run_res_rms_b(dytcl_ctx *c, void *a)
{
    return dytcl_residual_rmsnorm_backward(c, B(a)->dx, B(a)->dw, 0, B(a)->dy, B(a)->h, B(a)->r, B(a)->rstd,
                                           B(a)->p.weight);
}
/* the backward pairs: the norm's backward, then the residual stream's
 * gradient (h here) added to its dx */
static dytcl_status run_add_dyt_b(dytcl_ctx *c, void *a)
{
    dytcl_status s = dytcl_dyt_backward(c, B(a)->dx, &B(a)->g, B(a)->dy, B(a)->r, &B(a)->p);
    return s ? s : dytcl_add(c, B(a)->y, B(a)->dx, B(a)->h);
}
static dytcl_status run_add_rms_b(dytcl_ctx *c, void *a)
{
    dytcl_status s = dytcl_rmsnorm_backward(c, B(a)->dx, B(a)->dw, 0, B(a)->dy, B(a)->r, B(a)->rstd, B(a)->p.weight);
    return s ? s : dytcl_add(c, B(a)->y, B(a)->dx, B(a)->h);
}
#undef B

/* activation elements per element; bytes per row / column (f32) */
static const norm_case cases[] = {
    {"copy", "fwd", run_copy, 2, 0, 0},
    {"add", "fwd", run_add, 3, 0, 0},
    {"dyt", "fwd", run_dyt_f, 2, 0, 8},
    {"dyt", "bwd", run_dyt_b, 3, 0, 16},
    {"rmsnorm", "fwd", run_rms_f, 2, 4, 4},
    {"rmsnorm", "bwd", run_rms_b, 3, 4, 8},
    {"layernorm", "fwd", run_ln_f, 2, 8, 8},
    {"layernorm", "bwd", run_ln_b, 3, 8, 16},
    {"derf", "fwd", run_derf_f, 2, 0, 8},
    {"derf", "bwd", run_derf_b, 3, 0, 16},
    {"add+dyt", "fwd", run_add_dyt, 5, 0, 8},
    {"residual_dyt", "fwd", run_res_dyt_f, 4, 0, 8},
    {"add+dyt", "bwd", run_add_dyt_b, 6, 0, 16},
    {"residual_dyt", "bwd", run_res_dyt_b, 4, 0, 16},
    {"add+rmsnorm", "fwd", run_add_rms, 5, 4, 4},
    {"residual_rmsnorm", "fwd", run_res_rms_f, 4, 4, 4},
    {"add+rmsnorm", "bwd", run_add_rms_b, 6, 4, 8},
    {"residual_rmsnorm", "bwd", run_res_rms_b, 4, 4, 8},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* Each fused case follows its unfused pair (the two ops it replaces) in
 * cases[]: the table ends with their time ratio. */
static int is_fused(int k) { return !strncmp(cases[k].op, "residual_", 9); }

static void shape_free(shape_bufs *sb)
{
    for (int i = 0; i < sb->nbufs; i++) dytcl_buf_free(sb->bufs[i]);
    memset(sb, 0, sizeof *sb);
}

/* A random buffer of n floats in [lo, hi), viewed as [rows, cols]. */
static dytcl_status tensor_new(dytcl_ctx *ctx, shape_bufs *sb, int64_t rows, int64_t cols, float lo,
                               float hi, dytcl_tensor *t)
{
    dytcl_buf *b = NULL;
    dytcl_status s = bench_random_buf(ctx, (size_t)(rows * cols), lo, hi, (unsigned)sb->nbufs + 1, &b);
    if (s != DYTCL_OK) return s;
    sb->bufs[sb->nbufs++] = b;
    *t = dytcl_tensor_2d(b, 0, rows, cols);
    return DYTCL_OK;
}

/* The same, stored as sb->dt: drawn as floats, then converted. */
static dytcl_status act_new(dytcl_ctx *ctx, shape_bufs *sb, int64_t rows, int64_t cols, float lo, float hi,
                            dytcl_tensor *t)
{
    dytcl_status s = tensor_new(ctx, sb, rows, cols, lo, hi, t);
    if (s || sb->dt == DYTCL_F32) return s;
    dytcl_buf *f32 = sb->bufs[--sb->nbufs], *b = NULL;
    if (!(s = dytcl_buf_create(ctx, (size_t)(rows * cols) * dytcl_dtype_size(sb->dt), &b))) {
        sb->bufs[sb->nbufs++] = b;
        *t = dytcl_tensor_as(dytcl_tensor_2d(b, 0, rows, cols), sb->dt);
        s = dytcl_copy(ctx, *t, dytcl_tensor_2d(f32, 0, rows, cols));
    }
    if (!s) s = dytcl_finish(ctx);
    dytcl_buf_free(f32);
    return s;
}

static dytcl_status shape_alloc(dytcl_ctx *ctx, shape_bufs *sb, int64_t rows, int64_t cols, dytcl_dtype dt)
{
    memset(sb, 0, sizeof *sb);
    sb->rows = rows, sb->cols = cols, sb->dt = dt;
    dytcl_status s;
    if ((s = act_new(ctx, sb, rows, cols, -4, 4, &sb->x)) || (s = act_new(ctx, sb, rows, cols, -1, 1, &sb->y)) ||
        (s = act_new(ctx, sb, rows, cols, -1, 1, &sb->r)) || (s = act_new(ctx, sb, rows, cols, -1, 1, &sb->h)) ||
        (s = act_new(ctx, sb, rows, cols, -1, 1, &sb->dy)) || (s = act_new(ctx, sb, rows, cols, -1, 1, &sb->dx)) ||
        (s = tensor_new(ctx, sb, rows, 1, 0.5f, 1, &sb->rstd)) || (s = tensor_new(ctx, sb, rows, 1, -1, 1, &sb->mean)) ||
        (s = tensor_new(ctx, sb, 1, 1, 0.5f, 0.5f, &sb->p.alpha)) || (s = tensor_new(ctx, sb, 1, 1, 0.1f, 0.1f, &sb->p.shift)) ||
        (s = tensor_new(ctx, sb, 1, cols, 0.5f, 1.5f, &sb->p.weight)) || (s = tensor_new(ctx, sb, 1, cols, -0.1f, 0.1f, &sb->p.bias)) ||
        (s = tensor_new(ctx, sb, 1, 1, 0, 0, &sb->g.dalpha)) || (s = tensor_new(ctx, sb, 1, 1, 0, 0, &sb->g.dshift)) ||
        (s = tensor_new(ctx, sb, 1, cols, 0, 0, &sb->dw)) || (s = tensor_new(ctx, sb, 1, cols, 0, 0, &sb->db)))
        return s;
    sb->p.weight = dytcl_tensor_1d(sb->p.weight.buf, 0, cols);
    sb->p.bias = dytcl_tensor_1d(sb->p.bias.buf, 0, cols);
    sb->p.alpha = dytcl_tensor_1d(sb->p.alpha.buf, 0, 1);
    sb->p.shift = dytcl_tensor_1d(sb->p.shift.buf, 0, 1);
    sb->rstd = dytcl_tensor_1d(sb->rstd.buf, 0, rows);
    sb->mean = dytcl_tensor_1d(sb->mean.buf, 0, rows);
    sb->dw = dytcl_tensor_1d(sb->dw.buf, 0, cols);
    sb->db = dytcl_tensor_1d(sb->db.buf, 0, cols);
    sb->g.dalpha = dytcl_tensor_1d(sb->g.dalpha.buf, 0, 1);
    sb->g.dshift = dytcl_tensor_1d(sb->g.dshift.buf, 0, 1);
    sb->g.dweight = sb->dw;
    sb->g.dbias = sb->db;
    sb->gd = sb->g;
    sb->g.dshift.buf = NULL;
    return DYTCL_OK;
}

/* One pass of the protocol: every layer forward (and backward), one sync. */
static dytcl_status protocol_pass(dytcl_ctx *ctx, shape_bufs *sb, bench_fn fwd, bench_fn bwd, int layers,
                                  double *ms)
{
    dytcl_status s = dytcl_finish(ctx);
    double t0 = dytcl_now_ms();
    for (int l = 0; l < layers && !s; l++) {
        s = fwd(ctx, sb);
        if (!s && bwd) s = bwd(ctx, sb);
    }
    if (!s) s = dytcl_finish(ctx);
    *ms = dytcl_now_ms() - t0;
    return s;
}

/* The paper's protocol: every norm layer of LLaMA-7B (65 of them, 4096 tokens
 * x 4096 channels) forward, then forward + backward; wall time. `iters`
 * rounds, each running all 65 layers once for DyT and for RMSNorm in turn,
 * so the DyT/RMSNorm ratio is the median of per-round ratios. */
static dytcl_status protocol(dytcl_ctx *ctx, shape_bufs *sb, int iters, json_t *records)
{
    const int layers = 65;
    const struct {
        const char *op;
        bench_fn fwd, bwd;
    } ops[] = {{"dyt", run_dyt_f, run_dyt_b}, {"rmsnorm", run_rms_f, run_rms_b}};
    printf("\nLLaMA-7B norm layers (%d x [%lld, %lld], %s), %d interleaved rounds, wall time:\n", layers,
           (long long)sb->rows, (long long)sb->cols, dytcl_dtype_name(sb->dt), iters);
    double *t = calloc((size_t)iters * 4, sizeof *t), *ratio = calloc((size_t)iters, sizeof *ratio);
    if (!t || !ratio) {
        free(t), free(ratio);
        return DYTCL_ERR_HOST_MEMORY;
    }
    dytcl_status s = DYTCL_OK;
    for (int o = 0; o < 2 && !s; o++) /* warm */
        if (!(s = ops[o].fwd(ctx, sb))) s = ops[o].bwd(ctx, sb);
    double t_start = dytcl_now_ms();
    for (int it = 0; it < iters && !s; it++) {
        for (int pass = 0; pass < 2 && !s; pass++)
            for (int o = 0; o < 2 && !s; o++)
                s = protocol_pass(ctx, sb, ops[o].fwd, pass ? ops[o].bwd : NULL, layers, &t[(pass * 2 + o) * iters + it]);
        if (dytcl_now_ms() - t_start > 2000) fprintf(stderr, "bench norms: protocol round %d/%d\r", it + 1, iters);
    }
    if (dytcl_now_ms() - t_start > 2000) fprintf(stderr, "\n");
    for (int pass = 0; pass < 2 && !s; pass++) {
        const char *pname = pass ? "fwd+bwd" : "fwd";
        for (int it = 0; it < iters; it++) ratio[it] = t[(pass * 2) * iters + it] / t[(pass * 2 + 1) * iters + it];
        const double r50 = bench_quantile(ratio, iters, 0.5), r25 = bench_quantile(ratio, iters, 0.25),
                     r75 = bench_quantile(ratio, iters, 0.75);
        for (int o = 0; o < 2; o++) {
            double total = 0;
            for (int it = 0; it < iters; it++) total += t[(pass * 2 + o) * iters + it];
            const double per_layer_us = total * 1e3 / ((double)iters * layers);
            printf("  %-8s %-8s total %9.1f ms   per layer %8.1f us", ops[o].op, pname, total, per_layer_us);
            if (o == 0) printf("   dyt/rmsnorm %.3f (quartiles %.3f-%.3f)", r50, r25, r75);
            printf("\n");
            json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:f, s:f, s:s}", "op", ops[o].op, "pass",
                                  pname, "kind", "llama7b_protocol", "dtype", dytcl_dtype_name(sb->dt), "layers",
                                  layers, "iterations", iters, "rows", (json_int_t)sb->rows, "cols",
                                  (json_int_t)sb->cols, "total_ms", total, "per_layer_us", per_layer_us, "timer",
                                  "host");
            if (o == 0) {
                json_object_set_new(r, "ratio_to_rmsnorm", json_real(r50));
                json_object_set_new(r, "ratio_p25", json_real(r25));
                json_object_set_new(r, "ratio_p75", json_real(r75));
            }
            json_array_append_new(records, r);
        }
    }
    free(t), free(ratio);
    return s;
}

/* Every case of one shape, interleaved over `reps` rounds; one table row and
 * one record per case. */
/* Whether case k runs: copy always (every fraction divides by it), the
 * others when `only` (a comma-separated list of "op" or "op/pass") is NULL
 * or names them. */
static int case_wanted(int k, const char *only)
{
    if (k == 0 || !only) return 1;
    char name[64];
    snprintf(name, sizeof name, "%s/%s", cases[k].op, cases[k].pass);
    for (const char *p = only; *p;) {
        size_t n = strcspn(p, ",");
        size_t opn = strlen(cases[k].op);
        if ((n == opn && !strncmp(p, cases[k].op, n)) || (n == strlen(name) && !strncmp(p, name, n))) return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Every case of one shape in each of the nd dtypes (sb[0..nd)), interleaved
 * over `reps` rounds; one table row and one record per case and dtype. */
static dytcl_status measure_shape(dytcl_ctx *ctx, shape_bufs *sb, int nd, int reps, double host_copy_gbps,
                                  double empty_us, const char *timer, const char *only, json_t *records,
                                  int *suspect)
{
    double *t = calloc((size_t)nd * NCASES * reps, sizeof *t), *frac = calloc((size_t)reps, sizeof *frac);
    double bytes[3][NCASES];
    int batch[3][NCASES], f32 = -1;
    dytcl_status s = t && frac ? DYTCL_OK : DYTCL_ERR_HOST_MEMORY;
#define T_AT(d, k, r) t[((size_t)(d) * NCASES + (k)) * reps + (r)]
    for (int d = 0; d < nd && !s; d++) {
        const double es = (double)dytcl_dtype_size(sb[d].dt), n = (double)sb[d].rows * sb[d].cols;
        if (sb[d].dt == DYTCL_F32) f32 = d;
        for (int k = 0; k < NCASES && !s; k++) {
            const norm_case *c = &cases[k];
            if (!case_wanted(k, only)) continue;
            bytes[d][k] = c->acts * es * n + c->bytes_per_row * sb[d].rows + c->bytes_per_col * sb[d].cols;
            for (int w = 0; w < 2 && !s; w++) s = c->fn(ctx, &sb[d]); /* warm: compiles, touches the pages */
            if (!s) batch[d][k] = bench_batch(ctx, c->fn, &sb[d]);
        }
    }
    double t_start = dytcl_now_ms();
    for (int r = 0; r < reps && !s; r++) {
        for (int d = 0; d < nd && !s; d++)
            for (int k = 0; k < NCASES && !s; k++)
                if (case_wanted(k, only)) s = bench_sample_us(ctx, cases[k].fn, &sb[d], batch[d][k], &T_AT(d, k, r));
        if (dytcl_now_ms() - t_start > 2000)
            fprintf(stderr, "bench norms: [%lld, %lld] round %d/%d\r", (long long)sb[0].rows, (long long)sb[0].cols,
                    r + 1, reps);
    }
    if (dytcl_now_ms() - t_start > 2000) fprintf(stderr, "\n");
    for (int k = 0; k < NCASES && !s; k++) {
        const norm_case *c = &cases[k];
        if (!case_wanted(k, only)) continue;
        for (int d = 0; d < nd; d++) {
            for (int r = 0; r < reps; r++) frac[r] = (bytes[d][k] / T_AT(d, k, r)) / (bytes[d][0] / T_AT(d, 0, r));
            const double f50 = bench_quantile(frac, reps, 0.5), f25 = bench_quantile(frac, reps, 0.25),
                         f75 = bench_quantile(frac, reps, 0.75);
            double vs = 0; /* time over f32's, per round, median */
            if (f32 >= 0) {
                for (int r = 0; r < reps; r++) frac[r] = T_AT(d, k, r) / T_AT(f32, k, r);
                vs = bench_quantile(frac, reps, 0.5);
            }
            double *tk = &T_AT(d, k, 0);
            const double us = bench_median(tk, reps), gbps = bytes[d][k] / (us * 1e3);
            const int odd = gbps > 1.5 * host_copy_gbps; /* in cache, or a timer that lies */
            *suspect |= odd;
            printf("%-17s %-4s %-4s %6lld %5lld %11.1f %7.1f %9.2f%s %7.3f  %.3f-%.3f", c->op, c->pass,
                   dytcl_dtype_name(sb[d].dt), (long long)sb[d].rows, (long long)sb[d].cols, us, empty_us > 0 ? us / empty_us : 0.0, gbps,
                   odd ? "!" : " ", f50, f25, f75);
            if (f32 >= 0) printf("  %6.3f", vs);
            printf("\n");
            json_t *rec = json_pack("{s:s, s:s, s:I, s:I, s:s, s:f, s:f, s:f, s:f, s:f, s:i, s:s, s:b}", "op", c->op,
                                    "pass", c->pass, "rows", (json_int_t)sb[d].rows, "cols", (json_int_t)sb[d].cols,
                                    "dtype", dytcl_dtype_name(sb[d].dt), "median_us", us, "gbps", gbps,
                                    "frac_of_copy", f50, "frac_p25", f25, "frac_p75", f75, "rounds", reps, "timer",
                                    timer, "above_host_copy", odd);
            if (f32 >= 0) json_object_set_new(rec, "time_vs_f32", json_real(vs));
            if (empty_us > 0) json_object_set_new(rec, "times_empty", json_real(us / empty_us));
            json_array_append_new(records, rec);
        }
    }
    for (int k = 1; k < NCASES && !s; k++) {
        if (!is_fused(k) || !case_wanted(k, only) || !case_wanted(k - 1, only)) continue;
        for (int d = 0; d < nd; d++) {
            for (int r = 0; r < reps; r++) frac[r] = T_AT(d, k, r) / T_AT(d, k - 1, r);
            const double q50 = bench_quantile(frac, reps, 0.5), q25 = bench_quantile(frac, reps, 0.25),
                         q75 = bench_quantile(frac, reps, 0.75);
            printf("%-17s %-4s %-4s %6lld %5lld  time over %s's: %.3f  (quartiles %.3f-%.3f)\n", cases[k].op,
                   cases[k].pass, dytcl_dtype_name(sb[d].dt), (long long)sb[d].rows, (long long)sb[d].cols,
                   cases[k - 1].op, q50, q25, q75);
            json_array_append_new(records,
                                  json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:f, s:f, s:f, s:i}", "op", cases[k].op,
                                            "pass", cases[k].pass, "rows", (json_int_t)sb[d].rows, "cols",
                                            (json_int_t)sb[d].cols, "dtype", dytcl_dtype_name(sb[d].dt), "unfused",
                                            cases[k - 1].op, "fused_over_unfused", q50, "ratio_p25", q25, "ratio_p75",
                                            q75, "rounds", reps));
        }
    }
#undef T_AT
    free(t), free(frac);
    return s;
}

int bench_norms(const bench_norms_opts *o, char *err, size_t cap)
{
    const int quick = o->quick, nd = o->ndtypes;
    const int reps = quick ? 7 : o->reps, iters = quick && o->iters ? 3 : o->iters;
    const dytcl_dtype *dts = o->dtypes;
    const char *only = o->only;
    const long long one_rows = o->rows, one_cols = o->cols;
    if (reps < 1 || iters < 0 || nd < 1 || nd > 3) return bench_fail(err, cap, "reps >= 1, iters >= 0, 1 to 3 dtypes");
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.device = o->device};
    if (dytcl_ctx_create(&opt, &ctx) != DYTCL_OK) return bench_fail(err, cap, "%s", dytcl_last_error(NULL));
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    printf("device: %s (%s, driver %s)\n", dev.name, dev.platform, dev.driver_version);
    printf("        %s (PoCL names its LLVM target here)\n", dev.device_version);

    const int64_t all_rows[] = {1, 16, 512, 4096, 16384}, quick_rows[] = {1, 512, 4096};
    const int64_t all_cols[] = {768, 4096}, quick_cols[] = {4096};
    const int64_t *rows = quick ? quick_rows : all_rows, *cols = quick ? quick_cols : all_cols;
    int nrows = quick ? 3 : 5, ncols = quick ? 1 : 2;
    const int64_t shape_rows[] = {one_rows}, shape_cols[] = {one_cols};
    if (one_rows) rows = shape_rows, cols = shape_cols, nrows = ncols = 1;

    dytcl_timer_info ti = {0};
    double host_copy = 0;
    dytcl_status s = dytcl_timer_check(ctx, &ti);
    if (!s) s = bench_host_copy_gbps(ctx, &host_copy);
    const char *timer = ti.host ? "host" : "events";
    printf("timer:  %s\n", ti.reason);
    printf("copy bandwidth by the host clock (64 MiB): %.2f GB/s\n", host_copy);

    json_t *records = json_array();
    shape_bufs sb[3] = {{0}};
    double empty_us = 0;
    int suspect = 0;
    printf("\n%-17s %-4s %-4s %6s %5s %11s %7s %9s  %7s  %-11s %s\n", "op", "pass", "type", "rows", "C", "median_us",
           "x_empty", "GB/s", "of_copy", "quartiles", "vs_f32");
    fflush(stdout);
    for (int ci = 0; ci < ncols && !s; ci++) {
        for (int ri = 0; ri < nrows && !s; ri++) {
            for (int d = 0; d < nd && !s; d++) s = shape_alloc(ctx, &sb[d], rows[ri], cols[ci], dts[d]);
            if (s) break;
            if (!empty_us) { /* a one-element copy: the latency of a near-empty kernel */
                shape_bufs one = sb[0];
                one.y = dytcl_tensor_as(dytcl_tensor_1d(sb[0].y.buf, 0, 1), sb[0].dt);
                one.x = dytcl_tensor_as(dytcl_tensor_1d(sb[0].x.buf, 0, 1), sb[0].dt);
                if ((s = bench_median_us(ctx, run_copy, &one, 3, reps, &empty_us))) break;
                printf("%-17s %-4s %-4s %6d %5d %11.1f\n", "empty(1 element)", "fwd", dytcl_dtype_name(sb[0].dt), 1, 1,
                       empty_us);
            }
            s = measure_shape(ctx, sb, nd, reps, host_copy, empty_us, timer, only, records, &suspect);
            fflush(stdout);
            for (int d = 0; d < nd && !s; d++)
                if (iters > 0 && sb[d].rows == 4096 && sb[d].cols == 4096) s = protocol(ctx, &sb[d], iters, records);
            for (int d = 0; d < nd; d++) shape_free(&sb[d]);
        }
    }
    if (suspect)
        printf("\n! above 1.5x the host-timed copy bandwidth: the data fit in a cache, or the timer is wrong\n");
    if (ti.host)
        printf("\nTimes are host wall time over batches of runs (the driver's profiling events failed the check):\n"
               "they include launch and synchronisation costs that event times leave out.\n");
    json_array_append_new(records, json_pack("{s:s, s:s, s:f, s:s}", "op", "empty", "pass", "fwd", "median_us", empty_us,
                                             "timer", timer));
    int code = 0;
    if (s) {
        code = bench_fail(err, cap, "%s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    } else if (o->json) {
        json_t *d = bench_device_json(ctx, &dev);
        json_object_set_new(d, "host_copy_gbps", json_real(host_copy));
        json_object_set_new(d, "device_version", json_string(dev.device_version));
        code = bench_write_json(o->json, d, records, err, cap);
        json_decref(d);
    }
    if (!code && o->png) {
        static const char *const series[] = {"copy/fwd", "dyt/fwd", "rmsnorm/fwd", "layernorm/fwd",
                                             "dyt/bwd", "rmsnorm/bwd", "residual_dyt/fwd",
                                             "residual_rmsnorm/fwd"};
        char title[256];
        snprintf(title, sizeof title, "dytcl norms, %s, %s", dytcl_dtype_name(dts[0]), dev.name);
        json_t *first = json_array(); /* one dtype per plot: the first asked for */
        size_t i;
        json_t *r;
        json_array_foreach(records, i, r) {
            json_t *dt = json_object_get(r, "dtype");
            if (dt && !strcmp(json_string_value(dt), dytcl_dtype_name(dts[0]))) json_array_append(first, r);
        }
        code = bench_plot_gbps(o->png, title, first, 4096, series, 8, err, cap);
        json_decref(first);
    }
    for (int d = 0; d < nd; d++) shape_free(&sb[d]);
    json_decref(records);
    dytcl_ctx_free(ctx);
    return code;
}
