/* block.c -- the transformer core every model shares: the norms, one
 * pre-norm block's forward and backward side by side, and the trunk (every
 * block in turn). What the block is comes from m->k (causal or
 * bidirectional attention, RoPE or not, GELU or SwiGLU, biases or not) and
 * m->c.norm (DyT, Derf, RMSNorm, LayerNorm); the front ends and heads are in
 * model_pass.c (language models) and model_image.c (ViT).
 *
 * Shapes: BT = B*T rows, C channels, H heads of D, Hk key/value heads (Hk =
 * H, or fewer under grouped-query attention: query head h reads key/value
 * head h / (H / Hk), in the kernels, nothing repeated), qkv rows of C3 = C +
 * 2 Hk D, F the MLP width (F2 = F,
 * or 2F for SwiGLU's packed gate | up). Every call is one of dytcl's public
 * ops. A residual add and the norm after it are one step: one fused kernel
 * for DyT and RMSNorm (dytcl_residual_*), an add then the norm otherwise;
 * in the backward, the norm's input gradient is added into the residual's
 * the same way. */
#include "model_internal.h"

#define TRY_S(call)                                        \
    do {                                                   \
        dytcl_status s_ = (call);                          \
        if (s_) return s_;                                 \
    } while (0)

/* ----------------------------------------------------------------- norms */

static dytcl_dyt_params dyt_params(const dytcl_model *m, const norm_off *n)
{
    dytcl_dyt_params p = {dy_at(m->params, n->alpha, 1), dy_at(m->params, n->shift, 1), dy_at(m->params, n->weight, m->C),
                          dy_at(m->params, n->bias, m->C), DYTCL_CHANNELS_LAST};
    return p;
}

static dytcl_dyt_grads dyt_grads(const dytcl_model *m, const norm_off *n)
{
    dytcl_dyt_grads g = {dy_at(m->grads, n->alpha, 1), dy_at(m->grads, n->shift, 1), dy_at(m->grads, n->weight, m->C),
                         dy_at(m->grads, n->bias, m->C), 1};
    return g;
}

/* The kind norm n runs as: the model's, or the original one of a norm not
 * yet converted (dytcl_model_convert_begin). */
static dytcl_norm_kind norm_kind(const dytcl_model *m, const norm_off *n)
{
    return n->as >= 0 ? (dytcl_norm_kind)n->as : m->c.norm;
}

/* y = norm(x) [rows, C], saving mean/rstd [rows] where the norm has them.
 * With h present the residual add comes first: x = r + h is written to x
 * (fused into the norm's pass for DyT and RMSNorm). */
static dytcl_status norm_forward_ops(dytcl_model *m, const dy_norm_out *o, dytcl_tensor x, dytcl_tensor r,
                                     dytcl_tensor h)
{
    dytcl_ctx *ctx = m->ctx;
    dytcl_dyt_params p = dyt_params(m, o->n);
    dytcl_tensor w = p.weight, b = p.bias;
    float eps = m->c.norm_eps;
    const dytcl_norm_kind kind = norm_kind(m, o->n);
    if (h.buf && kind == DYTCL_NORM_DYT) {
        TRY(dytcl_residual_dyt_forward(ctx, x, o->y, r, h, &p), "residual + DyT forward");
        return DYTCL_OK;
    }
    if (h.buf && kind == DYTCL_NORM_RMSNORM) {
        TRY(dytcl_residual_rmsnorm_forward(ctx, x, o->y, o->rstd, r, h, w, eps), "residual + RMSNorm forward");
        return DYTCL_OK;
    }
    if (h.buf) TRY(dytcl_add(ctx, x, r, h), "residual add");
    switch (kind) {
    case DYTCL_NORM_DYT: TRY(dytcl_dyt_forward(ctx, o->y, x, &p), "DyT forward"); break;
    case DYTCL_NORM_DERF: TRY(dytcl_derf_forward(ctx, o->y, x, &p), "Derf forward"); break;
    case DYTCL_NORM_RMSNORM: TRY(dytcl_rmsnorm_forward(ctx, o->y, o->rstd, x, w, eps), "RMSNorm forward"); break;
    case DYTCL_NORM_LAYERNORM:
        TRY(dytcl_layernorm_forward(ctx, o->y, o->mean, o->rstd, x, w, b, eps), "LayerNorm forward");
        break;
    }
    return DYTCL_OK;
}

