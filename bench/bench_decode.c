/* bench_decode.c -- `dytcl bench decode`: decoding tokens/s with the linear
 * layers' weights in f32, f16, bf16 and q8 (dytcl_model_set_weight_dtype),
 * one model in one process, the four interleaved round after round so that
 * a shared machine's noise falls on all of them alike.
 *
 * The model is a random llama-dyt (weights do not change the speed), folded
 * as dytcl generate runs it. A round per dtype: the KV cache begun, an
 * 8-token prompt, then --tokens single-token steps timed by the host clock,
 * each ending in its logits' read, as generation does. Reported: the median
 * tokens/s of each dtype over the rounds, the median of the rounds' ratios
 * to f32, the weight bytes a token reads (the linear layers': 4, 2, or for
 * q8 1 + 4/32 per weight), and the fraction of the bandwidth limit: tokens/s
 * times those bytes over the device's copy bandwidth (bench_host_copy_gbps,
 * measured in the same run). Decoding one token reads every weight once, so
 * where it is memory-bound half-width weights approach 2x and q8 3.6x. A
 * model whose widths are not multiples of 32 has no q8 row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dytcl_model.h"

enum { NDT = 4 };
static const dytcl_dtype dts[NDT] = {DYTCL_F32, DYTCL_F16, DYTCL_BF16, DYTCL_Q8};

/* Weight bytes per weight as dt stores it (q8: the quant and 1/32 of a float scale). */
static double bytes_per_weight(dytcl_dtype dt)
{
    return dt == DYTCL_Q8 ? 1.0 + 4.0 / 32.0 : (double)dytcl_dtype_size(dt);
}

double bench_decode_rate(dytcl_model *m, int n, float *logits)
{
    const int V = dytcl_model_get_config(m)->vocab;
    int32_t prompt[8];
    for (int i = 0; i < 8; i++) prompt[i] = 'a' + i;
    if (dytcl_model_decode_begin(m) || dytcl_model_decode(m, prompt, 8, 0, logits)) return -1;
    const double t0 = dytcl_now_ms();
    for (int i = 0; i < n; i++) {
        /* the next token depends on the last logits, as sampling does */
        int32_t tok = (int32_t)((unsigned)fabsf(logits[i % V] * 1e3f) % (unsigned)V);
        if (dytcl_model_decode(m, &tok, 1, 8 + i, logits)) return dytcl_model_decode_end(m), -1;
    }
    const double ms = dytcl_now_ms() - t0;
    dytcl_model_decode_end(m);
    return n / ms * 1e3;
}

int bench_decode(const bench_decode_opts *o, char *err, size_t cap)
{
    const int dim = o->dim, layers = o->layers, heads = o->heads, tokens = o->tokens;
    const int rounds = o->rounds < 64 ? o->rounds : 64;
    dytcl_model_config c = {0};
    c.arch = DYTCL_ARCH_LLAMA, c.norm = DYTCL_NORM_DYT, c.n_layer = layers, c.n_head = heads, c.d_model = dim;
    c.max_seq = tokens + 8;
    dytcl_model_config_defaults(&c);
    dytcl_ctx *ctx = NULL;
    dytcl_model *raw = NULL, *m = NULL;
    float *logits = NULL;
    double rate[NDT][64], ratio[NDT][64], gbps = 0;
    int nd = NDT;
    int rc = 1;
    if (dytcl_ctx_create(NULL, &ctx)) return bench_fail(err, cap, "%s", dytcl_last_error(NULL));
    if (dytcl_model_create(ctx, &c, 1, &raw) || dytcl_model_fold(raw, &m)) {
        bench_fail(err, cap, "%s", dytcl_last_error(ctx));
        goto done;
    }
    if (!(logits = malloc(sizeof(float) * (size_t)c.vocab))) {
        bench_fail(err, cap, "out of memory");
        goto done;
    }
    /* linear weights: every parameter but the embedding table and the norms' vectors */
    const double weights = (double)dytcl_model_param_count(dytcl_model_get_config(m)) - (double)c.vocab * c.d_model;
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    printf("decode: llama-dyt d_model %d, %d layers, %d heads, %.1fM linear weights; %d tokens x %d rounds, "
           "interleaved; device %s\n", dim, layers, heads, weights / 1e6, tokens, rounds, dev.name);
    for (int k = 0; k < nd; k++) { /* warm-up: kernels compiled, caches filled */
        if (dts[k] == DYTCL_Q8 && dytcl_model_set_weight_dtype(m, dts[k])) {
            printf("(no q8: %s)\n", dytcl_last_error(ctx));
            nd = k;
            break;
        }
        if (dytcl_model_set_weight_dtype(m, dts[k]) || bench_decode_rate(m, 4, logits) < 0) {
            bench_fail(err, cap, "%s", dytcl_last_error(ctx));
            goto done;
        }
    }
    if (bench_host_copy_gbps(ctx, &gbps)) {
        bench_fail(err, cap, "%s", dytcl_last_error(ctx));
        goto done;
    }
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nd; k++) {
            if (dytcl_model_set_weight_dtype(m, dts[k]) || (rate[k][r] = bench_decode_rate(m, tokens, logits)) < 0) {
                bench_fail(err, cap, "%s", dytcl_last_error(ctx));
                goto done;
            }
        }
    printf("%-6s %12s %12s %14s %14s\n", "dtype", "tokens/s", "vs f32", "weight MB/tok", "of bandwidth");
    for (int k = 0; k < nd; k++) {
        for (int r = 0; r < rounds; r++) ratio[k][r] = rate[k][r] / rate[0][r];
        const double med = bench_median(rate[k], rounds), rat = bench_median(ratio[k], rounds);
        const double mb = weights * bytes_per_weight(dts[k]) / 1e6;
        printf("%-6s %12.1f %11.2fx %14.1f %13.0f%%\n", dytcl_dtype_name(dts[k]), med, rat, mb,
               100.0 * med * mb / (gbps * 1e3));
    }
    printf("(medians over the rounds; \"vs f32\" is the median of each round's ratio; \"of bandwidth\": "
           "tokens/s x weight bytes over the copy bandwidth, %.1f GB/s)\n", gbps);
    rc = 0;
done:
    free(logits);
    dytcl_model_free(m), dytcl_model_free(raw);
    dytcl_ctx_free(ctx);
    return rc;
}
