/* model_infer.c -- inference helpers: folding DyT's weight and bias into
 * the following linear layers, and the KV cache's lifetime (the decoding
 * pass itself is model_pass.c's forward with the cache). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

static const dytcl_model_tensor *lookup(const dytcl_model *m, const char *name) { return dy_tensor_named(m, name); }

/* dst W' = W diag(w) [out, in] and b' = c + W b [out], in float64: the
 * linear layer W (bias c, may be NULL) after a norm with weight w and bias b
 * (NULL: 0). */
static void fold_linear(const float *W, const float *c, const float *w, const float *b, int out, int in, float *Wd,
                        float *bd)
{
    for (int o = 0; o < out; o++) {
        double acc = c ? c[o] : 0.0;
        for (int i = 0; i < in; i++) {
            Wd[(size_t)o * in + i] = (float)((double)W[(size_t)o * in + i] * w[i]);
            if (b) acc += (double)W[(size_t)o * in + i] * b[i];
        }
        if (bd) bd[o] = (float)acc;
    }
}

/* The folds of one model: which norm feeds which linear layer. */
typedef struct {
    char norm[DYTCL_MODEL_NAME_MAX], weight[DYTCL_MODEL_NAME_MAX], bias[DYTCL_MODEL_NAME_MAX];
    char dst_weight[DYTCL_MODEL_NAME_MAX], dst_bias[DYTCL_MODEL_NAME_MAX];
} fold_pair;

static int fold_pairs(const dytcl_model *m, fold_pair *p)
{
    int n = 0, gpt = m->c.arch == DYTCL_ARCH_GPT;
    for (int l = 0; l < m->L; l++)
        for (int k = 0; k < 2; k++, n++) {
            const char *lin = k == 0 ? "attn.qkv" : gpt ? "mlp.fc" : "mlp.gate_up";
            snprintf(p[n].norm, DYTCL_MODEL_NAME_MAX, "h.%d.norm%d", l, k + 1);
            snprintf(p[n].weight, DYTCL_MODEL_NAME_MAX, "h.%d.%s.weight", l, lin);
            snprintf(p[n].bias, DYTCL_MODEL_NAME_MAX, "h.%d.%s.bias", l, lin);
            snprintf(p[n].dst_weight, DYTCL_MODEL_NAME_MAX, "%s", p[n].weight);
            snprintf(p[n].dst_bias, DYTCL_MODEL_NAME_MAX, "%s", p[n].bias);
        }
    snprintf(p[n].norm, DYTCL_MODEL_NAME_MAX, "normf");
    snprintf(p[n].weight, DYTCL_MODEL_NAME_MAX, "%s", gpt || m->c.tie_embeddings ? "wte" : "lm_head.weight");
    snprintf(p[n].bias, DYTCL_MODEL_NAME_MAX, "lm_head.bias"); /* absent in the source */
    snprintf(p[n].dst_weight, DYTCL_MODEL_NAME_MAX, "lm_head.weight");
    snprintf(p[n].dst_bias, DYTCL_MODEL_NAME_MAX, "lm_head.bias");
    return n + 1;
}

static const float *src_of(const dytcl_model *m, const float *p, const char *name)
{
    const dytcl_model_tensor *t = lookup(m, name);
    return t ? p + t->offset : NULL;
}

dytcl_status dytcl_model_fold(dytcl_model *src, dytcl_model **out)
{
    if (out) *out = NULL;
    dytcl_status s = dy_gate(src, __func__, 0);
    if (!s) s = dy_gate_ptr(src, __func__, out, "out");
    if (!s) s = dy_gate(src, __func__, DY_NEED_LM);
    if (s) return s;
    if (src->c.folded) return dy_model_fail(src, DYTCL_ERR_INVALID_ARG, "dytcl_model_fold: the model is already folded");
    if (src->c.norm != DYTCL_NORM_DYT && src->c.norm != DYTCL_NORM_DERF)
        return dy_model_fail(src, DYTCL_ERR_INVALID_ARG,
                          "dytcl_model_fold: only DyT and Derf models fold (this one is %s)",
                          dytcl_norm_kind_name(src->c.norm));
    dytcl_model_config c = src->c;
    c.folded = 1, c.tie_embeddings = 0; /* the head absorbs normf: its own copy */
    dytcl_model *dst = NULL;
    s = dytcl_model_create(src->ctx, &c, 0, &dst);
    if (s) return dy_lib_fail(src, s, "dytcl_model_fold");
    float *ps = malloc(src->n * sizeof(float)), *pd = malloc(dst->n * sizeof(float));
    fold_pair *pairs = malloc(sizeof *pairs * (2 * (size_t)src->L + 1));
    s = DYTCL_ERR_HOST_MEMORY;
    if (!ps || !pd || !pairs || (s = dytcl_model_read_params(src, ps))) goto done;
    /* everything that keeps its name and shape is copied ... */
    for (int i = 0; i < dst->ntab; i++) {
        const dytcl_model_tensor *t = &dst->tab[i], *o = lookup(src, t->name);
        if (o && o->numel == t->numel) memcpy(pd + t->offset, ps + o->offset, t->numel * sizeof(float));
    }
    /* ... then each linear layer after a norm absorbs the norm's affine */
    int np = fold_pairs(src, pairs);
    for (int i = 0; i < np; i++) {
        char wn[DYTCL_MODEL_NAME_MAX + 8], bn[DYTCL_MODEL_NAME_MAX + 8];
        snprintf(wn, sizeof wn, "%s.weight", pairs[i].norm);
        snprintf(bn, sizeof bn, "%s.bias", pairs[i].norm);
        const dytcl_model_tensor *W = lookup(src, pairs[i].weight), *Wd = lookup(dst, pairs[i].dst_weight);
        const dytcl_model_tensor *bd = lookup(dst, pairs[i].dst_bias);
        fold_linear(ps + W->offset, src_of(src, ps, pairs[i].bias), src_of(src, ps, wn), src_of(src, ps, bn),
                    (int)W->shape[0], (int)W->shape[1], pd + Wd->offset, bd ? pd + bd->offset : NULL);
    }
    s = dy_lib_fail(src, dytcl_model_write_params(dst, pd), "dytcl_model_fold");
done:
    free(ps), free(pd), free(pairs);
    if (s) {
        dytcl_model_free(dst);
        if (s == DYTCL_ERR_HOST_MEMORY) dy_model_fail(src, s, "dytcl_model_fold: out of host memory");
        return s;
    }
    *out = dst;
    return DYTCL_OK;
}

