/* model.c -- a model's buffers: parameters, gradients, AdamW state and
 * activations on the device, initialisation, host copies and the optimiser
 * step. The passes are in block.c (the transformer core), model_pass.c
 * (the language models) and model_image.c (the ViT). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

dytcl_tensor dy_at(dytcl_buf *b, size_t off, int64_t n)
{
    if (off == NONE) return (dytcl_tensor){0};
    return dytcl_tensor_1d(b, off, n);
}

dytcl_tensor dy_at2(dytcl_buf *b, size_t off, int64_t rows, int64_t cols)
{
    if (off == NONE) return (dytcl_tensor){0};
    return dytcl_tensor_2d(b, off, rows, cols);
}

dytcl_tensor dy_at4(dytcl_buf *b, size_t off, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    dytcl_tensor t = {b, off, 4, {d0, d1, d2, d3}, DYTCL_F32};
    return t;
}

dytcl_status dy_model_fail(dytcl_model *m, dytcl_status s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dy_fail(m->ctx, s, "%s", msg);
}

dytcl_status dy_model_bad_arg(const dytcl_model *m, const char *fn)
{
    return dy_fail(m ? m->ctx : NULL, DYTCL_ERR_INVALID_ARG, "%s: an argument is NULL or out of range", fn);
}

dytcl_status dy_lib_fail(dytcl_model *m, dytcl_status s, const char *what)
{
    if (!s) return s;
    char msg[1024]; /* the context's message, before it is overwritten */
    snprintf(msg, sizeof msg, "%s", dytcl_last_error(m->ctx));
    return dy_fail(m->ctx, s, "%s: %s", what, msg);
}

const dytcl_model_config *dytcl_model_get_config(const dytcl_model *m) { return m ? &m->c : NULL; }
dytcl_ctx *dytcl_model_ctx(const dytcl_model *m) { return m ? m->ctx : NULL; }
void dytcl_model_profile_norms(dytcl_model *m, int on)
{
    if (m) m->profile_norms = on;
}

double dytcl_model_norm_ns(dytcl_model *m)
{
    if (!m) return 0;
    double ns = m->norm_ns;
    m->norm_ns = 0;
    return ns;
}

/* ------------------------------------------------------------ the table */

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const dytcl_model_tensor *const *)a)->name, (*(const dytcl_model_tensor *const *)b)->name);
}

const dytcl_model_tensor *dy_tensor_named(const dytcl_model *m, const char *name)
{
    dytcl_model_tensor key;
    if (strlen(name) >= sizeof key.name) return NULL;
    memcpy(key.name, name, strlen(name) + 1);
    const dytcl_model_tensor *k = &key, *const *hit = bsearch(&k, m->by_name, (size_t)m->ntab, sizeof *m->by_name,
                                                              by_name);
    return hit ? *hit : NULL;
}

static size_t find(const dytcl_model *m, const char *name)
{
    const dytcl_model_tensor *t = dy_tensor_named(m, name);
    return t ? t->offset : NONE;
}

static norm_off find_norm(const dytcl_model *m, const char *prefix)
{
    char name[DYTCL_MODEL_NAME_MAX + 16];
    norm_off n;
#define F(field) (snprintf(name, sizeof name, "%s." #field, prefix), n.field = find(m, name))
    F(alpha), F(shift), F(weight), F(bias);
#undef F
    n.as = -1;
    return n;
}

