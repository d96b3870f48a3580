/* model_pass.c -- the forward and backward passes, side by side, layer by
 * layer. Shapes: BT = B*T rows, C channels, H heads of D, F (F2 = F or 2F)
 * MLP width, V vocabulary. Every call is one of dytcl's public ops. */
#include <string.h>

#include "model_internal.h"

/* Shorthands for views into the activations (A), parameters (P) and
 * gradients (G). */
#define A(field, l, n) at(m->acts, m->a.field + (size_t)(l) * (n), (int64_t)(n))
#define A2(field, l, rows, cols) at2(m->acts, m->a.field + (size_t)(l) * (rows) * (cols), rows, cols)
#define TRY(call, what)                                    \
    do {                                                   \
        dytcl_status s_ = (call);                          \
        if (s_) return lib_fail(m, s_, what);              \
    } while (0)

/* ----------------------------------------------------------------- norms */

static dytcl_dyt_params dyt_params(const dytcl_model *m, const norm_off *n)
{
    dytcl_dyt_params p = {at(m->params, n->alpha, 1), at(m->params, n->shift, 1), at(m->params, n->weight, m->C),
                          at(m->params, n->bias, m->C), DYTCL_CHANNELS_LAST};
    return p;
}

static dytcl_dyt_grads dyt_grads(const dytcl_model *m, const norm_off *n)
{
    dytcl_dyt_grads g = {at(m->grads, n->alpha, 1), at(m->grads, n->shift, 1), at(m->grads, n->weight, m->C),
                         at(m->grads, n->bias, m->C), 1};
    return g;
}

/* y = norm(x) [rows, C], saving mean/rstd [rows] where the norm has them.
 * With h present the residual add comes first: x = r + h is written to x
 * (fused into the norm's pass for DyT and RMSNorm). */
static dytcl_status norm_forward_ops(dytcl_model *m, const norm_off *n, dytcl_tensor y, dytcl_tensor mean,
                                     dytcl_tensor rstd, dytcl_tensor x, dytcl_tensor r, dytcl_tensor h)
{
    dytcl_ctx *ctx = m->ctx;
    dytcl_dyt_params p = dyt_params(m, n);
    dytcl_tensor w = p.weight, b = p.bias;
    float eps = m->c.norm_eps;
    if (h.buf && m->c.norm == DYTCL_NORM_DYT) {
        TRY(dytcl_residual_dyt_forward(ctx, x, y, r, h, &p), "residual + DyT forward");
        return DYTCL_OK;
    }
    if (h.buf && m->c.norm == DYTCL_NORM_RMSNORM) {
        TRY(dytcl_residual_rmsnorm_forward(ctx, x, y, rstd, r, h, w, eps), "residual + RMSNorm forward");
        return DYTCL_OK;
    }
    if (h.buf) TRY(dytcl_add(ctx, x, r, h), "residual add");
    switch (m->c.norm) {
    case DYTCL_NORM_DYT: TRY(dytcl_dyt_forward(ctx, y, x, &p), "DyT forward"); break;
    case DYTCL_NORM_DERF: TRY(dytcl_derf_forward(ctx, y, x, &p), "Derf forward"); break;
    case DYTCL_NORM_RMSNORM: TRY(dytcl_rmsnorm_forward(ctx, y, rstd, x, w, eps), "RMSNorm forward"); break;
    case DYTCL_NORM_LAYERNORM:
        TRY(dytcl_layernorm_forward(ctx, y, mean, rstd, x, w, b, eps), "LayerNorm forward");
        break;
    }
    return DYTCL_OK;
}

/* The backward of y = norm(x): dres += dnorm/dx (dy), parameter gradients
 * accumulated. dy is overwritten (Derf and LayerNorm use it as dx). */
