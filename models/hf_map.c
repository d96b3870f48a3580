/* hf_map.c -- dytcl's parameter names and layouts against transformers'
 * (the table in hf_internal.h): one map, read one way by the loader and the
 * other way by the exporter. Pure host code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_internal.h"

/* Appends a piece while counting. */
typedef struct {
    dy_hf_piece *out;
    int cap, n;
} pieces;

static void put(pieces *ps, const char *name, const dytcl_model_tensor *t, int64_t row0, int64_t rows, int transpose,
                int rope_heads)
{
    if (ps->out && ps->n < ps->cap) {
        dy_hf_piece *p = &ps->out[ps->n];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->cols = t->ndim == 2 ? t->shape[1] : 1;
        p->rows = rows;
        p->dst = t->offset + (size_t)(row0 * p->cols);
        p->ndim = t->ndim;
        p->transpose = transpose;
        p->rope_heads = rope_heads;
        if (t->ndim == 1) p->shape[0] = rows;
        else if (transpose) p->shape[0] = p->cols, p->shape[1] = rows;
        else p->shape[0] = rows, p->shape[1] = p->cols;
    }
    ps->n++;
}

/* A whole tensor under one HF name. */
static void whole(pieces *ps, const char *name, const dytcl_model_tensor *t, int transpose)
{
    put(ps, name, t, 0, t->shape[0], transpose, 0);
}

/* A norm's tensor: `suffix` is dytcl's (alpha, shift, weight, bias), kept. */
static void norm(pieces *ps, const char *hf_prefix, const char *suffix, const dytcl_model_tensor *t)
{
    char name[DY_HF_NAME_MAX];
    snprintf(name, sizeof name, "%.100s.%.8s", hf_prefix, suffix);
    whole(ps, name, t, 0);
}

/* One layer's tensor t, named `rest` after "h.<l>." in dytcl. 0, or -1
 * when it has no HF name. */
static int layer_tensor(pieces *ps, const dytcl_model_config *c, int l, const char *rest, const dytcl_model_tensor *t)
{
    const int llama = c->arch == DYTCL_ARCH_LLAMA;
    const int64_t C = c->d_model, F = c->d_ff, H = c->n_head, Hk = c->n_kv_head ? c->n_kv_head : H;
    const int64_t CK = Hk * (C / H); /* k's and v's rows */
    char pre[48], name[96];
    snprintf(pre, sizeof pre, llama ? "model.layers.%d" : "transformer.h.%d", l);
#define NAME(fmt) (snprintf(name, sizeof name, "%s." fmt, pre), name)
    if (!strncmp(rest, "norm1.", 6)) {
        norm(ps, llama ? NAME("input_layernorm") : NAME("ln_1"), rest + 6, t);
    } else if (!strncmp(rest, "norm2.", 6)) {
        norm(ps, llama ? NAME("post_attention_layernorm") : NAME("ln_2"), rest + 6, t);
    } else if (llama && !strncmp(rest, "attn.qkv.", 9)) {
        /* weight [C + 2 CK, C] or bias [C + 2 CK]: q (C rows, RoPE order),
         * k (CK = n_kv_head D rows, RoPE order), v (CK rows) */
        const char *w = rest + 9; /* "weight" or "bias" */
        char kn[96], vn[96];
        snprintf(kn, sizeof kn, "%.32s.self_attn.k_proj.%.8s", pre, w);
        snprintf(vn, sizeof vn, "%.32s.self_attn.v_proj.%.8s", pre, w);
        snprintf(name, sizeof name, "%.32s.self_attn.q_proj.%.8s", pre, w);
        put(ps, name, t, 0, C, 0, (int)H);
        put(ps, kn, t, C, CK, 0, (int)Hk);
        put(ps, vn, t, C + CK, CK, 0, 0);
    } else if (llama && !strncmp(rest, "attn.proj.", 10)) {
        snprintf(name, sizeof name, "%.32s.self_attn.o_proj.%.8s", pre, rest + 10);
        whole(ps, name, t, 0);
    } else if (llama && !strncmp(rest, "mlp.gate_up.", 12)) { /* [2F, C] or [2F]: gate, then up */
        char un[96];
        snprintf(un, sizeof un, "%.32s.mlp.up_proj.%.8s", pre, rest + 12);
        snprintf(name, sizeof name, "%.32s.mlp.gate_proj.%.8s", pre, rest + 12);
        put(ps, name, t, 0, F, 0, 0);
        put(ps, un, t, F, F, 0, 0);
    } else if (llama && !strncmp(rest, "mlp.down.", 9)) {
        snprintf(name, sizeof name, "%.32s.mlp.down_proj.%.8s", pre, rest + 9);
        whole(ps, name, t, 0);
    } else if (!llama) { /* GPT-2: Conv1D weights [in, out], biases as they are */
        static const char *const gpt[][2] = {{"attn.qkv", "attn.c_attn"},
                                             {"attn.proj", "attn.c_proj"},
                                             {"mlp.fc", "mlp.c_fc"},
                                             {"mlp.proj", "mlp.c_proj"}};
        for (size_t i = 0; i < sizeof gpt / sizeof gpt[0]; i++) {
            size_t k = strlen(gpt[i][0]);
            if (strncmp(rest, gpt[i][0], k) || rest[k] != '.') continue;
            snprintf(name, sizeof name, "%s.%s.%s", pre, gpt[i][1], rest + k + 1);
            whole(ps, name, t, t->ndim == 2);
            return 0;
        }
        return -1;
    } else {
        return -1;
    }
#undef NAME
    return 0;
}