/* The backward of y = norm(x): dres += dnorm/dx (dy), parameter gradients
 * accumulated. dy is overwritten (Derf and LayerNorm use it as dx). */
static dytcl_status norm_backward_ops(dytcl_model *m, const dy_norm_out *o, dytcl_tensor dres, dytcl_tensor dy,
                                      dytcl_tensor x)
{
    dytcl_ctx *ctx = m->ctx;
    dytcl_dyt_params p = dyt_params(m, o->n);
    dytcl_dyt_grads g = dyt_grads(m, o->n);
    switch (norm_kind(m, o->n)) {
    case DYTCL_NORM_DYT:
        TRY(dytcl_residual_dyt_backward(ctx, dres, &g, dy, dres, x, &p), "residual + DyT backward");
        return DYTCL_OK;
    case DYTCL_NORM_RMSNORM:
        TRY(dytcl_residual_rmsnorm_backward(ctx, dres, g.dweight, 1, dy, dres, x, o->rstd, p.weight),
            "residual + RMSNorm backward");
        return DYTCL_OK;
    case DYTCL_NORM_DERF: TRY(dytcl_derf_backward(ctx, dy, &g, dy, x, &p), "Derf backward"); break;
    case DYTCL_NORM_LAYERNORM:
        TRY(dytcl_layernorm_backward(ctx, dy, g.dweight, g.dbias, 1, dy, x, o->mean, o->rstd, p.weight),
            "LayerNorm backward");
        break;
    }
    TRY(dytcl_add(ctx, dres, dres, dy), "residual gradient add");
    return DYTCL_OK;
}

/* One norm call's arguments, for timing it (benchmarks: m->profile_norms). */
typedef struct {
    const dy_norm_out *o;
    dytcl_tensor x, r, h, dres, dy;
    int backward;
} norm_call;

static dytcl_status run_norm(dytcl_model *m, const norm_call *c)
{
    return c->backward ? norm_backward_ops(m, c->o, c->dres, c->dy, c->x) : norm_forward_ops(m, c->o, c->x, c->r, c->h);
}

static dytcl_status timed(dytcl_model *m, const norm_call *c)
{
    if (!m->profile_norms) return run_norm(m, c);
    double ns = 0;
    dytcl_status s = dytcl_profile_begin(m->ctx);
    if (!s) s = run_norm(m, c);
    dytcl_status e = dytcl_profile_end(m->ctx, &ns);
    m->norm_ns += ns;
    return s ? s : dy_lib_fail(m, e, "profiling");
}

/* x = r + h, then out.y = norm(x): the residual add and the norm after it. */
static dytcl_status add_norm_forward(dytcl_model *m, const dy_norm_out *out, dytcl_tensor x, dytcl_tensor r,
                                     dytcl_tensor h)
{
    norm_call c = {out, x, r, h, {0}, {0}, 0};
    return timed(m, &c);
}

dytcl_status dy_norm_forward(dytcl_model *m, const dy_norm_out *out, dytcl_tensor x)
{
    norm_call c = {out, x, {0}, {0}, {0}, {0}, 0};
    return timed(m, &c);
}

dytcl_status dy_norm_backward(dytcl_model *m, const dy_norm_out *out, dytcl_tensor dres, dytcl_tensor dy,
                              dytcl_tensor x)
{
    norm_call c = {out, x, {0}, {0}, dres, dy, 1};
    return timed(m, &c);
}

dy_norm_out dy_norm_at(dytcl_model *m, int l)
{
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dy_norm_out o;
    if (l == m->L) {
        o.n = &m->nf, o.y = A2(lnf, 0, BT, C), o.mean = A(meanf, 0, BT), o.rstd = A(rstdf, 0, BT);
    } else {
        o.n = &m->layer[l].n1, o.y = A2(ln1, l, BT, C), o.mean = A(mean1, l, BT), o.rstd = A(rstd1, l, BT);
    }
    return o;
}