dytcl_status dy_refuse_vit(dytcl_model *m, const char *fn)
{
    return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "%s: for language models only (the model is a vit)", fn);
}

/* --------------------------------------------------------------- KV cache */

dytcl_status dytcl_model_decode_begin(dytcl_model *m)
{
    dytcl_status s = dy_gate(m, __func__, DY_NEED_LM);
    if (!s) s = dy_gate(m, __func__, DY_NEED_IDLE);
    if (s) return s;
    dy_gate_decoded(m, 0);
    size_t floats = (size_t)m->L * 2 * m->Hk * m->c.max_seq * m->D; /* the key/value heads only */
    s = dytcl_buf_create(m->ctx, floats * sizeof(float), &m->kv);
    if (!s) s = dytcl_fill(m->ctx, dy_at(m->kv, 0, (int64_t)floats), 0.0f);
    if (s) {
        dy_lib_fail(m, s, "KV cache");
        dytcl_buf_free(m->kv);
        m->kv = NULL;
    }
    return s;
}

void dytcl_model_decode_end(dytcl_model *m)
{
    if (!m) return;
    dytcl_buf_free(m->kv);
    m->kv = NULL;
    dy_gate_decoded(m, 0);
}

/* ------------------------------------------- half-width and q8 weights */

/* The linear layers' weights as (parameter offset, rows, cols): qkv, proj
 * and the MLP's two of every layer, then the lm head; returns the count
 * (list may be NULL). */
static int linear_weights(const dytcl_model *m, size_t (*list)[3])
{
    int n = 0;
    for (int l = 0; l < m->L; l++) {
        const layer_off *p = &m->layer[l];
        const size_t w[4][3] = {{p->qkv_w, 3 * (size_t)m->C, (size_t)m->C},
                                {p->proj_w, (size_t)m->C, (size_t)m->C},
                                {p->fc_w, (size_t)m->F2, (size_t)m->C},
                                {p->out_w, (size_t)m->C, (size_t)m->F}};
        for (int j = 0; j < 4; j++, n++)
            if (list) memcpy(list[n], w[j], sizeof w[j]);
    }
    if (list) list[n][0] = m->lm_head, list[n][1] = (size_t)m->V, list[n][2] = (size_t)m->C;
    return n + 1;
}

dytcl_tensor dy_weight(const dytcl_model *m, size_t off, int64_t rows, int64_t cols)
{
    if (!m->wh) return dy_at2(m->params, off, rows, cols);
    if (m->wdtype != DYTCL_Q8) return dytcl_tensor_as(dy_at2(m->wh, off, rows, cols), m->wdtype);
    for (int i = 0; i < m->nwq; i++)
        if (m->wq[2 * i] == off) return dytcl_tensor_as(dy_at2(m->wh, m->wq[2 * i + 1], rows, cols), DYTCL_Q8);
    return (dytcl_tensor){0}; /* not a linear layer's weight: the op refuses the absent tensor */
}

/* q8: every linear layer's weight quantized from the float32 parameters p
 * into one host image of wh (m->wq's layout). */
