/* vit_pass.c -- the ViT's forward and backward passes, side by side, block
 * by block. Shapes: B images, T tokens (N patches, and the class token when
 * pooling by it), BT = B*T rows, C channels, H heads of D, F the MLP width,
 * K classes, P = ch*p*p values per patch. Every call is one of dytcl's
 * public ops. */
#include "vit_internal.h"

#define TRY(call, what)                                    \
    do {                                                   \
        dytcl_status s_ = (call);                          \
        if (s_) return vit_lib_fail(v, s_, what);          \
    } while (0)

static dytcl_tensor at(dytcl_buf *b, size_t off, int64_t n)
{
    return off == VIT_NONE ? (dytcl_tensor){0} : dytcl_tensor_1d(b, off, n);
}
static dytcl_tensor at2(dytcl_buf *b, size_t off, int64_t rows, int64_t cols)
{
    return off == VIT_NONE ? (dytcl_tensor){0} : dytcl_tensor_2d(b, off, rows, cols);
}
static dytcl_tensor at4(dytcl_buf *b, size_t off, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    return (dytcl_tensor){b, off, 4, {d0, d1, d2, d3}, DYTCL_F32};
}

/* Views of the parameters (P), gradients (G) and activations (A, layer l of a per-layer array). */
#define P2(off, r, c) at2(v->params, off, r, c)
#define G2(off, r, c) at2(v->grads, off, r, c)
#define P1(off, n) at(v->params, off, n)
#define G1(off, n) at(v->grads, off, n)
#define A2(field, l, r, c) at2(v->acts, v->a.field + (size_t)(l) * (size_t)(r) * (size_t)(c), r, c)
#define A1(field, l, n) at(v->acts, v->a.field + (size_t)(l) * (size_t)(n), n)

static const dytcl_attn_path BIDIRECTIONAL = (dytcl_attn_path)(DYTCL_ATTN_AUTO | DYTCL_ATTN_BIDIRECTIONAL);

/* ----------------------------------------------------------------- norms */

static dytcl_dyt_params dyt_params(const vit *v, const vit_norm_off *n)
{
    return (dytcl_dyt_params){at(v->params, n->alpha, 1), at(v->params, n->shift, 1), at(v->params, n->weight, v->C),
                              at(v->params, n->bias, v->C), DYTCL_CHANNELS_LAST};
}

/* y = norm(x) over rows of C, saving mean and rstd where the norm has them. */
static dytcl_status norm_forward(vit *v, const vit_norm_off *n, dytcl_tensor y, dytcl_tensor mean,
                                 dytcl_tensor rstd, dytcl_tensor x)
{
    dytcl_ctx *ctx = v->ctx;
    dytcl_dyt_params p = dyt_params(v, n);
    switch (v->c.norm) {
    case VIT_NORM_DYT: TRY(dytcl_dyt_forward(ctx, y, x, &p), "DyT forward"); break;
    case VIT_NORM_DERF: TRY(dytcl_derf_forward(ctx, y, x, &p), "Derf forward"); break;
    case VIT_NORM_RMSNORM: TRY(dytcl_rmsnorm_forward(ctx, y, rstd, x, p.weight, v->c.eps), "RMSNorm forward"); break;
    case VIT_NORM_LAYERNORM:
        TRY(dytcl_layernorm_forward(ctx, y, mean, rstd, x, p.weight, p.bias, v->c.eps), "LayerNorm forward");
        break;
    }
    return DYTCL_OK;
}

/* The backward of y = norm(x): dy becomes dx in place, and dres += dx when
 * dres is present (else dres is untouched); parameter gradients add up. */
static dytcl_status norm_backward(vit *v, const vit_norm_off *n, dytcl_tensor dres, dytcl_tensor dy, dytcl_tensor x,
                                  dytcl_tensor mean, dytcl_tensor rstd)
{
    dytcl_ctx *ctx = v->ctx;
    dytcl_dyt_params p = dyt_params(v, n);
    dytcl_dyt_grads g = {at(v->grads, n->alpha, 1), at(v->grads, n->shift, 1), at(v->grads, n->weight, v->C),
                         at(v->grads, n->bias, v->C), 1};
    switch (v->c.norm) {
    case VIT_NORM_DYT: TRY(dytcl_dyt_backward(ctx, dy, &g, dy, x, &p), "DyT backward"); break;
    case VIT_NORM_DERF: TRY(dytcl_derf_backward(ctx, dy, &g, dy, x, &p), "Derf backward"); break;
    case VIT_NORM_RMSNORM:
        TRY(dytcl_rmsnorm_backward(ctx, dy, g.dweight, 1, dy, x, rstd, p.weight), "RMSNorm backward");
        break;
    case VIT_NORM_LAYERNORM:
        TRY(dytcl_layernorm_backward(ctx, dy, g.dweight, g.dbias, 1, dy, x, mean, rstd, p.weight),
            "LayerNorm backward");
        break;
    }
    if (dres.buf) TRY(dytcl_add(ctx, dres, dres, dy), "residual gradient add");
    return DYTCL_OK;
}