/* ------------------------------------------------------------ a block */

float dy_drop_rate(const dytcl_model *m, int l)
{
    return m->drop_path > 0 && m->L > 1 ? m->drop_path * (float)l / (float)(m->L - 1) : 0.0f;
}

/* Stochastic depth (training a ViT): y [BT, C] = x scaled per image by
 * block l's mask of branch j (0 attention, 1 MLP), seen as [B, T C] rows;
 * y = x when block l drops nothing. y may alias x. */
static dytcl_status drop_branch(dytcl_model *m, int l, int j, dytcl_tensor y, dytcl_tensor x)
{
    if (dy_drop_rate(m, l) == 0) return y.buf == x.buf && y.offset == x.offset ? DYTCL_OK : dytcl_copy(m->ctx, y, x);
    return dytcl_scale_rows(m->ctx, y, x, dy_at(m->acts, m->a.dpmask + ((size_t)l * 2 + j) * m->B, m->B));
}

dy_block_acts dy_block_acts_of(dytcl_model *m, int l)
{
    int64_t BT = (int64_t)m->B * m->T, C = m->C;
    size_t hs = (size_t)BT * C, ks = (size_t)BT * m->Hk * m->D;
    dy_block_acts a;
    a.res = A2(res, l, BT, C), a.next = A2(res, l + 1, BT, C), a.mid = A2(mid, l, BT, C);
    a.ln1 = A2(ln1, l, BT, C), a.ln2 = A2(ln2, l, BT, C);
    a.mean1 = A(mean1, l, BT), a.rstd1 = A(rstd1, l, BT), a.mean2 = A(mean2, l, BT), a.rstd2 = A(rstd2, l, BT);
    a.q = dy_at4(m->acts, m->a.q + l * hs, m->B, m->H, m->T, m->D);
    a.k = dy_at4(m->acts, m->a.k + l * ks, m->B, m->Hk, m->T, m->D);
    a.v = dy_at4(m->acts, m->a.v + l * ks, m->B, m->Hk, m->T, m->D);
    a.o = dy_at4(m->acts, m->a.o + l * hs, m->B, m->H, m->T, m->D);
    a.lse = A(lse, l, (int64_t)m->B * m->H * m->T);
    a.atty = A2(atty, l, BT, C), a.fch = A2(fch, l, BT, m->F2), a.fcact = A2(fcact, l, BT, m->F);
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
    return dy_weight(m, off, rows, cols);
}

static dytcl_attn_path attn_path(const dytcl_model *m)
{
    return m->k.causal ? DYTCL_ATTN_AUTO : (dytcl_attn_path)(DYTCL_ATTN_AUTO | DYTCL_ATTN_BIDIRECTIONAL);
}

/* Layer l's K and V caches, [1, Hk, max_seq, D] each. */
static void kv_cache(const dytcl_model *m, int l, dytcl_tensor *kc, dytcl_tensor *vc)
{
    size_t plane = (size_t)m->Hk * m->c.max_seq * m->D;
    *kc = dy_at4(m->kv, (size_t)(2 * l) * plane, 1, m->Hk, m->c.max_seq, m->D);
    *vc = dy_at4(m->kv, (size_t)(2 * l + 1) * plane, 1, m->Hk, m->c.max_seq, m->D);
}

/* Decoding (batch 1, positions pos..): qkv -> atty through layer l's KV
 * cache. One token: the heads' layout [1, H, 1, D] is qkv's own, so q, k
 * and v are views of its parts (no split), one RoPE call turns q and k
 * (adjacent: [1, 1, H + Hk, D]), and attention writes straight into atty
 * (no merge): three launches fewer per layer and token. */