static dytcl_status norm_backward_ops(dytcl_model *m, const norm_off *n, dytcl_tensor dres, dytcl_tensor dy,
                                      dytcl_tensor x, dytcl_tensor mean, dytcl_tensor rstd)
{
    dytcl_ctx *ctx = m->ctx;
    dytcl_dyt_params p = dyt_params(m, n);
    dytcl_dyt_grads g = dyt_grads(m, n);
    switch (m->c.norm) {
    case DYTCL_NORM_DYT:
        TRY(dytcl_residual_dyt_backward(ctx, dres, &g, dy, dres, x, &p), "residual + DyT backward");
        return DYTCL_OK;
    case DYTCL_NORM_RMSNORM:
        TRY(dytcl_residual_rmsnorm_backward(ctx, dres, g.dweight, 1, dy, dres, x, rstd, p.weight),
            "residual + RMSNorm backward");
        return DYTCL_OK;
    case DYTCL_NORM_DERF: TRY(dytcl_derf_backward(ctx, dy, &g, dy, x, &p), "Derf backward"); break;
    case DYTCL_NORM_LAYERNORM:
        TRY(dytcl_layernorm_backward(ctx, dy, g.dweight, g.dbias, 1, dy, x, mean, rstd, p.weight),
            "LayerNorm backward");
        break;
    }
    TRY(dytcl_add(ctx, dres, dres, dy), "residual gradient add");
    return DYTCL_OK;
}

/* The same, timed for benchmarks when m->profile_norms is set. */
static dytcl_status timed(dytcl_model *m, dytcl_status (*run)(dytcl_model *, void *), void *arg)
{
    if (!m->profile_norms) return run(m, arg);
    double ns = 0;
    dytcl_status s = dytcl_profile_begin(m->ctx);
    if (!s) s = run(m, arg);
    dytcl_status e = dytcl_profile_end(m->ctx, &ns);
    m->norm_ns += ns;
    return s ? s : lib_fail(m, e, "profiling");
}

/* One norm call's arguments (forward: y, x, r, h; backward: dres, dy, x). */
typedef struct {
    const norm_off *n;
    dytcl_tensor y, mean, rstd, x, r, h, dres, dy;
} norm_call;

static dytcl_status run_forward(dytcl_model *m, void *arg)
{
    norm_call *c = arg;
    return norm_forward_ops(m, c->n, c->y, c->mean, c->rstd, c->x, c->r, c->h);
}

static dytcl_status run_backward(dytcl_model *m, void *arg)
{
    norm_call *c = arg;
    return norm_backward_ops(m, c->n, c->dres, c->dy, c->x, c->mean, c->rstd);
}

static dytcl_status norm_forward(dytcl_model *m, const norm_off *n, dytcl_tensor y, dytcl_tensor mean,
                                 dytcl_tensor rstd, dytcl_tensor x, dytcl_tensor r, dytcl_tensor h)
{
    norm_call c = {n, y, mean, rstd, x, r, h, {0}, {0}};
    return timed(m, run_forward, &c);
}

static dytcl_status norm_backward(dytcl_model *m, const norm_off *n, dytcl_tensor dres, dytcl_tensor dy, dytcl_tensor x,
                                  dytcl_tensor mean, dytcl_tensor rstd)
{
    norm_call c = {n, {0}, mean, rstd, x, {0}, {0}, dres, dy};
    return timed(m, run_backward, &c);
}

/* --------------------------------------------------------------- forward */

/* Views of layer l's saved activations. */
typedef struct {
    dytcl_tensor res, mid, next, ln1, ln2, mean1, rstd1, mean2, rstd2;
    dytcl_tensor q, k, v, o, lse, atty, fch, fcact;
} layer_acts;

