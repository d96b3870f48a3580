/* markov_train.h -- the training loop of the tests that train a model on
 * Markov-chain text (test_train, test_model_half): AdamW at lr 1e-2, 20
 * warm-up steps then cosine to 1e-3, clipping at 1, batches of B x T drawn
 * from d's training split by generator seed 99. */
#ifndef DYTCL_MARKOV_TRAIN_H
#define DYTCL_MARKOV_TRAIN_H

#include <stdint.h>
#include <stdlib.h>

#include "data.h"
#include "dytcl_model.h"

/* `steps` steps on m, whose batch is B x T. Returns the first failing
 * status (the message in the model's context), or DYTCL_OK. */
static inline dytcl_status markov_train(dytcl_model *m, const text_data *d, int B, int T, int steps)
{
    int32_t *tok = malloc((size_t)B * T * sizeof *tok), *tgt = malloc((size_t)B * T * sizeof *tgt);
    uint64_t rng = 99;
    dytcl_status s = tok && tgt ? DYTCL_OK : DYTCL_ERR_HOST_MEMORY;
    const dytcl_model_optim o = {.lr = 1e-2f, .min_lr_frac = 0.1f, .warmup = 20, .steps = steps, .beta1 = 0.9f,
                                 .beta2 = 0.95f, .eps = 1e-8f, .clip = 1.0f};
    for (int step = 1; step <= steps && !s; step++) {
        text_data_train_batch(d, B, T, &rng, tok, tgt);
        (void)((s = dytcl_model_zero_grad(m)) || (s = dytcl_model_forward(m, tok, tgt)) ||
               (s = dytcl_model_backward(m, 1.0f)) || (s = dytcl_model_step(m, &o, step)));
    }
    free(tok);
    free(tgt);
    return s;
}

#endif