static size_t find_l(const dytcl_model *m, int l, const char *suffix)
{
    char name[DYTCL_MODEL_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.%d.%s", m->c.arch == DYTCL_ARCH_VIT ? "blocks" : "h", l, suffix);
    return find(m, name);
}

static void locate_params(dytcl_model *m)
{
    int gpt = m->c.arch == DYTCL_ARCH_GPT, vit = m->c.arch == DYTCL_ARCH_VIT;
    m->wte = find(m, "wte");
    m->wpe = find(m, vit ? "pos" : "wpe");
    m->emb_scale = find(m, "emb_scale");
    m->patch_w = find(m, "patch.weight");
    m->patch_b = find(m, "patch.bias");
    m->cls_tok = find(m, "cls");
    m->lm_head = (gpt || m->c.tie_embeddings) && !m->c.folded ? m->wte : find(m, vit ? "head.weight" : "lm_head.weight");
    m->lm_head_b = find(m, vit ? "head.bias" : "lm_head.bias");
    m->nf = find_norm(m, vit ? "norm" : "normf");
    for (int l = 0; l < m->L; l++) {
        layer_off *o = &m->layer[l];
        char p[32];
        snprintf(p, sizeof p, "%s.%d.norm1", vit ? "blocks" : "h", l);
        o->n1 = find_norm(m, p);
        snprintf(p, sizeof p, "%s.%d.norm2", vit ? "blocks" : "h", l);
        o->n2 = find_norm(m, p);
        o->qkv_w = find_l(m, l, "attn.qkv.weight");
        o->qkv_b = find_l(m, l, "attn.qkv.bias");
        o->proj_w = find_l(m, l, "attn.proj.weight");
        o->proj_b = find_l(m, l, "attn.proj.bias");
        o->fc_w = find_l(m, l, vit ? "mlp.fc1.weight" : gpt ? "mlp.fc.weight" : "mlp.gate_up.weight");
        o->fc_b = find_l(m, l, vit ? "mlp.fc1.bias" : gpt ? "mlp.fc.bias" : "mlp.gate_up.bias");
        o->out_w = find_l(m, l, vit ? "mlp.fc2.weight" : gpt ? "mlp.proj.weight" : "mlp.down.weight");
        o->out_b = find_l(m, l, vit ? "mlp.fc2.bias" : gpt ? "mlp.proj.bias" : "mlp.down.bias");
    }
}

/* ------------------------------------------------------- initialisation */

/* Uniform in (0, 1) from the data generator (splitmix64): the same numbers
 * on every machine. */
static double uniform01(uint64_t *s) { return ((dytcl_rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static void init_params(const dytcl_model *m, uint64_t seed, float *p)
{
    uint64_t s = seed;
    for (int i = 0; i < m->ntab; i++) {
        const dytcl_model_tensor *t = &m->tab[i];
        for (size_t j = 0; j < t->numel; j++) {
            if (t->init == DYTCL_INIT_CONST) {
                p[t->offset + j] = t->value;
            } else if (t->init == DYTCL_INIT_UNIFORM) { /* one uniform per element */
                p[t->offset + j] = (float)(t->value * (2.0 * uniform01(&s) - 1.0));
            } else { /* Box-Muller, one normal per pair of uniforms */
                double u1 = uniform01(&s), u2 = uniform01(&s);
                p[t->offset + j] = (float)(t->value * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
            }
        }
    }
}

/* ------------------------------------------------------------ lifecycle */

static dytcl_status make_buf(dytcl_model *m, size_t floats, dytcl_buf **out, const char *what)
{
    return dy_lib_fail(m, dytcl_buf_create(m->ctx, floats * sizeof(float), out), what);
}

/* Can the device hold `count` more buffers of the model's n floats? Checked
 * before any of them is allocated: the parameters when the model is made,
 * gradients, AdamW m and v and the decay mask when it first trains. */
static dytcl_status check_fits(dytcl_model *m, int count, const char *what)
{
    dytcl_device_info d;
    dytcl_status s = dytcl_ctx_device(m->ctx, &d);
    if (s) return dy_lib_fail(m, s, "model");
    double bytes = (double)m->n * sizeof(float);
    if (m->n > 0x7fffffff)
        return dy_model_fail(m, DYTCL_ERR_DEVICE_MEMORY,
                          "model of %zu parameters: dytcl's kernels address at most 2^31 - 1 floats per buffer", m->n);
    uint64_t room = 0;
    char why[96];
    s = dytcl_ctx_memory_room(m->ctx, &room, why, sizeof why);
    if (s) return dy_lib_fail(m, s, "model");
    if (bytes > (double)d.max_alloc || count * bytes > (double)room)
        return dy_model_fail(m, DYTCL_ERR_DEVICE_MEMORY,
                          "model of %zu parameters: %s: %d buffer%s of %.1f MiB (%.1f MiB in all); %s allows "
                          "%.1f MiB per buffer, and %.1f MiB are left by %s",
                          m->n, what, count, count > 1 ? "s" : "", bytes / 1048576.0,
                          count * bytes / 1048576.0, d.name, d.max_alloc / 1048576.0, room / 1048576.0, why);
    return DYTCL_OK;
}

/* The training state (gradients, AdamW m and v, the decay mask), made at
 * the first call that needs it: a model that only runs inference never
 * holds it (4 of the 5 copies of its parameters). Zero when made, as a
 * fresh optimiser's. On failure nothing is kept. */
dytcl_status dy_model_train_state(dytcl_model *m)
{
    if (m->grads) return DYTCL_OK;
    dytcl_status s = check_fits(m, 4, "training needs gradients, AdamW m and v, decay mask");
    dytcl_buf *b[4] = {NULL, NULL, NULL, NULL};
    static const char *what[4] = {"gradients", "AdamW m", "AdamW v", "decay mask"};
    for (int i = 0; i < 4 && !s; i++) s = make_buf(m, m->n, &b[i], what[i]);
    for (int i = 0; i < 3 && !s; i++) s = dy_lib_fail(m, dytcl_fill(m->ctx, dy_at(b[i], 0, (int64_t)m->n), 0.0f), what[i]);
    if (s) {
        for (int i = 0; i < 4; i++) dytcl_buf_free(b[i]);
        return s;
    }
    m->grads = b[0], m->m = b[1], m->v = b[2], m->mask = b[3];
    m->mask_decay_norm = -1;
    return DYTCL_OK;
}

dytcl_status dytcl_model_create(dytcl_ctx *ctx, const dytcl_model_config *cfg, uint64_t seed, dytcl_model **out)
{
    return dy_model_make(ctx, cfg, seed, 1, out);
}

/* dytcl_model_create; init 0 leaves the parameters uninitialised, for a
 * caller that writes every one of them next (a load, a conversion). */
dytcl_status dy_model_make(dytcl_ctx *ctx, const dytcl_model_config *cfg, uint64_t seed, int init, dytcl_model **out)
{
    if (out) *out = NULL;
    if (!ctx || !cfg || !out)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_model_create: ctx, config and out are required");
    if (dytcl_model_config_check(cfg)) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s", dytcl_last_error(NULL));
    dytcl_model *m = calloc(1, sizeof *m);
    if (!m) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "dytcl_model_create: out of host memory");
    m->ctx = ctx;
    m->c = *cfg;
    m->k = dy_block_kind_of(cfg);
    m->C = cfg->d_model, m->H = cfg->n_head, m->D = cfg->d_model / cfg->n_head;
    m->Hk = m->k.kv_heads, m->C3 = m->C + 2 * m->Hk * m->D;
    m->F = cfg->d_ff, m->F2 = m->k.swiglu ? 2 * cfg->d_ff : cfg->d_ff;
    m->V = cfg->arch == DYTCL_ARCH_VIT ? cfg->classes : cfg->vocab, m->L = cfg->n_layer;
    if (cfg->arch == DYTCL_ARCH_VIT) {
        m->N = (cfg->image_height / cfg->patch) * (cfg->image_width / cfg->patch);
        m->P = cfg->image_channels * cfg->patch * cfg->patch;
        m->cls = cfg->pool == DYTCL_POOL_CLS;
    }
    m->mask_decay_norm = -1;
    m->ntab = dytcl_model_param_table(cfg, NULL, 0);
    m->n = dytcl_model_param_count(cfg);
    m->tab = calloc((size_t)m->ntab, sizeof *m->tab);
    m->by_name = calloc((size_t)m->ntab, sizeof *m->by_name);
    m->layer = calloc((size_t)m->L, sizeof *m->layer);
    float *host = NULL;
    dytcl_status s = DYTCL_ERR_HOST_MEMORY;
    if (!m->tab || !m->by_name || !m->layer) goto fail;
    dytcl_model_param_table(cfg, m->tab, m->ntab);
    for (int i = 0; i < m->ntab; i++) m->by_name[i] = &m->tab[i];
    qsort(m->by_name, (size_t)m->ntab, sizeof *m->by_name, by_name);
    locate_params(m);
    /* a new model is made to train: room for its training state too, checked
     * now; a loaded one holds its parameters until it trains */
    if ((s = check_fits(m, init ? 5 : 1,
                        init ? "parameters, gradients, AdamW m and v, decay mask" : "parameters")))
        goto fail;
    if ((s = make_buf(m, m->n, &m->params, "parameters")) || (s = make_buf(m, 2 + LOSS_SLOTS, &m->stats, "stats")))
        goto fail;
    s = DYTCL_ERR_HOST_MEMORY;
    if (init && !(host = malloc(m->n * sizeof(float)))) goto fail;
    if (init) init_params(m, seed, host);
    if ((init && (s = dy_lib_fail(m, dytcl_buf_write(ctx, m->params, 0, host, m->n * sizeof(float)), "parameters"))) ||
        (s = dy_lib_fail(m, dytcl_fill(ctx, dy_at(m->stats, 0, 2 + LOSS_SLOTS), 0.0f), "stats")))
        goto fail;
    free(host);
    *out = m;
    return DYTCL_OK;
fail:
    if (s == DYTCL_ERR_HOST_MEMORY) dy_fail(ctx, s, "dytcl_model_create: out of host memory");
    free(host);
    dytcl_model_free(m);
    return s;
}

void dytcl_model_free(dytcl_model *m)
{
    if (!m) return;
    dytcl_buf *bufs[] = {m->params, m->grads, m->m, m->v, m->mask, m->stats, m->acts, m->io, m->img, m->kv, m->wh};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) dytcl_buf_free(bufs[i]);
    free(m->tab);
    free(m->by_name);
    free(m->layer);
    free(m->wq);
    free(m);
}

/* ----------------------------------------------------------- activations */

/* Lays out the activations for B, T (see act_off); the ViT's own (patches,
 * table, sel, pooled, dtable, dpooled) have size 0 in the language models,
 * and its logits and losses are per image. */
static act_off plan_acts(const dytcl_model *m, int B, int T)
{
    size_t BT = (size_t)B * T, C = m->C, L = m->L, F = m->F, F2 = m->F2, V = m->V;
    size_t BHT = (size_t)B * m->H * T;
    int vit = m->c.arch == DYTCL_ARCH_VIT;
    size_t rows = vit ? (size_t)B : BT;                       /* rows of logits */
    size_t BNP = vit ? (size_t)B * m->N * m->P : 0, NV = vit ? (m->cls + (size_t)B * m->N) : 0;
    size_t BC = vit ? (size_t)B * C : 0;
    act_off a;
    size_t o = 0;
#define TAKE(field, n) (a.field = o, o += (n))
    TAKE(res, (L + 1) * BT * C);
    TAKE(mid, L * BT * C);
    TAKE(emb, m->emb_scale == NONE ? 0 : BT * C);
    TAKE(patches, BNP);
    TAKE(table, NV * C);
    TAKE(sel, vit ? (size_t)T : 0);
    TAKE(pooled, BC);
    TAKE(ln1, L * BT * C);
    TAKE(ln2, L * BT * C);
    TAKE(mean1, L * BT);
    TAKE(rstd1, L * BT);
    TAKE(mean2, L * BT);
    TAKE(rstd2, L * BT);
    TAKE(q, L * BT * C);
    const size_t CK = (size_t)m->Hk * m->D; /* k's and v's width */
    TAKE(k, L * BT * CK);
    TAKE(v, L * BT * CK);
    TAKE(o, L * BT * C);
    TAKE(lse, L * BHT);
    TAKE(atty, L * BT * C);
    TAKE(fch, L * BT * F2);
    TAKE(fcact, L * BT * F);
    TAKE(lnf, BT * C);
    TAKE(meanf, BT);
    TAKE(rstdf, BT);
    TAKE(logits, rows * V);
    TAKE(losses, rows);
    TAKE(h, BT * C);
    TAKE(qkv, BT * m->C3);
    TAKE(dres, BT * C);
    TAKE(dln, BT * C);
    TAKE(dq, BT * C);
    TAKE(dk, BT * CK);
    TAKE(dv, BT * CK);
    TAKE(dout, BT * C);
    TAKE(dfch, BT * F2);
    TAKE(dfcact, BT * F);
    TAKE(dtable, NV * C);
    TAKE(dpooled, BC);
    TAKE(dpmask, vit ? 2 * L * (size_t)B : 0);
#undef TAKE
    a.total = o;
    return a;
}

dytcl_status dytcl_model_set_batch(dytcl_model *m, int B, int T)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (s) return s;
    if (m->c.arch == DYTCL_ARCH_VIT && T == 0) T = m->c.max_seq; /* the tokens per image */
    if (m->c.arch == DYTCL_ARCH_VIT && (B < 1 || T != m->c.max_seq))
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                          "dytcl_model_set_batch: B = %d, T = %d (a vit needs B >= 1 and T 0 or its %d tokens per image)",
                          B, T, m->c.max_seq);
    if (B < 1 || T < 1 || T > m->c.max_seq)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                          "dytcl_model_set_batch: B = %d, T = %d (need B >= 1, 1 <= T <= max_seq %d)", B, T,
                          m->c.max_seq);
    if (m->acts && m->B == B && m->T == T) return DYTCL_OK;
    /* the residual streams alone, (L + 1) B T C floats, bound every other
     * term of the plan: refused here, nothing in plan_acts overflows */
    double streams = (double)B * T * m->C * (m->L + 1);
    if (streams > 0x7fffffff)
        return dy_model_fail(m, DYTCL_ERR_DEVICE_MEMORY,
                          "activations for B = %d, T = %d need more than %.0f floats (more than 2^31 - 1 elements); "
                          "lower the batch or the sequence length", B, T, streams);
    act_off a = plan_acts(m, B, T);
    /* Decoding alternates a prompt's many rows with one-token steps: buffers
     * large enough for the new shape are kept (fresh ones are zeroed by the
     * system page by page on first touch, every prompt again), laid out anew. */
    if (m->kv && m->acts && m->io && !m->img && a.total <= dytcl_buf_size(m->acts) / sizeof(float) &&
        2 * (size_t)B * T <= dytcl_buf_size(m->io) / sizeof(float)) {
        dy_gate_batch(m);
        m->a = a;
        m->B = B, m->T = T;
        return DYTCL_OK;
    }
    dytcl_buf_free(m->acts);
    dytcl_buf_free(m->io);
    dytcl_buf_free(m->img);
    m->acts = m->io = m->img = NULL;
    m->B = m->T = 0;
    dy_gate_batch(m);
    if (a.total > 0x7fffffff)
        return dy_model_fail(m, DYTCL_ERR_DEVICE_MEMORY,
                          "activations for B = %d, T = %d need %.1f MiB (%zu floats, more than 2^31 - 1 elements); "
                          "lower the batch or the sequence length", B, T, a.total * 4.0 / 1048576.0, a.total);
    s = make_buf(m, a.total, &m->acts, "activations");
    if (!s) s = make_buf(m, 2 * (size_t)B * T, &m->io, "tokens");
    if (s) {
        char why[1024];
        snprintf(why, sizeof why, "%s", dytcl_last_error(m->ctx));
        return dy_model_fail(m, s, "activations for B = %d, T = %d (%.1f MiB): %s", B, T, a.total * 4.0 / 1048576.0, why);
    }
    m->a = a;
    m->B = B, m->T = T;
    if (m->c.arch == DYTCL_ARCH_VIT && (s = dy_image_batch(m, B))) {
        dytcl_buf_free(m->acts), dytcl_buf_free(m->io), dytcl_buf_free(m->img);
        m->acts = m->io = m->img = NULL;
        m->B = m->T = 0;
    }
    return s;
}

