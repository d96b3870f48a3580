/* model_pass.c -- the language models' front end (token embedding, learned
 * positions in gpt, emb_scale in llama with DyT/Derf) and head (the lm head
 * and cross-entropy over tokens) around the transformer core (block.c),
 * forward and backward, and decoding. Shapes: BT = B*T rows, C channels, V
 * vocabulary. Every call is one of dytcl's public ops. */
#include <math.h>
#include <string.h>

#include "model_internal.h"


/* Token (and position) embeddings into res[0], positions from pos on;
 * llama-DyT scales them. */
static dytcl_status embed_forward(dytcl_model *m, dytcl_tensor tokens, int pos)
{
    int64_t BT = (int64_t)m->B * m->T;
    dytcl_tensor res0 = A2(res, 0, BT, m->C);
    dytcl_tensor wte = dy_at2(m->params, m->wte, m->V, m->C);
    /* row r takes wpe[r % T]: the view is rows pos..pos+T-1 */
    dytcl_tensor wpe = dy_at2(m->params, m->wpe == NONE ? NONE : m->wpe + (size_t)pos * m->C, m->T, m->C);
    if (m->emb_scale == NONE) {
        TRY(dytcl_embedding_forward(m->ctx, res0, tokens, wte, wpe, m->T), "embedding forward");
        return DYTCL_OK;
    }
    dytcl_tensor emb = A2(emb, 0, BT, m->C);
    TRY(dytcl_embedding_forward(m->ctx, emb, tokens, wte, wpe, m->T), "embedding forward");
    TRY(dytcl_scale_forward(m->ctx, res0, emb, dy_at(m->params, m->emb_scale, 1)), "embedding scale");
    return DYTCL_OK;
}

/* The lm head's weight [V, C] as the forward reads it (the half-width copy
 * when the model holds one): wte in gpt (tied), lm_head.weight otherwise. */
static dytcl_tensor lm_weight(const dytcl_model *m)
{
    return dy_weight(m, m->lm_head, m->V, m->C);
}

static dytcl_status upload_batch(dytcl_model *m, const int32_t *tokens, const int32_t *targets)
{
    size_t BT = (size_t)m->B * m->T;
    m->valid = 0;
    for (size_t i = 0; targets && i < BT; i++) m->valid += targets[i] != -1;
    TRY(dytcl_buf_write(m->ctx, m->io, 0, tokens, BT * sizeof(int32_t)), "upload tokens");
    if (targets) TRY(dytcl_buf_write(m->ctx, m->io, BT * sizeof(int32_t), targets, BT * sizeof(int32_t)), "upload targets");
    return DYTCL_OK;
}

/* The forward pass over the uploaded batch at positions pos.. (pos > 0
 * only with the KV cache), to the logits: of every row, or of the last row
 * alone (last_only: decoding, which returns only those). */
static dytcl_status forward_to_logits(dytcl_model *m, int pos, int last_only)
{
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_status s;
    /* res[0] = wte[tokens] (+ wpe[t]) (* emb_scale)            [BT, C] */
    if ((s = embed_forward(m, dy_at(m->io, 0, BT), pos))) return s;
    /* lnf = normf(x_L), through every block                     [BT, C] */
    if ((s = dy_trunk_forward(m, pos))) return s;
    /* logits = lnf Wlm^T (+ b)                                  [BT, C] -> [BT, V] */
    const int64_t r0 = last_only ? BT - 1 : 0, R = BT - r0;
    TRY(dytcl_linear_forward(m->ctx, dy_at2(m->acts, m->a.logits + (size_t)r0 * m->V, R, m->V),
                             dy_at2(m->acts, m->a.lnf + (size_t)r0 * C, R, C), lm_weight(m),
                             dy_at(m->params, m->lm_head_b, m->V)),
        "lm head");
    return DYTCL_OK;
}

dytcl_status dytcl_model_forward(dytcl_model *m, const int32_t *tokens, const int32_t *targets)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s && m->c.arch == DYTCL_ARCH_VIT)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_forward: a vit takes images (dytcl_model_forward_images)");
    if (!s) s = dy_gate_ptr(m, __func__, tokens, "tokens");
    if (!s) s = dy_gate(m, __func__, DY_NEED_IDLE | DY_NEED_BATCH);
    int64_t BT = s ? 0 : (int64_t)m->B * m->T;
    if (!s) s = dy_gate_ids(m, __func__, "tokens", tokens, (size_t)BT, 0);
    if (!s && targets) s = dy_gate_ids(m, __func__, "targets", targets, (size_t)BT, 1);
    if (s) return s;
    dy_gate_forward(m, 0, 0);
    if ((s = upload_batch(m, tokens, targets)) || (s = forward_to_logits(m, 0, 0))) return s;
    if (targets) {
        dytcl_ctx *ctx = m->ctx;
        dytcl_tensor logits = A2(logits, 0, BT, m->V), tgt = dy_at(m->io, (size_t)BT, BT), none = {0};
        TRY(dytcl_cross_entropy(ctx, A(losses, 0, BT), none, logits, tgt, 1.0f), "cross-entropy");
        TRY(dytcl_cross_entropy_mean(ctx, dy_at(m->stats, 2 + (size_t)m->slot, 1), A(losses, 0, BT), tgt),
            "mean loss");
        m->slot = (m->slot + 1) % LOSS_SLOTS;
    }
    dy_gate_forward(m, 1, targets != NULL);
    return DYTCL_OK;
}