static layer_acts acts_of(dytcl_model *m, int l)
{
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    layer_acts a;
    a.res = A2(res, l, BT, C);
    a.next = A2(res, l + 1, BT, C);
    a.mid = A2(mid, l, BT, C);
    a.ln1 = A2(ln1, l, BT, C);
    a.ln2 = A2(ln2, l, BT, C);
    a.mean1 = A(mean1, l, BT), a.rstd1 = A(rstd1, l, BT);
    a.mean2 = A(mean2, l, BT), a.rstd2 = A(rstd2, l, BT);
    size_t hs = (size_t)BT * C;
    a.q = at4(m->acts, m->a.q + l * hs, m->B, m->H, m->T, m->D);
    a.k = at4(m->acts, m->a.k + l * hs, m->B, m->H, m->T, m->D);
    a.v = at4(m->acts, m->a.v + l * hs, m->B, m->H, m->T, m->D);
    a.o = at4(m->acts, m->a.o + l * hs, m->B, m->H, m->T, m->D);
    a.lse = A(lse, l, (int64_t)m->B * m->H * m->T);
    a.atty = A2(atty, l, BT, C);
    a.fch = A2(fch, l, BT, m->F2);
    a.fcact = A2(fcact, l, BT, m->F);
    return a;
}

/* A head tensor [B, H, T, D] seen as [B*H, T, 1, D] for RoPE. */
static dytcl_tensor rope_view(dytcl_tensor t)
{
    dytcl_tensor r = t;
    r.shape[0] = t.shape[0] * t.shape[1], r.shape[1] = t.shape[2], r.shape[2] = 1;
    return r;
}

/* A linear layer's weight [rows, cols] as the forward reads it: the
 * half-width copy when the model holds one (inference), else the float32
 * parameter. */
static dytcl_tensor weight(const dytcl_model *m, size_t off, int64_t rows, int64_t cols)
{
    return m->wh ? dytcl_tensor_as(at2(m->wh, off, rows, cols), m->wdtype) : at2(m->params, off, rows, cols);
}

/* Token (and position) embeddings into res[0], positions from pos on;
 * llama-DyT scales them. */
static dytcl_status embed_forward(dytcl_model *m, dytcl_tensor tokens, int pos)
{
    int64_t BT = (int64_t)m->B * m->T;
    dytcl_tensor res0 = A2(res, 0, BT, m->C);
    dytcl_tensor wte = at2(m->params, m->wte, m->V, m->C);
    /* row r takes wpe[r % T]: the view is rows pos..pos+T-1 */
    dytcl_tensor wpe = at2(m->params, m->wpe == NONE ? NONE : m->wpe + (size_t)pos * m->C, m->T, m->C);
    if (m->emb_scale == NONE) {
        TRY(dytcl_embedding_forward(m->ctx, res0, tokens, wte, wpe, m->T), "embedding forward");
        return DYTCL_OK;
    }
    dytcl_tensor emb = A2(emb, 0, BT, m->C);
    TRY(dytcl_embedding_forward(m->ctx, emb, tokens, wte, wpe, m->T), "embedding forward");
    TRY(dytcl_scale_forward(m->ctx, res0, emb, at(m->params, m->emb_scale, 1)), "embedding scale");
    return DYTCL_OK;
}

/* Layer l's K and V caches, [1, H, max_seq, D] each. */
static void kv_cache(const dytcl_model *m, int l, dytcl_tensor *kc, dytcl_tensor *vc)
{
    size_t plane = (size_t)m->H * m->c.max_seq * m->D;
    *kc = at4(m->kv, (size_t)(2 * l) * plane, 1, m->H, m->c.max_seq, m->D);
    *vc = at4(m->kv, (size_t)(2 * l + 1) * plane, 1, m->H, m->c.max_seq, m->D);
}

/* The rest of the attention sub-block for one token at position pos (decoding):
 * with B = T = 1 the heads' layout [1, H, 1, D] is qkv's own, so q, k and v
 * are views of its thirds (no split), one RoPE call turns q and k (adjacent:
 * [1, 1, 2H, D]), and attention writes straight into atty (no merge): three
 * launches fewer per layer and token. */