void dytcl_model_batch(const dytcl_model *m, int *B, int *T)
{
    if (B) *B = m ? m->B : 0;
    if (T) *T = m ? m->T : 0;
}

/* ------------------------------------------------------------ host copies */

/* After the gate: m is not NULL. */
static dytcl_status rw(dytcl_model *m, dytcl_buf *b, void *host, int write, const char *what)
{
    size_t bytes = m->n * sizeof(float);
    return dy_lib_fail(m, write ? dytcl_buf_write(m->ctx, b, 0, host, bytes) : dytcl_buf_read(m->ctx, b, 0, host, bytes),
                    what);
}

dytcl_status dytcl_model_read_params(dytcl_model *m, float *out)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, out, "out");
    return s ? s : rw(m, m->params, out, 0, "read parameters");
}

dytcl_status dytcl_model_write_params(dytcl_model *m, const float *in)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, in, "in");
    if (!s) s = rw(m, m->params, (void *)in, 1, "write parameters");
    return s ? s : dy_model_refresh_half(m);
}

dytcl_status dytcl_model_read_grads(dytcl_model *m, float *out)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, out, "out");
    if (!s && !m->grads) memset(out, 0, m->n * sizeof *out); /* no training yet: zero, as made */
    return s || !m->grads ? s : rw(m, m->grads, out, 0, "read gradients");
}