static dytcl_status attn_cached(dytcl_model *m, int l, const dy_block_acts *a, dytcl_tensor qkv, int pos)
{
    dytcl_ctx *ctx = m->ctx;
    const int64_t C = m->C;
    dytcl_tensor kc, vc;
    kv_cache(m, l, &kc, &vc);
    if (qkv.shape[0] > 1) {
        TRY(dytcl_heads_split(ctx, a->q, a->k, a->v, qkv), "heads split");
        if (m->k.rope) {
            TRY(dytcl_rope_forward(ctx, rope_view(a->q), rope_view(a->q), pos, m->c.rope_theta), "RoPE q");
            TRY(dytcl_rope_forward(ctx, rope_view(a->k), rope_view(a->k), pos, m->c.rope_theta), "RoPE k");
        }
        TRY(dytcl_attention_decode(ctx, a->o, a->q, a->k, a->v, kc, vc, pos), "attention with the KV cache");
        TRY(dytcl_heads_merge(ctx, a->atty, a->o), "heads merge");
        return DYTCL_OK;
    }
    const size_t q0 = m->a.qkv, CK = (size_t)m->Hk * m->D;
    dytcl_tensor q = dy_at4(m->acts, q0, 1, m->H, 1, m->D), k = dy_at4(m->acts, q0 + C, 1, m->Hk, 1, m->D);
    dytcl_tensor v = dy_at4(m->acts, q0 + C + CK, 1, m->Hk, 1, m->D), o = a->atty;
    o.ndim = 4, o.shape[0] = 1, o.shape[1] = m->H, o.shape[2] = 1, o.shape[3] = m->D;
    if (m->k.rope) {
        dytcl_tensor qk = dy_at4(m->acts, q0, 1, 1, m->H + m->Hk, m->D);
        TRY(dytcl_rope_forward(ctx, qk, qk, pos, m->c.rope_theta), "RoPE q and k");
    }
    TRY(dytcl_attention_decode(ctx, o, q, k, v, kc, vc, pos), "attention with the KV cache");
    return DYTCL_OK;
}

/* Block l: from res and ln1 = norm1(res) (made by the step before it) to
 * next = mid + mlp(norm2(mid)), mid = res + attn(ln1), and after->y, the
 * norm that follows next (the next block's norm1, or the final norm). */
dytcl_status dy_block_forward(dytcl_model *m, int l, const dy_block_acts *a, const dy_norm_out *after, int pos)
{
    dytcl_ctx *ctx = m->ctx;
    const layer_off *p = &m->layer[l];
    const int64_t BT = (int64_t)m->B * m->T, C = m->C, C3 = m->C3, F = m->F, F2 = m->F2;
    dytcl_tensor qkv = A2(qkv, 0, BT, C3), h = A2(h, 0, BT, C);
    dy_norm_out n2 = {&p->n2, a->ln2, a->mean2, a->rstd2};

    /* attention: qkv = ln1 Wqkv^T + b                       [BT, C] -> [BT, C3] */
    TRY(dytcl_linear_forward(ctx, qkv, a->ln1, weight(m, p->qkv_w, C3, C), dy_at(m->params, p->qkv_b, C3)),
        "qkv projection");
    if (m->kv) {
        TRY_S(attn_cached(m, l, a, qkv, pos));
    } else {
        /* q, k, v = split(qkv)                     [BT, C3] -> [B, H, T, D], [B, Hk, T, D] x 2
         * with q, k = RoPE(q), RoPE(k) at positions pos.. in the same pass */
        if (m->k.rope)
            TRY(dytcl_heads_split_rope(ctx, a->q, a->k, a->v, qkv, pos, m->c.rope_theta), "heads split with RoPE");
        else
            TRY(dytcl_heads_split(ctx, a->q, a->k, a->v, qkv), "heads split");
        /* o = softmax(q k^T / sqrt(D) (causal: masked)) v      [B, H, T, D], lse [B, H, T] */
        TRY(dytcl_attention_forward(ctx, a->o, a->lse, a->q, a->k, a->v, attn_path(m)), "attention");
        /* atty = merge(o)                                     [B, H, T, D] -> [BT, C] */
        TRY(dytcl_heads_merge(ctx, a->atty, a->o), "heads merge");
    }
    /* h = atty Wo^T + b                                       [BT, C] */
    TRY(dytcl_linear_forward(ctx, h, a->atty, weight(m, p->proj_w, C, C), dy_at(m->params, p->proj_b, C)),
        "attention projection");
    /* stochastic depth: h *= the image's mask (training a ViT)  [B, T C] */
    TRY(drop_branch(m, l, 0, h, h), "drop path");

    /* residual: mid = res + h; then ln2 = norm2(mid)          [BT, C] */
    TRY_S(add_norm_forward(m, &n2, a->mid, a->res, h));

    /* MLP: fch = ln2 Wfc^T + b                                [BT, C] -> [BT, F2] */
    TRY(dytcl_linear_forward(ctx, a->fch, a->ln2, weight(m, p->fc_w, F2, C), dy_at(m->params, p->fc_b, F2)),
        "MLP up projection");
    /* fcact = gelu(fch), or swiglu(gate | up)                 [BT, F2] -> [BT, F] */
    if (m->k.swiglu) TRY(dytcl_swiglu_packed_forward(ctx, a->fcact, a->fch), "SwiGLU");
    else TRY(dytcl_gelu_forward(ctx, a->fcact, a->fch), "GELU");
    /* h = fcact Wout^T + b                                    [BT, F] -> [BT, C] */
    TRY(dytcl_linear_forward(ctx, h, a->fcact, weight(m, p->out_w, C, F), dy_at(m->params, p->out_b, C)),
        "MLP down projection");
    TRY(drop_branch(m, l, 1, h, h), "drop path");

    /* residual: next = mid + h; then the norm after this block [BT, C] */
    return add_norm_forward(m, after, a->next, a->mid, h);
}