static dytcl_status attn_decode_token(dytcl_model *m, int l, const layer_acts *a, int pos)
{
    dytcl_ctx *ctx = m->ctx;
    const int64_t C = m->C;
    const size_t q0 = m->a.qkv;
    dytcl_tensor q = at4(m->acts, q0, 1, m->H, 1, m->D), k = at4(m->acts, q0 + C, 1, m->H, 1, m->D);
    dytcl_tensor v = at4(m->acts, q0 + 2 * C, 1, m->H, 1, m->D), o = a->atty, kc, vc;
    o.ndim = 4, o.shape[0] = 1, o.shape[1] = m->H, o.shape[2] = 1, o.shape[3] = m->D;
    if (m->c.arch == DYTCL_ARCH_LLAMA) {
        dytcl_tensor qk = at4(m->acts, q0, 1, 1, 2 * m->H, m->D);
        TRY(dytcl_rope_forward(ctx, qk, qk, pos, m->c.rope_theta), "RoPE q and k");
    }
    kv_cache(m, l, &kc, &vc);
    TRY(dytcl_attention_decode(ctx, o, q, k, v, kc, vc, pos), "attention with the KV cache");
    TRY(dytcl_linear_forward(ctx, A2(h, 0, 1, C), a->atty, weight(m, m->layer[l].proj_w, C, C),
                             at(m->params, m->layer[l].proj_b, C)),
        "attention projection");
    return DYTCL_OK;
}

/* Attention sub-block of layer l: ln1 -> q, k, v -> o -> atty -> h, for
 * positions pos.. (with the KV cache when m->kv is set: batch 1). */
static dytcl_status attn_forward(dytcl_model *m, int l, const layer_acts *a, int pos)
{
    dytcl_ctx *ctx = m->ctx;
    const layer_off *p = &m->layer[l];
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_tensor qkv = A2(qkv, 0, BT, 3 * C);
    TRY(dytcl_linear_forward(ctx, qkv, a->ln1, weight(m, p->qkv_w, 3 * C, C), at(m->params, p->qkv_b, 3 * C)),
        "qkv projection");
    if (m->kv && BT == 1) return attn_decode_token(m, l, a, pos);
    TRY(dytcl_heads_split(ctx, a->q, a->k, a->v, qkv), "heads split");
    if (m->c.arch == DYTCL_ARCH_LLAMA) {
        TRY(dytcl_rope_forward(ctx, rope_view(a->q), rope_view(a->q), pos, m->c.rope_theta), "RoPE q");
        TRY(dytcl_rope_forward(ctx, rope_view(a->k), rope_view(a->k), pos, m->c.rope_theta), "RoPE k");
    }
    if (m->kv) {
        dytcl_tensor kc, vc;
        kv_cache(m, l, &kc, &vc);
        TRY(dytcl_attention_decode(ctx, a->o, a->q, a->k, a->v, kc, vc, pos), "attention with the KV cache");
    } else {
        TRY(dytcl_attention_forward(ctx, a->o, a->lse, a->q, a->k, a->v, DYTCL_ATTN_AUTO), "attention");
    }
    TRY(dytcl_heads_merge(ctx, a->atty, a->o), "heads merge");
    TRY(dytcl_linear_forward(ctx, A2(h, 0, BT, C), a->atty, weight(m, p->proj_w, C, C),
                             at(m->params, p->proj_b, C)),
        "attention projection");
    return DYTCL_OK;
}

/* MLP sub-block of layer l: ln2 -> fch -> fcact -> h. */
static dytcl_status mlp_forward(dytcl_model *m, int l, const layer_acts *a)
{
    dytcl_ctx *ctx = m->ctx;
    const layer_off *p = &m->layer[l];
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    TRY(dytcl_linear_forward(ctx, a->fch, a->ln2, weight(m, p->fc_w, m->F2, C), at(m->params, p->fc_b, m->F2)),
        "MLP up projection");
    if (m->c.arch == DYTCL_ARCH_GPT) TRY(dytcl_gelu_forward(ctx, a->fcact, a->fch), "GELU");
    else TRY(dytcl_swiglu_packed_forward(ctx, a->fcact, a->fch), "SwiGLU");
    TRY(dytcl_linear_forward(ctx, A2(h, 0, BT, C), a->fcact, weight(m, p->out_w, C, m->F),
                             at(m->params, p->out_b, C)),
        "MLP down projection");
    return DYTCL_OK;
}