/* --------------------------------------------------------------- a block */

typedef struct {
    dytcl_tensor res, mid, next, ln1, ln2, mean1, rstd1, mean2, rstd2, q, k, v, o, lse, atty, fch, fcact;
} block_acts;

static block_acts acts_of(const vit *v, int l)
{
    const int64_t BT = (int64_t)v->B * v->T, C = v->C;
    block_acts a;
    a.res = A2(res, l, BT, C), a.next = A2(res, l + 1, BT, C), a.mid = A2(mid, l, BT, C);
    a.ln1 = A2(ln1, l, BT, C), a.ln2 = A2(ln2, l, BT, C);
    a.mean1 = A1(mean1, l, BT), a.rstd1 = A1(rstd1, l, BT), a.mean2 = A1(mean2, l, BT), a.rstd2 = A1(rstd2, l, BT);
    const size_t hs = (size_t)BT * C;
    a.q = at4(v->acts, v->a.q + l * hs, v->B, v->H, v->T, v->D);
    a.k = at4(v->acts, v->a.k + l * hs, v->B, v->H, v->T, v->D);
    a.v = at4(v->acts, v->a.v + l * hs, v->B, v->H, v->T, v->D);
    a.o = at4(v->acts, v->a.o + l * hs, v->B, v->H, v->T, v->D);
    a.lse = A1(lse, l, (int64_t)v->B * v->H * v->T);
    a.atty = A2(atty, l, BT, C), a.fch = A2(fch, l, BT, v->F), a.fcact = A2(fcact, l, BT, v->F);
    return a;
}

/* res -> ln1 -> q, k, v -> o -> atty -> h; mid = res + h;
 * mid -> ln2 -> fch -> fcact -> h; next = mid + h. */
static dytcl_status block_forward(vit *v, int l, const block_acts *a)
{
    dytcl_ctx *ctx = v->ctx;
    const vit_layer_off *p = &v->layer[l];
    const int64_t BT = (int64_t)v->B * v->T, C = v->C, F = v->F;
    dytcl_tensor h = A2(h, 0, BT, C), qkv = A2(qkv, 0, BT, 3 * C);
    dytcl_status s;
    if ((s = norm_forward(v, &p->n1, a->ln1, a->mean1, a->rstd1, a->res))) return s;
    TRY(dytcl_linear_forward(ctx, qkv, a->ln1, P2(p->qkv_w, 3 * C, C), P1(p->qkv_b, 3 * C)), "qkv projection");
    TRY(dytcl_heads_split(ctx, a->q, a->k, a->v, qkv), "heads split");
    TRY(dytcl_attention_forward(ctx, a->o, a->lse, a->q, a->k, a->v, BIDIRECTIONAL), "attention");
    TRY(dytcl_heads_merge(ctx, a->atty, a->o), "heads merge");
    TRY(dytcl_linear_forward(ctx, h, a->atty, P2(p->proj_w, C, C), P1(p->proj_b, C)), "attention projection");
    TRY(dytcl_add(ctx, a->mid, a->res, h), "residual add");
    if ((s = norm_forward(v, &p->n2, a->ln2, a->mean2, a->rstd2, a->mid))) return s;
    TRY(dytcl_linear_forward(ctx, a->fch, a->ln2, P2(p->fc_w, F, C), P1(p->fc_b, F)), "MLP fc1");
    TRY(dytcl_gelu_forward(ctx, a->fcact, a->fch), "GELU");
    TRY(dytcl_linear_forward(ctx, h, a->fcact, P2(p->out_w, C, F), P1(p->out_b, C)), "MLP fc2");
    TRY(dytcl_add(ctx, a->next, a->mid, h), "residual add");
    return DYTCL_OK;
}