/* The backward of dy_block_forward. In: dres, the gradient of next (the
 * following norm's input gradient already added by the step after). Out:
 * dres, the gradient of res (norm1's input gradient added); parameter
 * gradients accumulated. */
dytcl_status dy_block_backward(dytcl_model *m, int l, const dy_block_acts *a)
{
    dytcl_ctx *ctx = m->ctx;
    const layer_off *p = &m->layer[l];
    const int64_t BT = (int64_t)m->B * m->T, C = m->C, C3 = m->C3, F = m->F, F2 = m->F2;
    dytcl_tensor dres = A2(dres, 0, BT, C), dln = A2(dln, 0, BT, C);
    dytcl_tensor dfcact = A2(dfcact, 0, BT, F), dfch = A2(dfch, 0, BT, F2);
    dytcl_tensor datty = A2(h, 0, BT, C), dqkv = A2(qkv, 0, BT, C3);
    dytcl_tensor dq = dy_at4(m->acts, m->a.dq, m->B, m->H, m->T, m->D);
    dytcl_tensor dk = dy_at4(m->acts, m->a.dk, m->B, m->Hk, m->T, m->D);
    dytcl_tensor dv = dy_at4(m->acts, m->a.dv, m->B, m->Hk, m->T, m->D);
    dytcl_tensor dout = dy_at4(m->acts, m->a.dout, m->B, m->H, m->T, m->D);
    dy_norm_out n1 = {&p->n1, a->ln1, a->mean1, a->rstd1}, n2 = {&p->n2, a->ln2, a->mean2, a->rstd2};
    /* the branches' output gradients: dres, or dres times the image's mask
     * under stochastic depth (in the scratch h, then dln, free at the time) */
    const int drop = dy_drop_rate(m, l) > 0;
    dytcl_tensor dmlp = drop ? A2(h, 0, BT, C) : dres, dattn = drop ? dln : dres;

    /* MLP: dfcact = dh Wout, dWout += dh^T fcact (+ db)       [BT, C] -> [BT, F] */
    if (drop) TRY(drop_branch(m, l, 1, dmlp, dres), "drop path backward");
    TRY(dytcl_linear_backward(ctx, dfcact, dy_at2(m->grads, p->out_w, C, F), dy_at(m->grads, p->out_b, C), 1, dmlp,
                              a->fcact, dy_at2(m->params, p->out_w, C, F)),
        "MLP down projection backward");
    /* dfch = gelu'(fch) dfcact, or swiglu's                   [BT, F] -> [BT, F2] */
    if (m->k.swiglu) TRY(dytcl_swiglu_packed_backward(ctx, dfch, dfcact, a->fch), "SwiGLU backward");
    else TRY(dytcl_gelu_backward(ctx, dfch, dfcact, a->fch), "GELU backward");
    /* dln = dfch Wfc, dWfc += dfch^T ln2 (+ db)               [BT, F2] -> [BT, C] */
    TRY(dytcl_linear_backward(ctx, dln, dy_at2(m->grads, p->fc_w, F2, C), dy_at(m->grads, p->fc_b, F2), 1, dfch, a->ln2,
                              dy_at2(m->params, p->fc_w, F2, C)),
        "MLP up projection backward");
    /* residual: dres (of mid) = dres (of next) + norm2'(mid) dln   [BT, C] */
    TRY_S(dy_norm_backward(m, &n2, dres, dln, a->mid));

    /* attention: datty = dh Wo, dWo += dh^T atty (+ db)       [BT, C] */
    if (drop) TRY(drop_branch(m, l, 0, dattn, dres), "drop path backward");
    TRY(dytcl_linear_backward(ctx, datty, dy_at2(m->grads, p->proj_w, C, C), dy_at(m->grads, p->proj_b, C), 1, dattn,
                              a->atty, dy_at2(m->params, p->proj_w, C, C)),
        "attention projection backward");
    /* dout = merge^-1(datty)                                  [BT, C] -> [B, H, T, D] */
    TRY(dytcl_heads_merge_backward(ctx, dout, datty), "heads merge backward");
    /* dq, dk, dv from dout, q, k, v, o and lse (dk, dv: the sums over each group) */
    TRY(dytcl_attention_backward(ctx, dq, dk, dv, dout, a->q, a->k, a->v, a->o, a->lse, attn_path(m)),
        "attention backward");
    /* dqkv = split^-1(RoPE^-1(dq), RoPE^-1(dk), dv)            -> [BT, C3] */
    if (m->k.rope)
        TRY(dytcl_heads_split_rope_backward(ctx, dqkv, dq, dk, dv, 0, m->c.rope_theta), "heads split with RoPE backward");
    else
        TRY(dytcl_heads_split_backward(ctx, dqkv, dq, dk, dv), "heads split backward");
    /* dln = dqkv Wqkv, dWqkv += dqkv^T ln1 (+ db)             [BT, C3] -> [BT, C] */
    TRY(dytcl_linear_backward(ctx, dln, dy_at2(m->grads, p->qkv_w, C3, C), dy_at(m->grads, p->qkv_b, C3), 1, dqkv,
                              a->ln1, dy_at2(m->params, p->qkv_w, C3, C)),
        "qkv projection backward");
    /* residual: dres (of res) = dres (of mid) + norm1'(res) dln    [BT, C] */
    return dy_norm_backward(m, &n1, dres, dln, a->res);
}