static dytcl_status upload_batch(dytcl_model *m, const int32_t *tokens, const int32_t *targets)
{
    size_t BT = (size_t)m->B * m->T;
    m->valid = 0;
    for (size_t i = 0; targets && i < BT; i++) m->valid += targets[i] != -1;
    TRY(dytcl_buf_write(m->ctx, m->io, 0, tokens, BT * sizeof(int32_t)), "upload tokens");
    if (targets) TRY(dytcl_buf_write(m->ctx, m->io, BT * sizeof(int32_t), targets, BT * sizeof(int32_t)), "upload targets");
    m->has_targets = targets != NULL;
    return DYTCL_OK;
}

/* The forward pass over the uploaded batch at positions pos.. (pos > 0
 * only with the KV cache), to the logits. */
static dytcl_status forward_to_logits(dytcl_model *m, int pos)
{
    dytcl_ctx *ctx = m->ctx;
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_status s;
    if ((s = embed_forward(m, at(m->io, 0, BT), pos))) return s;

    dytcl_tensor none = {0}, h = A2(h, 0, BT, C);
    for (int l = 0; l < m->L; l++) {
        layer_acts a = acts_of(m, l);
        /* layer 0's norm1 has no residual add; the others' came at the end of the layer before */
        if (l == 0 && (s = norm_forward(m, &m->layer[0].n1, a.ln1, a.mean1, a.rstd1, a.res, none, none))) return s;
        if ((s = attn_forward(m, l, &a, pos))) return s;
        /* mid = res + h; ln2 = norm2(mid) */
        if ((s = norm_forward(m, &m->layer[l].n2, a.ln2, a.mean2, a.rstd2, a.mid, a.res, h))) return s;
        if ((s = mlp_forward(m, l, &a))) return s;
        /* next = mid + h; then the next layer's norm1, or the final norm */
        if (l + 1 < m->L) {
            layer_acts b = acts_of(m, l + 1);
            s = norm_forward(m, &m->layer[l + 1].n1, b.ln1, b.mean1, b.rstd1, a.next, a.mid, h);
        } else {
            s = norm_forward(m, &m->nf, A2(lnf, 0, BT, C), A(meanf, 0, BT), A(rstdf, 0, BT), a.next, a.mid, h);
        }
        if (s) return s;
    }
    TRY(dytcl_linear_forward(ctx, A2(logits, 0, BT, m->V), A2(lnf, 0, BT, C), weight(m, m->lm_head, m->V, C),
                             at(m->params, m->lm_head_b, m->V)),
        "lm head");
    return DYTCL_OK;
}

dytcl_status dytcl_model_forward(dytcl_model *m, const int32_t *tokens, const int32_t *targets)
{
    if (!m || !tokens) return model_bad_arg(m, __func__);
    if (!m->acts) return model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_forward: call dytcl_model_set_batch first");
    if (m->kv)
        return model_fail(m, DYTCL_ERR_INVALID_ARG,
                          "dytcl_model_forward: the model is decoding (dytcl_model_decode_end first)");
    dytcl_ctx *ctx = m->ctx;
    int64_t BT = (int64_t)m->B * m->T;
    dytcl_status s;
    if ((s = upload_batch(m, tokens, targets)) || (s = forward_to_logits(m, 0))) return s;
    if (!targets) return DYTCL_OK;
    dytcl_tensor logits = A2(logits, 0, BT, m->V), tgt = at(m->io, (size_t)BT, BT), none = {0};
    TRY(dytcl_cross_entropy(ctx, A(losses, 0, BT), none, logits, tgt, 1.0f), "cross-entropy");
    TRY(dytcl_cross_entropy_mean(ctx, at(m->stats, 2 + (size_t)m->slot, 1), A(losses, 0, BT), tgt), "mean loss");
    m->slot = (m->slot + 1) % LOSS_SLOTS;
    return DYTCL_OK;
}