/* dres: the gradient of next in, of res out. */
static dytcl_status block_backward(vit *v, int l, const block_acts *a)
{
    dytcl_ctx *ctx = v->ctx;
    const vit_layer_off *p = &v->layer[l];
    const int64_t BT = (int64_t)v->B * v->T, C = v->C, F = v->F;
    dytcl_tensor dres = A2(dres, 0, BT, C), dln = A2(dln, 0, BT, C), dfcact = A2(dfcact, 0, BT, F);
    dytcl_tensor dfch = A2(dfch, 0, BT, F), datty = A2(h, 0, BT, C), dqkv = A2(qkv, 0, BT, 3 * C);
    dytcl_tensor dq = at4(v->acts, v->a.dq, v->B, v->H, v->T, v->D), dk = at4(v->acts, v->a.dk, v->B, v->H, v->T, v->D);
    dytcl_tensor dv = at4(v->acts, v->a.dv, v->B, v->H, v->T, v->D);
    dytcl_tensor dout = at4(v->acts, v->a.dout, v->B, v->H, v->T, v->D);
    dytcl_status s;
    /* next = mid + mlp(norm2(mid)) */
    TRY(dytcl_linear_backward(ctx, dfcact, G2(p->out_w, C, F), G1(p->out_b, C), 1, dres, a->fcact,
                              P2(p->out_w, C, F)),
        "MLP fc2 backward");
    TRY(dytcl_gelu_backward(ctx, dfch, dfcact, a->fch), "GELU backward");
    TRY(dytcl_linear_backward(ctx, dln, G2(p->fc_w, F, C), G1(p->fc_b, F), 1, dfch, a->ln2, P2(p->fc_w, F, C)),
        "MLP fc1 backward");
    if ((s = norm_backward(v, &p->n2, dres, dln, a->mid, a->mean2, a->rstd2))) return s;
    /* mid = res + attn(norm1(res)) */
    TRY(dytcl_linear_backward(ctx, datty, G2(p->proj_w, C, C), G1(p->proj_b, C), 1, dres, a->atty,
                              P2(p->proj_w, C, C)),
        "attention projection backward");
    TRY(dytcl_heads_merge_backward(ctx, dout, datty), "heads merge backward");
    TRY(dytcl_attention_backward(ctx, dq, dk, dv, dout, a->q, a->k, a->v, a->o, a->lse, BIDIRECTIONAL),
        "attention backward");
    TRY(dytcl_heads_split_backward(ctx, dqkv, dq, dk, dv), "heads split backward");
    TRY(dytcl_linear_backward(ctx, dln, G2(p->qkv_w, 3 * C, C), G1(p->qkv_b, 3 * C), 1, dqkv, a->ln1,
                              P2(p->qkv_w, 3 * C, C)),
        "qkv projection backward");
    return norm_backward(v, &p->n1, dres, dln, a->res, a->mean1, a->rstd1);
}

/* ------------------------------------------------- the model, end to end */

dytcl_status vit_forward(vit *v, const float *x, const int32_t *y)
{
    if (!v || !x) return DYTCL_ERR_INVALID_ARG;
    if (!v->acts) return vit_fail(v, DYTCL_ERR_INVALID_ARG, "vit_forward: call vit_set_batch first");
    dytcl_ctx *ctx = v->ctx;
    const int B = v->B, T = v->T, C = v->C, K = v->K;
    const int64_t BT = (int64_t)B * T, V = v->cls + (int64_t)B * v->N;
    const vit_config *c = &v->c;
    v->valid = 0;
    for (int b = 0; y && b < B; b++) v->valid += y[b] != -1;
    TRY(dytcl_buf_write(ctx, v->img, 0, x, (size_t)B * c->channels * c->height * c->width * sizeof *x),
        "upload images");
    if (y) TRY(dytcl_buf_write(ctx, v->io, (size_t)BT * sizeof *y, y, (size_t)B * sizeof *y), "upload labels");
    v->has_targets = y != NULL;

    /* table = [cls; patch embeddings [B N, C]]; res[0][b, t] = table[token] + pos[t] */
    dytcl_tensor images = at4(v->img, 0, B, c->channels, c->height, c->width);
    dytcl_tensor table = A2(table, 0, V, C), tokens = at(v->io, 0, BT);
    dytcl_tensor pe = at2(v->acts, v->a.table + (size_t)v->cls * C, (int64_t)B * v->N, C);
    TRY(dytcl_patch_embed_forward(ctx, pe, A1(patches, 0, (int64_t)B * v->N * v->P), images, P2(v->patch_w, C, v->P),
                                  P1(v->patch_b, C), c->patch),
        "patch embedding");
    if (v->cls) TRY(dytcl_copy(ctx, at(v->acts, v->a.table, C), P1(v->cls_tok, C)), "class token");
    TRY(dytcl_embedding_forward(ctx, A2(res, 0, BT, C), tokens, table, P2(v->pos, T, C), T), "positions");

    dytcl_status s;
    for (int l = 0; l < v->L; l++) {
        block_acts a = acts_of(v, l);
        if ((s = block_forward(v, l, &a))) return s;
    }
    dytcl_tensor lnf = A2(lnf, 0, BT, C), pooled = A2(pooled, 0, B, C), logits = A2(logits, 0, B, K);
    if ((s = norm_forward(v, &v->nf, lnf, A1(meanf, 0, BT), A1(rstdf, 0, BT), A2(res, v->L, BT, C)))) return s;
    /* pooled[b] [1, C] = sel [1, T] . lnf[b] [T, C] */
    TRY(dytcl_gemm_batched(ctx, 0, 0, 1, C, T, 1.0f, A1(sel, 0, T), 0, lnf, (int64_t)T * C, 0.0f, pooled, C, B),
        "pooling");
    TRY(dytcl_linear_forward(ctx, logits, pooled, P2(v->head_w, K, C), P1(v->head_b, K)), "head");
    if (!y) return DYTCL_OK;
    dytcl_tensor targets = at(v->io, (size_t)BT, B);
    TRY(dytcl_cross_entropy(ctx, A1(losses, 0, B), (dytcl_tensor){0}, logits, targets, 1.0f), "cross-entropy");
    TRY(dytcl_cross_entropy_mean(ctx, at(v->stats, 2, 1), A1(losses, 0, B), targets), "mean loss");
    return DYTCL_OK;
}