static dytcl_status quantize_all(dytcl_model *m, const float *p, unsigned char *img)
{
    size_t (*w)[3] = malloc(sizeof *w * (size_t)m->nwq);
    if (!w) return DYTCL_ERR_HOST_MEMORY;
    linear_weights(m, w);
    dytcl_status s = DYTCL_OK;
    for (int i = 0; i < m->nwq && !s; i++)
        s = dytcl_q8_quantize(p + w[i][0], (int64_t)w[i][1], (int64_t)w[i][2], img + m->wq[2 * i + 1]);
    free(w);
    return s;
}

dytcl_status dy_model_refresh_half(dytcl_model *m)
{
    if (!m->wh) return DYTCL_OK;
    const size_t bytes = dytcl_buf_size(m->wh);
    float *p = malloc(m->n * sizeof *p);
    void *h = malloc(bytes);
    dytcl_status s = DYTCL_ERR_HOST_MEMORY;
    if (p && h && !(s = dytcl_model_read_params(m, p))) {
        if (m->wdtype == DYTCL_Q8) {
            memset(h, 0, bytes);
            if ((s = quantize_all(m, p, h)))
                dy_model_fail(m, s, "q8 weights: %s", s == DYTCL_ERR_HOST_MEMORY ? "out of host memory"
                                                                             : dytcl_last_error(NULL));
        } else {
            uint16_t *hh = h;
            for (size_t i = 0; i < m->n; i++) hh[i] = dytcl_half_from_float(p[i], m->wdtype);
        }
        if (!s) s = dy_lib_fail(m, dytcl_buf_write(m->ctx, m->wh, 0, h, bytes), "half-width weights");
    } else if (s == DYTCL_ERR_HOST_MEMORY) {
        dy_model_fail(m, s, "half-width weights: out of host memory (%zu parameters)", m->n);
    }
    free(p), free(h);
    return s;
}

dytcl_status dy_model_refuse_half(dytcl_model *m, const char *fn)
{
    if (!m->wh) return DYTCL_OK;
    return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "%s: the model reads %s weights (dytcl_model_set_weight_dtype), "
                      "for inference only; training needs f32 (set DYTCL_F32 first)", fn, dytcl_dtype_name(m->wdtype));
}

/* q8: m->wq, where each linear layer's weight lies in wh (64-byte aligned
 * slots of dytcl_q8_bytes), and *bytes, wh's size. Every layer's input
 * width must be a multiple of 32 (the block). */
static dytcl_status q8_layout(dytcl_model *m, size_t *bytes)
{
    const int n = linear_weights(m, NULL);
    size_t (*w)[3] = malloc(sizeof *w * (size_t)n);
    size_t *wq = malloc(2 * sizeof *wq * (size_t)n);
    if (!w || !wq) {
        free(w), free(wq);
        return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "q8 weights: out of host memory");
    }
    linear_weights(m, w);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const size_t b = dytcl_q8_bytes((int64_t)w[i][1], (int64_t)w[i][2]);
        if (!b) {
            const dytcl_model_tensor *t = NULL;
            for (int j = 0; j < m->ntab && !t; j++)
                if (m->tab[j].offset == w[i][0]) t = &m->tab[j];
            dytcl_status s = dy_model_fail(m, DYTCL_ERR_UNSUPPORTED, "q8 weights: %s is [%zu, %zu]; q8 quantizes blocks of "
                                        "32 along a row, so every linear layer's input width must be a multiple of 32",
                                        t ? t->name : "a linear layer", w[i][1], w[i][2]);
            free(w), free(wq);
            return s;
        }
        wq[2 * i] = w[i][0], wq[2 * i + 1] = at;
        at += (b + 63) / 64 * 64;
    }
    free(w);
    free(m->wq);
    m->wq = wq, m->nwq = n;
    *bytes = at;
    return DYTCL_OK;
}

dytcl_status dytcl_model_set_weight_dtype(dytcl_model *m, dytcl_dtype dtype)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (s) return s;
    if (!dytcl_dtype_size(dtype))
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_set_weight_dtype: dtype %d is not f32, f16, bf16 or q8",
                          (int)dtype);
    if (dtype == m->wdtype) return DYTCL_OK;
    if (m->c.arch == DYTCL_ARCH_VIT) return dy_refuse_vit(m, __func__);
    dytcl_buf_free(m->wh);
    m->wh = NULL;
    m->wdtype = DYTCL_F32;
    if (dtype == DYTCL_F32) return DYTCL_OK;
    size_t bytes = m->n * dytcl_dtype_size(dtype);
    s = dtype == DYTCL_Q8 ? q8_layout(m, &bytes) : DYTCL_OK;
    if (s) return s;
    if ((s = dytcl_buf_create(m->ctx, bytes, &m->wh))) return dy_lib_fail(m, s, "half-width weights");
    m->wdtype = dtype;
    if ((s = dy_model_refresh_half(m))) {
        dytcl_buf_free(m->wh);
        m->wh = NULL;
        m->wdtype = DYTCL_F32;
    }
    return s;
}

dytcl_dtype dytcl_model_weight_dtype(const dytcl_model *m)
{
    return m ? m->wdtype : DYTCL_F32;
}
