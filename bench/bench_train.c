/* bench_train.c -- `dytcl bench train`: one model shape with DyT, RMSNorm
 * and LayerNorm as its norms, the same everything else:
 *   - training: tokens/s of a whole step (forward, backward, clipping,
 *     AdamW, one host read), wall clock, median of --steps steps after a
 *     warm-up;
 *   - the share of the step's device time spent in norm layers (forward and
 *     backward, residual adds fused in where the norm has a fused kernel),
 *     from a separate step with each norm call timed by profiling events;
 *   - generation: tokens/s decoding one token at a time with the KV cache
 *     (DyT folded into the next linear layers, as dytcl generate runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "dytcl_model.h"

typedef struct {
    dytcl_arch arch;
    int layers, dim, heads, batch, seq, steps, gen;
    const char *json;
} opts;

typedef struct {
    double step_ms, train_tok_s, norm_share, step_device_ms, norm_ms, gen_tok_s;
} result;

/* One training step on fixed random tokens; returns non-zero on failure. */
static int step(dytcl_model *m, const int32_t *tok, const int32_t *tgt, int n)
{
    dytcl_model_optim o = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                           .clip = 1.0f};
    float loss, gn;
    return dytcl_model_zero_grad(m) || dytcl_model_forward(m, tok, tgt) || dytcl_model_backward(m, 1.0f) ||
           dytcl_model_step(m, &o, n) || dytcl_model_step_stats(m, &loss, 1, &gn);
}

static int measure(dytcl_ctx *ctx, const opts *o, dytcl_norm_kind norm, result *r)
{
    dytcl_model_config c = {0};
    c.arch = o->arch, c.norm = norm, c.max_seq = o->seq, c.n_layer = o->layers, c.n_head = o->heads;
    c.d_model = o->dim;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    if (dytcl_model_create(ctx, &c, 1, &m)) return cli_error("bench train", 1, "%s", dytcl_last_error(ctx));
    size_t BT = (size_t)o->batch * o->seq;
    int32_t *tok = malloc(BT * sizeof *tok), *tgt = malloc(BT * sizeof *tgt);
    double *ms = malloc(sizeof(double) * (size_t)o->steps);
    int rc = 1;
    uint64_t seed = 12345;
    for (size_t i = 0; i < BT; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)(seed >> 56), tgt[i] = (int32_t)((seed >> 48) & 255);
    }
    if (dytcl_model_set_batch(m, o->batch, o->seq)) goto fail;
    /* warm-up: compiles kernels for these shapes */
    for (int i = 1; i <= 2; i++)
        if (step(m, tok, tgt, i)) goto fail;
    for (int i = 0; i < o->steps; i++) {
        double t0 = dytcl_now_ms();
        if (step(m, tok, tgt, 3 + i)) goto fail;
        ms[i] = dytcl_now_ms() - t0;
    }
    r->step_ms = bench_median(ms, o->steps);
    r->train_tok_s = BT / (r->step_ms / 1e3);
    /* device time of a step, then of its norm layers */
    double ns = 0;
    if (dytcl_profile_begin(ctx) || step(m, tok, tgt, 100) || dytcl_profile_end(ctx, &ns)) goto fail;
    r->step_device_ms = ns / 1e6;
    dytcl_model_profile_norms(m, 1);
    dytcl_model_norm_ns(m);
    if (step(m, tok, tgt, 101)) goto fail;
    r->norm_ms = dytcl_model_norm_ns(m) / 1e6;
    dytcl_model_profile_norms(m, 0);
    r->norm_share = r->norm_ms / r->step_device_ms;
    /* generation: prompt of 8 tokens, then o->gen single-token steps */
    dytcl_model *g = m;
    if ((norm == DYTCL_NORM_DYT || norm == DYTCL_NORM_DERF) && dytcl_model_fold(m, &g)) goto fail;
    float *logits = malloc(sizeof(float) * (size_t)c.vocab);
    int n = o->gen < o->seq - 8 ? o->gen : o->seq - 8;
    double t0 = 0;
    int bad = dytcl_model_decode_begin(g) || dytcl_model_decode(g, tok, 8, 0, logits);
    for (int i = 0; !bad && i < n; i++) {
        if (i == 1) t0 = dytcl_now_ms(); /* the first step compiles for T = 1 */
        bad = dytcl_model_decode(g, tok + 8 + i, 1, 8 + i, logits);
    }
    r->gen_tok_s = n > 1 ? (n - 1) / ((dytcl_now_ms() - t0) / 1e3) : 0;
    free(logits);
    if (bad) {
        cli_error("bench train", 1, "generation: %s", dytcl_last_error(dytcl_model_ctx(g)));
        if (g != m) dytcl_model_free(g);
        goto done;
    }
    if (g != m) dytcl_model_free(g);
    rc = 0;
    goto done;