/* -------------------------------------------------------------- backward */

static dytcl_status embed_backward(dytcl_model *m, dytcl_tensor tokens)
{
    int64_t BT = (int64_t)m->B * m->T;
    dytcl_tensor dres = A2(dres, 0, BT, m->C);
    if (m->emb_scale != NONE)
        TRY(dytcl_scale_backward(m->ctx, dres, dy_at(m->grads, m->emb_scale, 1), 1, dres, A2(emb, 0, BT, m->C),
                                 dy_at(m->params, m->emb_scale, 1)),
            "embedding scale backward");
    TRY(dytcl_embedding_backward(m->ctx, dy_at2(m->grads, m->wte, m->V, m->C),
                                 dy_at2(m->grads, m->wpe, m->T, m->C), 1, dres, tokens, m->T),
        "embedding backward");
    return DYTCL_OK;
}

dytcl_status dytcl_model_backward(dytcl_model *m, float grad_scale)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s && !isfinite(grad_scale))
        s = dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_backward: grad_scale %g is not finite",
                          (double)grad_scale);
    if (!s) s = dy_gate(m, __func__, DY_NEED_TARGETS);
    if (!s) s = dy_model_refuse_half(m, __func__);
    if (!s) s = dy_model_train_state(m); /* gradients and AdamW's state, at the first backward */
    if (s) return s;
    dy_gate_backward(m); /* the logits become their gradient */
    if (m->c.arch == DYTCL_ARCH_VIT) return dy_image_backward(m, grad_scale);
    dytcl_ctx *ctx = m->ctx;
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_tensor tok = dy_at(m->io, 0, BT), tgt = dy_at(m->io, (size_t)BT, BT);
    dytcl_tensor logits = A2(logits, 0, BT, m->V), dln = A2(dln, 0, BT, C);

    /* dlogits = (softmax - onehot) * grad_scale / valid, in place   [BT, V]
     * (dytcl_model_distill wrote its own: they stay) */
    float scale = m->valid ? grad_scale / (float)m->valid : 0.0f;
    if (m->dlogits) m->dlogits = 0;
    else TRY(dytcl_cross_entropy(ctx, A(losses, 0, BT), logits, logits, tgt, scale), "cross-entropy backward");
    /* dln = dlogits Wlm, dWlm += dlogits^T lnf                   [BT, V] -> [BT, C] */
    TRY(dytcl_linear_backward(ctx, dln, dy_at2(m->grads, m->lm_head, m->V, C), (dytcl_tensor){0}, 1, logits,
                              A2(lnf, 0, BT, C), dy_at2(m->params, m->lm_head, m->V, C)),
        "lm head backward");
    /* dres = the gradient of res[0], through every block          [BT, C] */
    if ((s = dy_trunk_backward(m))) return s;
    /* dwte (, dwpe, demb_scale) from dres */
    return embed_backward(m, tok);
}

/* ------------------------------------------------------------- decoding */

dytcl_status dytcl_model_decode(dytcl_model *m, const int32_t *tokens, int n, int pos, float *logits)
{
    dytcl_status s = dy_gate(m, __func__, DY_NEED_LM);
    if (!s) s = dy_gate_ptr(m, __func__, tokens, "tokens");
    if (!s) s = dy_gate_ptr(m, __func__, logits, "logits");
    if (!s) s = dy_gate(m, __func__, DY_NEED_DECODING);
    if (!s) s = dy_gate_decode(m, __func__, n, pos);
    if (!s) s = dy_gate_ids(m, __func__, "tokens", tokens, (size_t)n, 0);
    if (s) return s;
    /* from here on the cache past pos is being overwritten */
    dy_gate_decoded(m, pos < m->gate.decoded ? pos : m->gate.decoded);
    if ((s = dytcl_model_set_batch(m, 1, n))) return s;
    dy_gate_forward(m, 0, 0);
    if ((s = upload_batch(m, tokens, NULL)) || (s = forward_to_logits(m, pos, 1))) return s;
    dy_gate_forward(m, 1, 0);
    if (n > 1) m->gate.logits = 0; /* only the last row was computed: nothing for read_logits */
    dy_gate_decoded(m, pos + n);
    TRY(dytcl_buf_read(m->ctx, m->acts, (m->a.logits + (size_t)(n - 1) * m->V) * sizeof(float), logits,
                       (size_t)m->V * sizeof(float)),
        "read logits");
    return DYTCL_OK;
}
