/* model_image.c -- the ViT's front end (patch embedding, the class token,
 * learned positions) and head (cls or mean pooling, a linear layer,
 * cross-entropy over classes, label smoothing) around the transformer core
 * (block.c, which drops residual branches per image: stochastic depth),
 * forward and backward. Shapes: B images, N patches of P = ch*p*p values,
 * T tokens (N, and the class token when pooling by it), BT = B*T rows, C
 * channels, K classes, NV = cls + B*N rows of the token table. Every call is
 * one of dytcl's public ops. */
#include <stdlib.h>

#include "model_internal.h"


/* After dytcl_model_set_batch sized the activations for B images: the image
 * buffer, the token of every row and the pooling weights. Row t of image b
 * takes the class token (row 0 of the table) at t = 0, else its patch
 * t - cls (row cls + b N + t - cls); sel is e0 (cls) or 1/T (mean). */
dytcl_status dy_image_batch(dytcl_model *m, int B)
{
    const size_t BT = (size_t)B * m->T;
    const dytcl_model_config *c = &m->c;
    dytcl_status s = dytcl_buf_create(m->ctx, (size_t)B * c->image_channels * c->image_height * c->image_width * 4,
                                      &m->img);
    if (s) return dy_lib_fail(m, s, "images");
    int32_t *tok = malloc(BT * sizeof *tok);
    float *sel = malloc((size_t)m->T * sizeof *sel);
    if (!tok || !sel) return free(tok), free(sel), dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "images: out of host memory");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < m->T; t++) tok[(size_t)b * m->T + t] = m->cls && t == 0 ? 0 : m->cls + b * m->N + t - m->cls;
    for (int t = 0; t < m->T; t++) sel[t] = m->cls ? (t == 0 ? 1.0f : 0.0f) : 1.0f / (float)m->T;
    s = dytcl_buf_write(m->ctx, m->io, 0, tok, BT * sizeof *tok);
    if (!s) s = dytcl_buf_write(m->ctx, m->acts, m->a.sel * sizeof(float), sel, (size_t)m->T * sizeof *sel);
    free(tok), free(sel);
    return dy_lib_fail(m, s, "upload tokens");
}

dytcl_status dytcl_model_regularize(dytcl_model *m, const dytcl_model_regularization *r)
{
    if (!m) return dy_model_bad_arg(m, __func__);
    dytcl_model_regularization none = {0};
    if (!r) r = &none;
    if (m->c.arch != DYTCL_ARCH_VIT && (r->drop_path != 0 || r->label_smoothing != 0))
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_regularize: the model is %s, not a vit",
                          dytcl_arch_name(m->c.arch));
    if (!(r->drop_path >= 0 && r->drop_path < 1) || !(r->label_smoothing >= 0 && r->label_smoothing <= 1))
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                          "dytcl_model_regularize: drop_path %g must lie in [0, 1), label_smoothing %g in [0, 1]",
                          (double)r->drop_path, (double)r->label_smoothing);
    m->reg = *r;
    return DYTCL_OK;
}

/* Stochastic depth's masks for this forward, [L][2][B]: block l's branch j
 * of image b is kept (1 / (1 - p_l)) when a uniform draw from the seed's
 * generator is at least p_l, else dropped (0); drawn in that order, for
 * every block (p_0 = 0 keeps all). */
static dytcl_status upload_masks(dytcl_model *m)
{
    const size_t n = 2 * (size_t)m->L * m->B;
    float *h = malloc(n * sizeof *h);
    if (!h) return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "drop path: out of host memory");
    uint64_t state = m->reg.seed;
    for (int l = 0; l < m->L; l++) {
        const float p = dy_drop_rate(m, l);
        for (int j = 0; j < 2 * m->B; j++) {
            double u = (double)(dytcl_rng_next(&state) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
            h[(size_t)l * 2 * m->B + j] = u >= p ? 1.0f / (1.0f - p) : 0.0f;
        }
    }
    dytcl_status s = dytcl_buf_write(m->ctx, m->acts, m->a.dpmask * sizeof(float), h, n * sizeof *h);
    free(h);
    return dy_lib_fail(m, s, "drop path masks");
}