dytcl_status dytcl_model_read_opt(dytcl_model *m, float *mom, float *var)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, mom, "mom");
    if (!s) s = dy_gate_ptr(m, __func__, var, "var");
    if (!s && !m->grads) { /* no training yet: a fresh optimiser's zeros */
        memset(mom, 0, m->n * sizeof *mom);
        memset(var, 0, m->n * sizeof *var);
        return DYTCL_OK;
    }
    if (!s) s = rw(m, m->m, mom, 0, "read AdamW m");
    return s ? s : rw(m, m->v, var, 0, "read AdamW v");
}

dytcl_status dytcl_model_write_opt(dytcl_model *m, const float *mom, const float *var)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, mom, "mom");
    if (!s) s = dy_gate_ptr(m, __func__, var, "var");
    if (!s) s = dy_model_train_state(m);
    if (!s) s = rw(m, m->m, (void *)mom, 1, "write AdamW m");
    return s ? s : rw(m, m->v, (void *)var, 1, "write AdamW v");
}

dytcl_status dytcl_model_read_logits(dytcl_model *m, float *out)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, out, "out");
    if (!s) s = dy_gate(m, __func__, DY_NEED_LOGITS);
    if (s) return s;
    size_t rows = m->c.arch == DYTCL_ARCH_VIT ? (size_t)m->B : (size_t)m->B * m->T;
    return dy_lib_fail(m, dytcl_buf_read(m->ctx, m->acts, m->a.logits * sizeof(float), out, rows * m->V * sizeof(float)),
                    "read logits");
}