/* ------------------------------------------------------------ the trunk */

dytcl_status dy_trunk_forward(dytcl_model *m, int pos)
{
    /* ln1 of block 0 = norm1(res[0]); every later norm comes with the
     * residual add before it, at the end of the block before */
    dy_norm_out first = dy_norm_at(m, 0);
    TRY_S(dy_norm_forward(m, &first, A2(res, 0, (int64_t)m->B * m->T, m->C)));
    for (int l = 0; l < m->L; l++) {
        dy_block_acts a = dy_block_acts_of(m, l);
        dy_norm_out after = dy_norm_at(m, l + 1);
        TRY_S(dy_block_forward(m, l, &a, &after, pos));
    }
    return DYTCL_OK;
}

dytcl_status dy_trunk_backward(dytcl_model *m)
{
    const int64_t BT = (int64_t)m->B * m->T, C = m->C;
    dytcl_tensor dres = A2(dres, 0, BT, C);
    dy_norm_out nf = dy_norm_at(m, m->L);
    /* dres (of res[L]) = normf'(res[L]) dln */
    TRY(dytcl_fill(m->ctx, dres, 0.0f), "zero residual gradient");
    TRY_S(dy_norm_backward(m, &nf, dres, A2(dln, 0, BT, C), A2(res, m->L, BT, C)));
    for (int l = m->L - 1; l >= 0; l--) {
        dy_block_acts a = dy_block_acts_of(m, l);
        TRY_S(dy_block_backward(m, l, &a));
    }
    return DYTCL_OK;
}