dytcl_status dytcl_model_forward_images(dytcl_model *m, const float *images, const int32_t *labels)
{
    dytcl_status s = dy_gate(m, __func__, DY_NEED_VIT);
    if (!s) s = dy_gate_ptr(m, __func__, images, "images");
    if (!s) s = dy_gate(m, __func__, DY_NEED_BATCH);
    if (!s && labels) s = dy_gate_ids(m, __func__, "labels", labels, (size_t)m->B, 1);
    if (s) return s;
    dy_gate_forward(m, 0, 0);
    dytcl_ctx *ctx = m->ctx;
    const dytcl_model_config *c = &m->c;
    const int B = m->B, T = m->T, C = m->C, K = m->V;
    const int64_t BT = (int64_t)B * T, NV = m->cls + (int64_t)B * m->N, BN = (int64_t)B * m->N;
    m->valid = 0;
    for (int b = 0; labels && b < B; b++) m->valid += labels[b] != -1;
    TRY(dytcl_buf_write(ctx, m->img, 0, images, (size_t)B * c->image_channels * c->image_height * c->image_width * 4),
        "upload images");
    if (labels) TRY(dytcl_buf_write(ctx, m->io, (size_t)BT * 4, labels, (size_t)B * 4), "upload labels");
    /* the regularisation armed for this forward, then disarmed */
    m->drop_path = m->reg.drop_path, m->smoothing = m->reg.label_smoothing;
    if (m->drop_path > 0) TRY(upload_masks(m), "drop path");
    m->reg = (dytcl_model_regularization){0};

    /* front end: e = patches Wpatch^T + b                      [B, ch, H, W] -> [B N, P] -> [B N, C] */
    dytcl_tensor img = dy_at4(m->img, 0, B, c->image_channels, c->image_height, c->image_width);
    TRY(dytcl_patch_embed_forward(ctx, dy_at2(m->acts, m->a.table + (size_t)m->cls * C, BN, C), A(patches, 0, BN * m->P),
                                  img, dy_at2(m->params, m->patch_w, C, m->P), dy_at(m->params, m->patch_b, C), c->patch),
        "patch embedding");
    /* table = [cls; e]                                         [NV, C] */
    if (m->cls) TRY(dytcl_copy(ctx, dy_at(m->acts, m->a.table, C), dy_at(m->params, m->cls_tok, C)), "class token");
    /* res[0][b, t] = table[token of row (b, t)] + pos[t]       [BT, C] */
    TRY(dytcl_embedding_forward(ctx, A2(res, 0, BT, C), dy_at(m->io, 0, BT), A2(table, 0, NV, C),
                                dy_at2(m->params, m->wpe, T, C), T),
        "positions");

    /* lnf = normf(x_L), through every block                    [BT, C] */
    if ((s = dy_trunk_forward(m, 0))) return s;

    /* head: pooled[b] = sel . lnf[b]                           [1, T] x [T, C] -> [1, C], B of them */
    dytcl_tensor lnf = A2(lnf, 0, BT, C), pooled = A2(pooled, 0, B, C), logits = A2(logits, 0, B, K);
    TRY(dytcl_gemm_batched(ctx, 0, 0, 1, C, T, 1.0f, A(sel, 0, T), 0, lnf, (int64_t)T * C, 0.0f, pooled, C, B),
        "pooling");
    /* logits = pooled Whead^T + b                              [B, C] -> [B, K] */
    TRY(dytcl_linear_forward(ctx, logits, pooled, dy_at2(m->params, m->lm_head, K, C), dy_at(m->params, m->lm_head_b, K)),
        "head");
    if (!labels) return dy_gate_forward(m, 1, 0), DYTCL_OK;
    /* loss = mean over the labelled images of -log softmax(logits)[label] */
    dytcl_tensor y = dy_at(m->io, (size_t)BT, B);
    TRY(dytcl_cross_entropy_smoothed(ctx, A(losses, 0, B), (dytcl_tensor){0}, logits, y, m->smoothing, 1.0f),
        "cross-entropy");
    TRY(dytcl_cross_entropy_mean(ctx, dy_at(m->stats, 2 + (size_t)m->slot, 1), A(losses, 0, B), y), "mean loss");
    m->slot = (m->slot + 1) % LOSS_SLOTS;
    dy_gate_forward(m, 1, 1);
    return DYTCL_OK;
}