dytcl_status dytcl_model_read_predictions(dytcl_model *m, int32_t *out)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, out, "out");
    if (!s) s = dy_gate(m, __func__, DY_NEED_LOGITS);
    if (s) return s;
    size_t rows = m->c.arch == DYTCL_ARCH_VIT ? (size_t)m->B : (size_t)m->B * m->T, V = (size_t)m->V;
    float *logits = malloc(rows * V * sizeof *logits);
    if (!logits) return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "dytcl_model_read_predictions: out of host memory");
    s = dytcl_model_read_logits(m, logits);
    for (size_t r = 0; !s && r < rows; r++) {
        const float *row = logits + r * V;
        size_t best = 0;
        for (size_t k = 1; k < V; k++)
            if (row[k] > row[best]) best = k;
        out[r] = (int32_t)best;
    }
    free(logits);
    return s;
}

dytcl_status dytcl_model_read_loss(dytcl_model *m, float *loss)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, loss, "loss");
    if (!s) s = dy_gate(m, __func__, DY_NEED_LOSS);
    if (s) return s;
    int last = (m->slot + LOSS_SLOTS - 1) % LOSS_SLOTS;
    return dy_lib_fail(m, dytcl_buf_read(m->ctx, m->stats, (2 + (size_t)last) * sizeof(float), loss, sizeof(float)),
                    "read loss");
}

