/* test_train.c -- models learn: on text from a random Markov chain the best
 * possible loss is the chain's entropy rate H (computed exactly), and a
 * small model trained with the library's AdamW reaches a validation loss
 * within 3% of H, with DyT and with RMSNorm, GPT and LLaMA. The first
 * target of each validation window is not counted: it has no previous byte
 * to condition on, so H does not bound it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "data.h"
#include "markov.h"
#include "markov_train.h"
#include "dytcl_model.h"

enum { B = 16, T = 32, N_BYTES = 300000, STEPS = 800 };

/* The validation loss after training, over the whole val split. */
static double train_and_eval(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, const text_data *d)
{
    dytcl_model_config c = {0};
    c.arch = arch, c.norm = norm, c.max_seq = T, c.n_layer = 1, c.n_head = 2, c.d_model = 32;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    dytcl_status s = dytcl_model_create(ctx, &c, 7, &m);
    CHECK(s == DYTCL_OK, "dytcl_model_create: %s", dytcl_last_error(ctx));
    if (s) return INFINITY;
    CHECK(dytcl_model_set_batch(m, B, T) == DYTCL_OK, "%s", dytcl_last_error(dytcl_model_ctx(m)));
    s = markov_train(m, d, B, T, STEPS);
    CHECK(s == DYTCL_OK, "training %s-%s: %s", dytcl_arch_name(arch), dytcl_norm_kind_name(norm),
          dytcl_last_error(dytcl_model_ctx(m)));
    double val = INFINITY;
    int32_t tok[B * T], tgt[B * T];
    double sum = 0, count = 0;
    for (int i = 0; !s && i < text_data_val_batches(d, B, T); i++) {
        text_data_val_batch(d, i, B, T, tok, tgt);
        int valid = 0;
        for (int r = 0; r < B; r++) tgt[r * T] = -1; /* no context for the first byte */
        for (int j = 0; j < B * T; j++) valid += tgt[j] != -1;
        float loss;
        if ((s = dytcl_model_forward(m, tok, tgt)) || (s = dytcl_model_read_loss(m, &loss))) break;
        if (valid) sum += (double)loss * valid, count += valid;
    }
    CHECK(s == DYTCL_OK, "evaluating: %s", dytcl_last_error(dytcl_model_ctx(m)));
    if (!s && count) val = sum / count;
    dytcl_model_free(m);
    return val;
}

int main(void)
{
    markov_chain mc;
    CHECK(markov_init(&mc, 16, 2024) == 0, "markov_init");
    double H = markov_entropy_rate(&mc);
    uint8_t *bytes = malloc(N_BYTES);
    markov_sample(&mc, 5, N_BYTES, bytes);
    text_data *d = NULL;
    char err[512];
    CHECK(text_data_from_memory(bytes, N_BYTES, 0.2, T, &d, err, sizeof err) == 0, "%s", err);
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    const struct {
        dytcl_arch a;
        dytcl_norm_kind n;
    } runs[] = {{DYTCL_ARCH_LLAMA, DYTCL_NORM_DYT},
                {DYTCL_ARCH_LLAMA, DYTCL_NORM_RMSNORM},
                {DYTCL_ARCH_GPT, DYTCL_NORM_DYT},
                {DYTCL_ARCH_GPT, DYTCL_NORM_RMSNORM}};
    for (size_t i = 0; d && ctx && i < sizeof runs / sizeof runs[0]; i++) {
        double val = train_and_eval(ctx, runs[i].a, runs[i].n, d);
        printf("%s-%s: val loss %.4f nats, entropy rate %.4f (%.2f%% above)\n", dytcl_arch_name(runs[i].a),
               dytcl_norm_kind_name(runs[i].n), val, H, 100 * (val / H - 1));
        CHECK(val <= 1.03 * H, "%s-%s: val loss %.4f is more than 3%% above the entropy rate %.4f",
              dytcl_arch_name(runs[i].a), dytcl_norm_kind_name(runs[i].n), val, H);
        CHECK(val >= 0.97 * H, "%s-%s: val loss %.4f is below the entropy rate %.4f by more than noise",
              dytcl_arch_name(runs[i].a), dytcl_norm_kind_name(runs[i].n), val, H);
    }
    text_data_free(d);
    dytcl_ctx_free(ctx);
    free(bytes);
    return check_done("test_train");
}