dytcl_status vit_backward(vit *v)
{
    if (!v) return DYTCL_ERR_INVALID_ARG;
    if (!v->acts || !v->has_targets)
        return vit_fail(v, DYTCL_ERR_INVALID_ARG, "vit_backward: needs a forward with labels first");
    dytcl_ctx *ctx = v->ctx;
    const int B = v->B, T = v->T, C = v->C, K = v->K;
    const int64_t BT = (int64_t)B * T, V = v->cls + (int64_t)B * v->N;
    dytcl_tensor logits = A2(logits, 0, B, K), dpooled = A2(dpooled, 0, B, C), dln = A2(dln, 0, BT, C);
    dytcl_tensor dres = A2(dres, 0, BT, C), dtable = A2(dtable, 0, V, C);
    dytcl_status s;
    TRY(dytcl_fill(ctx, dytcl_tensor_1d(v->grads, 0, (int64_t)v->n), 0.0f), "zero gradients");

    /* dlogits = (softmax - onehot) / valid, in place; the head; the pooling */
    TRY(dytcl_cross_entropy(ctx, A1(losses, 0, B), logits, logits, at(v->io, (size_t)BT, B),
                            v->valid ? 1.0f / (float)v->valid : 0.0f),
        "cross-entropy backward");
    TRY(dytcl_linear_backward(ctx, dpooled, G2(v->head_w, K, C), G1(v->head_b, K), 1, logits, A2(pooled, 0, B, C),
                              P2(v->head_w, K, C)),
        "head backward");
    /* dlnf[b] [T, C] = sel^T [T, 1] . dpooled[b] [1, C] */
    TRY(dytcl_gemm_batched(ctx, 1, 0, T, C, 1, 1.0f, A1(sel, 0, T), 0, dpooled, C, 0.0f, dln, (int64_t)T * C, B),
        "pooling backward");
    if ((s = norm_backward(v, &v->nf, (dytcl_tensor){0}, dln, A2(res, v->L, BT, C), A1(meanf, 0, BT),
                           A1(rstdf, 0, BT))))
        return s;
    TRY(dytcl_copy(ctx, dres, dln), "residual gradient");
    for (int l = v->L - 1; l >= 0; l--) {
        block_acts a = acts_of(v, l);
        if ((s = block_backward(v, l, &a))) return s;
    }
    /* dres is the gradient of res[0] = table[token] + pos[t] */
    TRY(dytcl_fill(ctx, dtable, 0.0f), "zero table gradient");
    TRY(dytcl_embedding_backward(ctx, dtable, G2(v->pos, T, C), 1, dres, at(v->io, 0, BT), T), "positions backward");
    if (v->cls) TRY(dytcl_copy(ctx, G1(v->cls_tok, C), at(v->acts, v->a.dtable, C)), "class token backward");
    TRY(dytcl_patch_embed_backward(ctx, (dytcl_tensor){0}, (dytcl_tensor){0}, G2(v->patch_w, C, v->P),
                                   G1(v->patch_b, C), 1,
                                   at2(v->acts, v->a.dtable + (size_t)v->cls * C, (int64_t)B * v->N, C),
                                   A1(patches, 0, (int64_t)B * v->N * v->P), P2(v->patch_w, C, v->P), v->c.patch),
        "patch embedding backward");
    return DYTCL_OK;
}