/* -------------------------------------------------------------- optimiser */

dytcl_status dytcl_model_zero_grad(dytcl_model *m)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (s) return s;
    m->slot = 0;
    dy_gate_zero_grad(m);
    if (!m->grads) return DYTCL_OK; /* made zero at the first backward */
    return dy_lib_fail(m, dytcl_fill(m->ctx, dy_at(m->grads, 0, (int64_t)m->n), 0.0f), "zero gradients");
}

/* The weight-decay mask for decay_norm (uploaded when it changes). */
static dytcl_status ensure_mask(dytcl_model *m, int decay_norm)
{
    if (m->mask_decay_norm == decay_norm) return DYTCL_OK;
    float *h = malloc(m->n * sizeof(float));
    if (!h) return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "decay mask: out of host memory");
    for (int i = 0; i < m->ntab; i++) {
        const dytcl_model_tensor *t = &m->tab[i];
        float on = (float)(t->decays || (t->is_norm && decay_norm));
        for (size_t j = 0; j < t->numel; j++) h[t->offset + j] = on;
    }
    dytcl_status s = rw(m, m->mask, h, 1, "decay mask");
    free(h);
    if (!s) m->mask_decay_norm = decay_norm;
    return s;
}

float dytcl_lr_at(const dytcl_model_optim *o, int step)
{
    if (!o) return 0;
    if (step <= o->warmup) return o->lr * (float)step / (float)(o->warmup > 0 ? o->warmup : 1);
    if (o->steps <= 0) return o->lr;
    double p = (double)(step - o->warmup) / (double)(o->steps - o->warmup > 0 ? o->steps - o->warmup : 1);
    if (p > 1) p = 1;
    double lo = o->lr * o->min_lr_frac;
    return (float)(lo + 0.5 * (o->lr - lo) * (1 + cos(3.141592653589793 * p)));
}