dytcl_status dy_image_backward(dytcl_model *m, float grad_scale)
{
    dytcl_ctx *ctx = m->ctx;
    const int B = m->B, T = m->T, C = m->C, K = m->V;
    const int64_t BT = (int64_t)B * T, NV = m->cls + (int64_t)B * m->N, BN = (int64_t)B * m->N;
    dytcl_tensor logits = A2(logits, 0, B, K), dpooled = A2(dpooled, 0, B, C), dln = A2(dln, 0, BT, C);
    dytcl_tensor dres = A2(dres, 0, BT, C), dtable = A2(dtable, 0, NV, C);

    /* dlogits = (softmax - q) * grad_scale / valid, in place      [B, K]
     * q: the label's one-hot, smoothed to (1 - e) onehot + e / K */
    TRY(dytcl_cross_entropy_smoothed(ctx, A(losses, 0, B), logits, logits, dy_at(m->io, (size_t)BT, B), m->smoothing,
                                     m->valid ? grad_scale / (float)m->valid : 0.0f),
        "cross-entropy backward");
    /* dpooled = dlogits Whead, dWhead += dlogits^T pooled, db  [B, K] -> [B, C] */
    TRY(dytcl_linear_backward(ctx, dpooled, dy_at2(m->grads, m->lm_head, K, C), dy_at(m->grads, m->lm_head_b, K), 1, logits,
                              A2(pooled, 0, B, C), dy_at2(m->params, m->lm_head, K, C)),
        "head backward");
    /* dlnf[b] = sel^T . dpooled[b]                             [T, 1] x [1, C] -> [T, C] */
    TRY(dytcl_gemm_batched(ctx, 1, 0, T, C, 1, 1.0f, A(sel, 0, T), 0, dpooled, C, 0.0f, dln, (int64_t)T * C, B),
        "pooling backward");

    /* dres = the gradient of res[0], through every block       [BT, C] */
    dytcl_status s = dy_trunk_backward(m);
    if (s) return s;

    /* dtable = the rows' gradients gathered back, dpos += their sum over images */
    TRY(dytcl_fill(ctx, dtable, 0.0f), "zero table gradient");
    TRY(dytcl_embedding_backward(ctx, dtable, dy_at2(m->grads, m->wpe, T, C), 1, dres, dy_at(m->io, 0, BT), T),
        "positions backward");
    /* dcls += dtable[0] */
    if (m->cls) TRY(dytcl_add(ctx, dy_at(m->grads, m->cls_tok, C), dy_at(m->grads, m->cls_tok, C), dy_at(m->acts, m->a.dtable, C)),
                    "class token backward");
    /* dWpatch += de^T patches, dbpatch += sum of de           [B N, C] */
    TRY(dytcl_patch_embed_backward(ctx, (dytcl_tensor){0}, (dytcl_tensor){0}, dy_at2(m->grads, m->patch_w, C, m->P),
                                   dy_at(m->grads, m->patch_b, C), 1, dy_at2(m->acts, m->a.dtable + (size_t)m->cls * C, BN, C),
                                   A(patches, 0, BN * m->P), dy_at2(m->params, m->patch_w, C, m->P), m->c.patch),
        "patch embedding backward");
    return DYTCL_OK;
}