fail:
    cli_error("bench train", 1, "%s", dytcl_last_error(ctx));
done:
    free(tok), free(tgt), free(ms);
    dytcl_model_free(m);
    return rc;
}

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){DYTCL_ARCH_LLAMA, 4, 256, 4, 8, 128, 10, 64, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: dytcl bench train [--arch gpt|llama] [--layers N] [--dim N] [--heads N] [--batch B]\n"
                   "                         [--seq T] [--steps N] [--gen N] [--quick] [--json FILE]\n"
                   "defaults: llama, 4 layers, dim 256, 4 heads, 8 x 128 tokens, 10 timed steps, 64 generated\n");
            return 0;
        }
        if (!strcmp(a, "--quick")) {
            o->layers = 2, o->dim = 128, o->seq = 64, o->batch = 4, o->steps = 3, o->gen = 16;
            continue;
        }
        if (i + 1 >= argc) return cli_error("bench train", 2, "unknown option or missing value: %s", a);
        const char *v = argv[++i];
        int *field = !strcmp(a, "--layers") ? &o->layers : !strcmp(a, "--dim") ? &o->dim
                   : !strcmp(a, "--heads") ? &o->heads : !strcmp(a, "--batch") ? &o->batch
                   : !strcmp(a, "--seq") ? &o->seq : !strcmp(a, "--steps") ? &o->steps
                   : !strcmp(a, "--gen") ? &o->gen : NULL;
        char *end = NULL;
        long n = field ? strtol(v, &end, 10) : 0;
        if (!strcmp(a, "--json")) o->json = v;
        else if (!strcmp(a, "--arch")) {
            if (dytcl_arch_parse(v, &o->arch)) return cli_error("bench train", 2, "--arch gpt|llama, not %s", v);
        } else if (!field || *end || end == v || n < 1 || n > 100000)
            return cli_error("bench train", 2, "bad option or value: %s %s", a, v);
        else *field = (int)n;
    }
    if (o->seq < 10) return cli_error("bench train", 2, "--seq must be at least 10");
    return -1;
}

int bench_train(int argc, char **argv)
{
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx)) return cli_error("bench train", 1, "%s", dytcl_last_error(NULL));
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    printf("device: %s; %s, %d layers, d_model %d, %d heads, %d x %d tokens per step\n", dev.name,
           dytcl_arch_name(o.arch), o.layers, o.dim, o.heads, o.batch, o.seq);
    printf("\n%-10s %10s %12s %14s %12s %12s\n", "norm", "step ms", "train tok/s", "norm share", "norm ms", "gen tok/s");
    json_t *records = json_array();
    const dytcl_norm_kind norms[] = {DYTCL_NORM_DYT, DYTCL_NORM_RMSNORM, DYTCL_NORM_LAYERNORM};
    rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        result r = {0};
        if ((rc = measure(ctx, &o, norms[i], &r))) break;
        printf("%-10s %10.2f %12.0f %13.1f%% %12.3f %12.1f\n", dytcl_norm_kind_name(norms[i]), r.step_ms, r.train_tok_s,
               100 * r.norm_share, r.norm_ms, r.gen_tok_s);
        json_array_append_new(records,
                              json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "arch",
                                        dytcl_arch_name(o.arch), "norm", dytcl_norm_kind_name(norms[i]), "layers",
                                        o.layers, "dim", o.dim, "heads", o.heads, "batch", o.batch, "seq", o.seq,
                                        "step_ms", r.step_ms, "train_tokens_per_s", r.train_tok_s, "step_device_ms",
                                        r.step_device_ms, "norm_ms", r.norm_ms, "norm_share", r.norm_share,
                                        "generate_tokens_per_s", r.gen_tok_s));
    }
    printf("(step: wall clock, median; norm share: device time of the norm layers / of the whole step)\n");
    if (!rc && o.json) {
        json_t *d = bench_device_json(ctx, &dev);
        rc = bench_write_json(o.json, d, records);
        json_decref(d);
    }
    json_decref(records);
    dytcl_ctx_free(ctx);
    return rc;
}