dytcl_status dytcl_model_step(dytcl_model *m, const dytcl_model_optim *o, int step)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_optim(m, __func__, o, step);
    if (!s) s = dy_model_refuse_half(m, __func__);
    if (!s) s = dy_model_train_state(m);
    if (s) return s;
    dy_gate_step(m, 0);
    if ((s = ensure_mask(m, o->decay_norm))) return s;
    dytcl_tensor all = dy_at(m->grads, 0, (int64_t)m->n);
    dytcl_tensor norm = dy_at(m->stats, 0, 1), scale = dy_at(m->stats, 1, 1);
    dytcl_adamw_config cfg = {dytcl_lr_at(o, step), o->beta1, o->beta2, o->eps, o->weight_decay};
    if ((s = dy_lib_fail(m, dytcl_grad_norm(m->ctx, norm, scale, all, o->clip), "gradient norm"))) return s;
    s = dy_lib_fail(m,
                    dytcl_adamw(m->ctx, dy_at(m->params, 0, (int64_t)m->n), all, dy_at(m->m, 0, (int64_t)m->n),
                                dy_at(m->v, 0, (int64_t)m->n), dy_at(m->mask, 0, (int64_t)m->n), scale, &cfg, step),
                    "AdamW");
    dy_gate_step(m, !s);
    return s;
}