int dy_hf_pieces(const dytcl_model_config *c, dy_hf_piece *out, int cap)
{
    if (!c || c->folded) return -1;
    const int llama = c->arch == DYTCL_ARCH_LLAMA;
    int nt = dytcl_model_param_table(c, NULL, 0);
    pieces ps = {out, out ? cap : 0, 0};
    dytcl_model_tensor *tab = nt > 0 ? malloc((size_t)nt * sizeof *tab) : NULL;
    if (!tab) return -1;
    dytcl_model_param_table(c, tab, nt);
    int bad = 0;
    for (int i = 0; i < nt && !bad; i++) {
        const dytcl_model_tensor *t = &tab[i];
        int l;
        char rest[DYTCL_MODEL_NAME_MAX];
        if (!strcmp(t->name, "wte")) whole(&ps, llama ? "model.embed_tokens.weight" : "transformer.wte.weight", t, 0);
        else if (!strcmp(t->name, "wpe") && !llama) whole(&ps, "transformer.wpe.weight", t, 0);
        else if (!strcmp(t->name, "emb_scale") && llama) whole(&ps, "model.embed_scale", t, 0);
        else if (!strcmp(t->name, "lm_head.weight") && llama) whole(&ps, "lm_head.weight", t, 0);
        else if (!strncmp(t->name, "normf.", 6))
            norm(&ps, llama ? "model.norm" : "transformer.ln_f", t->name + 6, t);
        else if (sscanf(t->name, "h.%d.%47s", &l, rest) == 2)
            bad = layer_tensor(&ps, c, l, rest, t);
        else
            bad = -1;
    }
    free(tab);
    return bad ? -1 : ps.n;
}

/* The HF row that holds dytcl's row r of p: r itself, or for q and k
 * (rope_heads heads of D = rows / rope_heads rows), within a head,
 * 2i <- i and 2i + 1 <- D/2 + i. */
static int64_t hf_row(const dy_hf_piece *p, int64_t r)
{
    if (p->rope_heads <= 0) return r;
    const int64_t D = p->rows / p->rope_heads, h = r / D, j = r % D;
    return h * D + (j % 2 ? D / 2 : 0) + j / 2;
}

void dy_hf_to_dytcl(const dy_hf_piece *p, const float *src, float *params)
{
    float *dst = params + p->dst;
    const int64_t R = p->rows, K = p->cols;
    for (int64_t r = 0; r < R; r++) {
        if (p->transpose) /* src [K, R] */
            for (int64_t k = 0; k < K; k++) dst[r * K + k] = src[k * R + r];
        else
            memcpy(dst + r * K, src + hf_row(p, r) * K, (size_t)K * sizeof(float));
    }
}

void dy_hf_from_dytcl(const dy_hf_piece *p, const float *params, float *dst)
{
    const float *src = params + p->dst;
    const int64_t R = p->rows, K = p->cols;
    for (int64_t r = 0; r < R; r++) {
        if (p->transpose)
            for (int64_t k = 0; k < K; k++) dst[k * R + r] = src[r * K + k];
        else
            memcpy(dst + hf_row(p, r) * K, src + r * K, (size_t)K * sizeof(float));
    }
}