/* -------------------------------------------------------------- backward */

/* The backward of mlp_forward: dres (the gradient of h) -> dln (of ln2). */
static dytcl_status mlp_backward(dytcl_model *m, int l, const layer_acts *a)
{
    dytcl_ctx *ctx = m->ctx;
    const layer_off *p = &m->layer[l];
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_tensor dres = A2(dres, 0, BT, C), dfcact = A2(dfcact, 0, BT, m->F), dfch = A2(dfch, 0, BT, m->F2);
    TRY(dytcl_linear_backward(ctx, dfcact, at2(m->grads, p->out_w, C, m->F), at(m->grads, p->out_b, C), 1, dres,
                              a->fcact, at2(m->params, p->out_w, C, m->F)),
        "MLP down projection backward");
    if (m->c.arch == DYTCL_ARCH_GPT) TRY(dytcl_gelu_backward(ctx, dfch, dfcact, a->fch), "GELU backward");
    else TRY(dytcl_swiglu_packed_backward(ctx, dfch, dfcact, a->fch), "SwiGLU backward");
    TRY(dytcl_linear_backward(ctx, A2(dln, 0, BT, C), at2(m->grads, p->fc_w, m->F2, C), at(m->grads, p->fc_b, m->F2),
                              1, dfch, a->ln2, at2(m->params, p->fc_w, m->F2, C)),
        "MLP up projection backward");
    return DYTCL_OK;
}

/* The backward of attn_forward: dres (the gradient of h) -> dln (of ln1). */
static dytcl_status attn_backward(dytcl_model *m, int l, const layer_acts *a)
{
    dytcl_ctx *ctx = m->ctx;
    const layer_off *p = &m->layer[l];
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_tensor datty = A2(h, 0, BT, C), dqkv = A2(qkv, 0, BT, 3 * C);
    dytcl_tensor dq = at4(m->acts, m->a.dq, m->B, m->H, m->T, m->D);
    dytcl_tensor dk = at4(m->acts, m->a.dk, m->B, m->H, m->T, m->D);
    dytcl_tensor dv = at4(m->acts, m->a.dv, m->B, m->H, m->T, m->D);
    dytcl_tensor dout = at4(m->acts, m->a.dout, m->B, m->H, m->T, m->D);
    TRY(dytcl_linear_backward(ctx, datty, at2(m->grads, p->proj_w, C, C), at(m->grads, p->proj_b, C), 1,
                              A2(dres, 0, BT, C), a->atty, at2(m->params, p->proj_w, C, C)),
        "attention projection backward");
    TRY(dytcl_heads_merge_backward(ctx, dout, datty), "heads merge backward");
    TRY(dytcl_attention_backward(ctx, dq, dk, dv, dout, a->q, a->k, a->v, a->o, a->lse, DYTCL_ATTN_AUTO),
        "attention backward");
    if (m->c.arch == DYTCL_ARCH_LLAMA) {
        TRY(dytcl_rope_backward(ctx, rope_view(dq), rope_view(dq), 0, m->c.rope_theta), "RoPE q backward");
        TRY(dytcl_rope_backward(ctx, rope_view(dk), rope_view(dk), 0, m->c.rope_theta), "RoPE k backward");
    }
    TRY(dytcl_heads_split_backward(ctx, dqkv, dq, dk, dv), "heads split backward");
    TRY(dytcl_linear_backward(ctx, A2(dln, 0, BT, C), at2(m->grads, p->qkv_w, 3 * C, C),
                              at(m->grads, p->qkv_b, 3 * C), 1, dqkv, a->ln1, at2(m->params, p->qkv_w, 3 * C, C)),
        "qkv projection backward");
    return DYTCL_OK;
}