dytcl_status dytcl_model_param_norm(dytcl_model *m, float *norm)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, norm, "norm");
    if (s) return s;
    dy_gate_step(m, 0); /* the step's gradient norm is overwritten */
    s = dytcl_grad_norm(m->ctx, dy_at(m->stats, 0, 1), (dytcl_tensor){0}, dy_at(m->params, 0, (int64_t)m->n), 0);
    if (!s) s = dytcl_buf_read(m->ctx, m->stats, 0, norm, sizeof(float));
    return dy_lib_fail(m, s, "parameter norm");
}

dytcl_status dytcl_model_step_stats(dytcl_model *m, float *losses, int n, float *grad_norm)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, grad_norm, "grad_norm");
    if (!s && n) s = dy_gate_ptr(m, __func__, losses, "losses");
    if (!s && (n < 0 || n > LOSS_SLOTS))
        s = dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_step_stats: n = %d, not 0..%d", n, LOSS_SLOTS);
    if (!s) s = dy_gate(m, __func__, DY_NEED_STEP);
    if (s) return s;
    if (n > m->gate.losses)
        return dy_model_fail(m, DYTCL_ERR_CALL_ORDER,
                             "dytcl_model_step_stats: %d losses asked, %d computed since dytcl_model_zero_grad", n,
                             m->gate.losses);
    float h[2 + LOSS_SLOTS];
    s = dytcl_buf_read(m->ctx, m->stats, 0, h, (2 + (size_t)n) * sizeof(float));
    if (s) return dy_lib_fail(m, s, "read step stats");
    *grad_norm = h[0];
    if (n) memcpy(losses, h + 2, (size_t)n * sizeof(float));
    return DYTCL_OK;
}

/* ------------------------------------------------------------ diagnostics */

/* The fraction of x [n] with |alpha x + shift| > 2. */
static float saturated(const float *x, size_t n, float alpha, float shift)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += fabsf(alpha * x[i] + shift) > 2.0f;
    return n ? (float)k / (float)n : 0.0f;
}

dytcl_status dytcl_model_saturation(dytcl_model *m, float *frac, float *alpha)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, frac, "frac");
    if (!s) s = dy_gate_ptr(m, __func__, alpha, "alpha");
    if (s) return s;
    if (m->c.norm != DYTCL_NORM_DYT && m->c.norm != DYTCL_NORM_DERF)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_saturation: the model's norm is %s, not dyt or derf",
                          dytcl_norm_kind_name(m->c.norm));
    if ((s = dy_gate(m, __func__, DY_NEED_RAN))) return s;
    size_t n = (size_t)m->B * m->T * m->C;
    float *x = malloc(n * sizeof *x);
    if (!x) return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "dytcl_model_saturation: out of host memory");
    for (int i = 0; i < 2 * m->L + 1 && !s; i++) {
        /* the norm's input: res[l] (norm1), mid[l] (norm2), res[L] (normf) */
        int l = i / 2;
        const norm_off *no = i == 2 * m->L ? &m->nf : i % 2 ? &m->layer[l].n2 : &m->layer[l].n1;
        size_t in = i == 2 * m->L ? m->a.res + (size_t)m->L * n : i % 2 ? m->a.mid + (size_t)l * n : m->a.res + (size_t)l * n;
        float ab[2] = {0, 0};
        s = dytcl_buf_read(m->ctx, m->params, no->alpha * sizeof(float), &ab[0], sizeof(float));
        if (!s && no->shift != NONE) s = dytcl_buf_read(m->ctx, m->params, no->shift * sizeof(float), &ab[1], sizeof(float));
        if (!s) s = dytcl_buf_read(m->ctx, m->acts, in * sizeof(float), x, n * sizeof(float));
        if (!s) frac[i] = saturated(x, n, ab[0], ab[1]), alpha[i] = ab[0];
    }
    free(x);
    return dy_lib_fail(m, s, "dytcl_model_saturation");
}
