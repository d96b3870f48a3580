/* markov_decode.h -- what the inference tests on Markov-chain models share
 * (test_model_half, test_model_q8): a small model trained on the chain's
 * text (markov_train.h), and greedy decoding through the KV cache. */
#ifndef DYTCL_MARKOV_DECODE_H
#define DYTCL_MARKOV_DECODE_H

#include <stdint.h>

#include "check.h"
#include "markov_train.h"

/* A 2-layer, 2-head, d_model 32 model of arch and norm (max_seq 64, seed
 * 7) after `steps` steps on batches of B x T of d; NULL (a failed check)
 * when it cannot be made. */
static inline dytcl_model *markov_model(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, const text_data *d,
                                        int B, int T, int steps)
{
    dytcl_model_config c = {0};
    c.arch = arch, c.norm = norm, c.max_seq = 64, c.n_layer = 2, c.n_head = 2, c.d_model = 32;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 7, &m));
    if (!m) return NULL;
    CHECK_OK(ctx, dytcl_model_set_batch(m, B, T));
    const dytcl_status s = markov_train(m, d, B, T, steps);
    CHECK(s == DYTCL_OK, "training: %s", dytcl_last_error(ctx));
    return m;
}

/* Greedy decoding: the prompt [np] at once (the many-row path), then n
 * steps of one token; tokens [n] and every step's logits [n, V]. forced
 * (not NULL): fed instead of the argmax (teacher forcing). */
static inline void markov_greedy(dytcl_model *m, const int32_t *prompt, int np, const int32_t *forced, int n,
                                 int32_t *tokens, float *logits)
{
    const int V = dytcl_model_get_config(m)->vocab;
    CHECK_OK(dytcl_model_ctx(m), dytcl_model_decode_begin(m));
    CHECK_OK(dytcl_model_ctx(m), dytcl_model_decode(m, prompt, np, 0, logits));
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * V;
        int best = 0;
        for (int v = 1; v < V; v++) best = z[v] > z[best] ? v : best;
        tokens[i] = best;
        if (i + 1 < n)
            CHECK_OK(dytcl_model_ctx(m), dytcl_model_decode(m, forced ? &forced[i] : &tokens[i], 1, np + i,
                                                            logits + (size_t)(i + 1) * V));
    }
    dytcl_model_decode_end(m);
}

#endif