static dytcl_status embed_backward(dytcl_model *m, dytcl_tensor tokens)
{
    int64_t BT = (int64_t)m->B * m->T;
    dytcl_tensor dres = A2(dres, 0, BT, m->C);
    if (m->emb_scale != NONE)
        TRY(dytcl_scale_backward(m->ctx, dres, at(m->grads, m->emb_scale, 1), 1, dres, A2(emb, 0, BT, m->C),
                                 at(m->params, m->emb_scale, 1)),
            "embedding scale backward");
    TRY(dytcl_embedding_backward(m->ctx, at2(m->grads, m->wte, m->V, m->C),
                                 at2(m->grads, m->wpe, m->T, m->C), 1, dres, tokens, m->T),
        "embedding backward");
    return DYTCL_OK;
}

dytcl_status dytcl_model_backward(dytcl_model *m, float grad_scale)
{
    if (!m) return model_bad_arg(m, __func__);
    if (!m->acts || !m->has_targets)
        return model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_backward: needs a forward with targets first");
    if (model_refuse_half(m, __func__)) return DYTCL_ERR_INVALID_ARG;
    dytcl_ctx *ctx = m->ctx;
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_tensor tok = at(m->io, 0, BT), tgt = at(m->io, (size_t)BT, BT);
    dytcl_tensor logits = A2(logits, 0, BT, m->V), dres = A2(dres, 0, BT, C), dln = A2(dln, 0, BT, C);
    dytcl_status s;

    /* dlogits = (softmax - onehot) * grad_scale / valid, in place */
    float scale = m->valid ? grad_scale / (float)m->valid : 0.0f;
    TRY(dytcl_cross_entropy(ctx, A(losses, 0, BT), logits, logits, tgt, scale), "cross-entropy backward");
    TRY(dytcl_linear_backward(ctx, dln, at2(m->grads, m->lm_head, m->V, C), (dytcl_tensor){0}, 1, logits,
                              A2(lnf, 0, BT, C), at2(m->params, m->lm_head, m->V, C)),
        "lm head backward");
    TRY(dytcl_fill(ctx, dres, 0.0f), "zero residual gradient");
    if ((s = norm_backward(m, &m->nf, dres, dln, A2(res, m->L, BT, C), A(meanf, 0, BT), A(rstdf, 0, BT)))) return s;

    for (int l = m->L - 1; l >= 0; l--) {
        layer_acts a = acts_of(m, l);
        /* dres is the gradient of next = mid + mlp(norm2(mid)) */
        if ((s = mlp_backward(m, l, &a))) return s;
        if ((s = norm_backward(m, &m->layer[l].n2, dres, dln, a.mid, a.mean2, a.rstd2))) return s;
        /* dres is the gradient of mid = res + attn(norm1(res)) */
        if ((s = attn_backward(m, l, &a))) return s;
        if ((s = norm_backward(m, &m->layer[l].n1, dres, dln, a.res, a.mean1, a.rstd1))) return s;
    }
    return embed_backward(m, tok);
}

/* ------------------------------------------------------------- decoding */

dytcl_status dytcl_model_decode(dytcl_model *m, const int32_t *tokens, int n, int pos, float *logits)
{
    if (!m || !tokens || !logits || n < 1 || pos < 0) return model_bad_arg(m, __func__);
    if (!m->kv) return model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_decode: call dytcl_model_decode_begin first");
    if (pos + n > m->c.max_seq)
        return model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_decode: positions %d..%d are past max_seq %d", pos,
                          pos + n - 1, m->c.max_seq);
    dytcl_status s = dytcl_model_set_batch(m, 1, n);
    if (s || (s = upload_batch(m, tokens, NULL)) || (s = forward_to_logits(m, pos))) return s;
    TRY(dytcl_buf_read(m->ctx, m->acts, (m->a.logits + (size_t)(n - 1) * m->V) * sizeof(float), logits,
                       (size_t)m->V * sizeof(float)),
        "read logits");
    return DYTCL_OK;
}
