/* vit.c -- the ViT's configuration, parameters, buffers, optimiser step and
 * files; the passes are in vit_pass.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dytcl_model.h" /* dytcl_rng_next: the project's one RNG */
#include "vit_internal.h"

#define FORMAT "dytcl-vit-1"

static const char *const norm_names[] = {"dyt", "derf", "rmsnorm", "layernorm"};

void vit_config_default(vit_config *c)
{
    *c = (vit_config){.height = 28, .width = 28, .channels = 1, .patch = 7, .dim = 64, .heads = 4, .layers = 4,
                      .mlp = 128, .classes = 10, .norm = VIT_NORM_DYT, .pool = VIT_POOL_CLS, .alpha0 = 0.5f,
                      .eps = 1e-6f, .seed = 1};
}

const char *vit_norm_name(vit_norm n) { return n >= 0 && n <= VIT_NORM_LAYERNORM ? norm_names[n] : "?"; }

int vit_norm_parse(const char *s, vit_norm *out)
{
    for (int i = 0; i <= VIT_NORM_LAYERNORM; i++)
        if (!strcmp(s, norm_names[i])) return *out = (vit_norm)i, 0;
    return -1;
}

int vit_config_check(const vit_config *c, char *err, size_t cap)
{
    const char *why = NULL;
    if (c->height < 1 || c->width < 1 || c->channels < 1 || c->height > 4096 || c->width > 4096 || c->channels > 64)
        why = "images must be 1..4096 pixels a side with 1..64 channels";
    else if (c->patch < 1 || c->height % c->patch || c->width % c->patch)
        why = "the patch size must divide the image's height and width";
    else if (c->dim < 1 || c->heads < 1 || c->dim % c->heads || c->dim / c->heads > 128 || c->dim > 8192)
        why = "dim must be a multiple of heads, with a head size of at most 128 (and dim <= 8192)";
    else if (c->layers < 1 || c->layers > 256 || c->mlp < 1 || c->mlp > 65536)
        why = "layers must be 1..256 and mlp 1..65536";
    else if (c->classes < 2 || c->classes > 65536) why = "classes must be 2..65536";
    else if ((int64_t)(c->height / c->patch) * (c->width / c->patch) + 1 > 65536) why = "more than 65535 patches";
    else if ((unsigned)c->norm > VIT_NORM_LAYERNORM || (unsigned)c->pool > VIT_POOL_MEAN) why = "unknown norm or pool";
    else if (!isfinite(c->alpha0) || !(c->eps > 0) || !isfinite(c->eps)) why = "alpha0 must be finite, eps > 0";
    if (why && err && cap) snprintf(err, cap, "vit config: %s", why);
    return why != NULL;
}

dytcl_status vit_fail(vit *v, dytcl_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, sizeof v->err, fmt, ap);
    va_end(ap);
    return s;
}

dytcl_status vit_lib_fail(vit *v, dytcl_status s, const char *what)
{
    return vit_fail(v, s, "%s: %s", what, dytcl_last_error(v->ctx));
}

const char *vit_error(const vit *v) { return v ? v->err : "no model"; }
const vit_config *vit_get_config(const vit *v) { return &v->c; }
size_t vit_num_params(const vit *v) { return v->n; }
int vit_num_tensors(const vit *v) { return v->ntab; }
const vit_tensor *vit_tensor_at(const vit *v, int i) { return i >= 0 && i < v->ntab ? &v->tab[i] : NULL; }

/* ------------------------------------------------------------ parameters */

enum { INIT_ZERO, INIT_ONE, INIT_CONST, INIT_NORMAL };

typedef struct {
    vit *v;
    int cap, oom;
    int *init;
    float *arg;
} table;

/* Appends a tensor [d0, d1] (d1 = 0: 1-D) and returns its offset. */
static size_t add(table *t, const char *name, int64_t d0, int64_t d1, int decay, int init, float arg)
{
    vit *v = t->v;
    if (t->oom) return 0;
    if (v->ntab == t->cap) {
        const int cap = t->cap ? 2 * t->cap : 64;
        vit_tensor *tab = realloc(v->tab, (size_t)cap * sizeof *tab);
        if (tab) v->tab = tab;
        int *inits = realloc(t->init, (size_t)cap * sizeof *inits);
        if (inits) t->init = inits;
        float *args = realloc(t->arg, (size_t)cap * sizeof *args);
        if (args) t->arg = args;
        if (!tab || !inits || !args) return t->oom = 1, 0;
        t->cap = cap;
    }
    vit_tensor *e = &v->tab[v->ntab];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = d1 ? 2 : 1, e->shape[0] = d0, e->shape[1] = d1;
    e->numel = (size_t)d0 * (size_t)(d1 ? d1 : 1), e->offset = v->n, e->decay = decay;
    t->init[v->ntab] = init, t->arg[v->ntab] = arg;
    v->ntab++;
    v->n += e->numel;
    return e->offset;
}

static void add_norm(table *t, const char *prefix, vit_norm_off *o)
{
    vit *v = t->v;
    char name[48];
    *o = (vit_norm_off){VIT_NONE, VIT_NONE, VIT_NONE, VIT_NONE};
#define NAME(s) (snprintf(name, sizeof name, "%s.%s", prefix, s), name)
    if (v->c.norm == VIT_NORM_DYT || v->c.norm == VIT_NORM_DERF)
        o->alpha = add(t, NAME("alpha"), 1, 0, 0, INIT_CONST, v->c.alpha0);
    if (v->c.norm == VIT_NORM_DERF) o->shift = add(t, NAME("shift"), 1, 0, 0, INIT_ZERO, 0);
    o->weight = add(t, NAME("weight"), v->C, 0, 0, INIT_ONE, 0);
    if (v->c.norm != VIT_NORM_RMSNORM) o->bias = add(t, NAME("bias"), v->C, 0, 0, INIT_ZERO, 0);
#undef NAME
}

/* The table in buffer order, and the initial values drawn from the seed:
 * matrices, the class token and the positions normal(0, 0.02), biases 0. */
static int build_params(vit *v, float **init_out)
{
    table t = {v, 0, 0, NULL, NULL};
    const int C = v->C, F = v->F;
    char name[48];
    v->patch_w = add(&t, "patch.weight", C, v->P, 1, INIT_NORMAL, 0.02f);
    v->patch_b = add(&t, "patch.bias", C, 0, 0, INIT_ZERO, 0);
    v->cls_tok = v->cls ? add(&t, "cls", C, 0, 0, INIT_NORMAL, 0.02f) : VIT_NONE;
    v->pos = add(&t, "pos", v->T, C, 0, INIT_NORMAL, 0.02f);
    for (int l = 0; l < v->L; l++) {
        vit_layer_off *p = &v->layer[l];
#define NAME(s) (snprintf(name, sizeof name, "blocks.%d.%s", l, s), name)
        snprintf(name, sizeof name, "blocks.%d.norm1", l), add_norm(&t, name, &p->n1);
        p->qkv_w = add(&t, NAME("attn.qkv.weight"), 3 * C, C, 1, INIT_NORMAL, 0.02f);
        p->qkv_b = add(&t, NAME("attn.qkv.bias"), 3 * C, 0, 0, INIT_ZERO, 0);
        p->proj_w = add(&t, NAME("attn.proj.weight"), C, C, 1, INIT_NORMAL, 0.02f);
        p->proj_b = add(&t, NAME("attn.proj.bias"), C, 0, 0, INIT_ZERO, 0);
        snprintf(name, sizeof name, "blocks.%d.norm2", l), add_norm(&t, name, &p->n2);
        p->fc_w = add(&t, NAME("mlp.fc1.weight"), F, C, 1, INIT_NORMAL, 0.02f);
        p->fc_b = add(&t, NAME("mlp.fc1.bias"), F, 0, 0, INIT_ZERO, 0);
        p->out_w = add(&t, NAME("mlp.fc2.weight"), C, F, 1, INIT_NORMAL, 0.02f);
        p->out_b = add(&t, NAME("mlp.fc2.bias"), C, 0, 0, INIT_ZERO, 0);
#undef NAME
    }
    add_norm(&t, "norm", &v->nf);
    v->head_w = add(&t, "head.weight", v->K, C, 1, INIT_NORMAL, 0.02f);
    v->head_b = add(&t, "head.bias", v->K, 0, 0, INIT_ZERO, 0);

    float *x = t.oom ? NULL : malloc(v->n * sizeof *x);
    if (!x) return free(t.init), free(t.arg), -1;
    uint64_t rng = v->c.seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    for (int i = 0; i < v->ntab; i++) {
        float *p = x + v->tab[i].offset;
        for (size_t j = 0; j < v->tab[i].numel; j++) {
            switch (t.init[i]) {
            case INIT_ZERO: p[j] = 0.0f; break;
            case INIT_ONE: p[j] = 1.0f; break;
            case INIT_CONST: p[j] = t.arg[i]; break;
            default: { /* Box-Muller from two 53-bit uniforms in (0, 1] */
                double u1 = ((dytcl_rng_next(&rng) >> 11) + 1) * 0x1.0p-53;
                double u2 = (dytcl_rng_next(&rng) >> 11) * 0x1.0p-53;
                p[j] = (float)(t.arg[i] * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
            }
            }
        }
    }
    free(t.init), free(t.arg);
    *init_out = x;
    return 0;
}

static dytcl_status make_buf(vit *v, size_t floats, dytcl_buf **out)
{
    dytcl_status s = dytcl_buf_create(v->ctx, floats * sizeof(float), out);
    return s ? vit_lib_fail(v, s, "device buffer") : DYTCL_OK;
}

dytcl_status vit_create(dytcl_ctx *ctx, const vit_config *c, vit **out, char *err, size_t cap)
{
    *out = NULL;
    if (!ctx || !c) return DYTCL_ERR_INVALID_ARG;
    if (vit_config_check(c, err, cap)) return DYTCL_ERR_INVALID_ARG;
    vit *v = calloc(1, sizeof *v);
    if (!v) return DYTCL_ERR_HOST_MEMORY;
    v->ctx = ctx, v->c = *c;
    v->C = c->dim, v->H = c->heads, v->D = c->dim / c->heads, v->F = c->mlp, v->K = c->classes, v->L = c->layers;
    v->N = (c->height / c->patch) * (c->width / c->patch), v->cls = c->pool == VIT_POOL_CLS;
    v->T = v->N + v->cls, v->P = c->channels * c->patch * c->patch;
    v->layer = calloc((size_t)v->L, sizeof *v->layer);
    float *init = NULL;
    dytcl_status s = DYTCL_OK;
    if (!v->layer || build_params(v, &init)) s = vit_fail(v, DYTCL_ERR_HOST_MEMORY, "out of host memory");
    if (!s) s = make_buf(v, v->n, &v->params);
    if (!s) s = make_buf(v, v->n, &v->grads);
    if (!s) s = make_buf(v, v->n, &v->m);
    if (!s) s = make_buf(v, v->n, &v->v);
    if (!s) s = make_buf(v, v->n, &v->mask);
    if (!s) s = make_buf(v, 3, &v->stats);
    if (!s && (s = dytcl_buf_write(ctx, v->params, 0, init, v->n * sizeof(float))))
        s = vit_lib_fail(v, s, "upload parameters");
    for (int i = 0; !s && i < v->ntab; i++) /* the decay mask, over the init values' memory */
        for (size_t j = 0; j < v->tab[i].numel; j++) init[v->tab[i].offset + j] = (float)v->tab[i].decay;
    if (!s && (s = dytcl_buf_write(ctx, v->mask, 0, init, v->n * sizeof(float)))) s = vit_lib_fail(v, s, "upload mask");
    if (!s && ((s = dytcl_fill(ctx, dytcl_tensor_1d(v->m, 0, (int64_t)v->n), 0.0f)) ||
               (s = dytcl_fill(ctx, dytcl_tensor_1d(v->v, 0, (int64_t)v->n), 0.0f))))
        s = vit_lib_fail(v, s, "zero AdamW state");
    free(init);
    if (s) {
        if (err && cap) snprintf(err, cap, "%s", v->err);
        vit_free(v);
        return s;
    }
    *out = v;
    return DYTCL_OK;
}

void vit_free(vit *v)
{
    if (!v) return;
    dytcl_buf *bufs[] = {v->params, v->grads, v->m, v->v, v->mask, v->stats, v->acts, v->io, v->img};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) dytcl_buf_free(bufs[i]);
    free(v->tab), free(v->layer), free(v);
}

/* ------------------------------------------------------------ activations */

dytcl_status vit_set_batch(vit *v, int B)
{
    if (!v) return DYTCL_ERR_INVALID_ARG;
    if (B < 1 || B > 65536) return vit_fail(v, DYTCL_ERR_INVALID_ARG, "vit_set_batch: B = %d is outside 1..65536", B);
    if (B == v->B && v->acts) return DYTCL_OK;
    const size_t BT = (size_t)B * v->T, C = v->C, L = v->L, F = v->F, V = v->cls + (size_t)B * v->N;
    if (BT * (3 * C + F) > (size_t)INT32_MAX / 4) return vit_fail(v, DYTCL_ERR_INVALID_ARG, "batch %d is too large", B);
    vit_act_off a;
    size_t at = 0;
#define TAKE(field, count) (a.field = at, at += (count))
    TAKE(patches, (size_t)B * v->N * v->P);
    TAKE(table, V * C);
    TAKE(res, (L + 1) * BT * C);
    TAKE(mid, L * BT * C);
    TAKE(ln1, L * BT * C), TAKE(ln2, L * BT * C);
    TAKE(mean1, L * BT), TAKE(rstd1, L * BT), TAKE(mean2, L * BT), TAKE(rstd2, L * BT);
    TAKE(q, L * BT * C), TAKE(k, L * BT * C), TAKE(v, L * BT * C), TAKE(o, L * BT * C);
    TAKE(lse, L * (size_t)B * v->H * v->T);
    TAKE(atty, L * BT * C);
    TAKE(fch, L * BT * F), TAKE(fcact, L * BT * F);
    TAKE(lnf, BT * C), TAKE(meanf, BT), TAKE(rstdf, BT);
    TAKE(sel, (size_t)v->T);
    TAKE(pooled, (size_t)B * C), TAKE(logits, (size_t)B * v->K), TAKE(losses, (size_t)B);
    TAKE(h, BT * C), TAKE(qkv, BT * 3 * C), TAKE(dres, BT * C), TAKE(dln, BT * C);
    TAKE(dq, BT * C), TAKE(dk, BT * C), TAKE(dv, BT * C), TAKE(dout, BT * C);
    TAKE(dfch, BT * F), TAKE(dfcact, BT * F);
    TAKE(dtable, V * C), TAKE(dpooled, (size_t)B * C);
#undef TAKE
    a.total = at;
    dytcl_buf_free(v->acts), dytcl_buf_free(v->io), dytcl_buf_free(v->img);
    v->acts = v->io = v->img = NULL, v->B = 0;
    dytcl_status s;
    if ((s = make_buf(v, a.total, &v->acts)) || (s = make_buf(v, BT + B, &v->io)) ||
        (s = make_buf(v, (size_t)B * v->c.channels * v->c.height * v->c.width, &v->img)))
        return s;
    /* tokens: row t of image b takes the class token (row 0 of the table) at
     * t = 0, else its patch t - cls (row cls + b N + t - cls) */
    int32_t *tok = malloc(BT * sizeof *tok);
    float *sel = malloc((size_t)v->T * sizeof *sel);
    if (!tok || !sel) return free(tok), free(sel), vit_fail(v, DYTCL_ERR_HOST_MEMORY, "out of host memory");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < v->T; t++)
            tok[(size_t)b * v->T + t] = v->cls && t == 0 ? 0 : v->cls + b * v->N + t - v->cls;
    for (int t = 0; t < v->T; t++) sel[t] = v->cls ? (t == 0 ? 1.0f : 0.0f) : 1.0f / (float)v->T;
    s = dytcl_buf_write(v->ctx, v->io, 0, tok, BT * sizeof *tok);
    if (!s) s = dytcl_buf_write(v->ctx, v->acts, a.sel * sizeof(float), sel, (size_t)v->T * sizeof *sel);
    free(tok), free(sel);
    if (s) return vit_lib_fail(v, s, "upload tokens");
    v->a = a, v->B = B, v->has_targets = 0;
    return DYTCL_OK;
}

int vit_batch(const vit *v) { return v ? v->B : 0; }

/* ------------------------------------------------------------ optimiser */

dytcl_status vit_step(vit *v, const dytcl_adamw_config *cfg, float max_norm, int step, float *grad_norm)
{
    if (!v || !cfg) return DYTCL_ERR_INVALID_ARG;
    dytcl_ctx *ctx = v->ctx;
    const int64_t n = (int64_t)v->n;
    dytcl_tensor norm = dytcl_tensor_1d(v->stats, 0, 1), scale = dytcl_tensor_1d(v->stats, 1, 1);
    dytcl_status s = dytcl_grad_norm(ctx, norm, scale, dytcl_tensor_1d(v->grads, 0, n), max_norm);
    if (s) return vit_lib_fail(v, s, "gradient norm");
    s = dytcl_adamw(ctx, dytcl_tensor_1d(v->params, 0, n), dytcl_tensor_1d(v->grads, 0, n),
                    dytcl_tensor_1d(v->m, 0, n), dytcl_tensor_1d(v->v, 0, n), dytcl_tensor_1d(v->mask, 0, n), scale,
                    cfg, step);
    if (s) return vit_lib_fail(v, s, "AdamW");
    if (grad_norm && (s = dytcl_buf_read(ctx, v->stats, 0, grad_norm, sizeof *grad_norm)))
        return vit_lib_fail(v, s, "read the gradient norm");
    return DYTCL_OK;
}

dytcl_status vit_loss(vit *v, float *loss)
{
    if (!v || !loss) return DYTCL_ERR_INVALID_ARG;
    dytcl_status s = dytcl_buf_read(v->ctx, v->stats, 2 * sizeof(float), loss, sizeof *loss);
    return s ? vit_lib_fail(v, s, "read the loss") : DYTCL_OK;
}

dytcl_status vit_logits(vit *v, float *logits)
{
    if (!v || !logits || !v->acts) return DYTCL_ERR_INVALID_ARG;
    dytcl_status s = dytcl_buf_read(v->ctx, v->acts, v->a.logits * sizeof(float), logits,
                                    (size_t)v->B * v->K * sizeof(float));
    return s ? vit_lib_fail(v, s, "read the logits") : DYTCL_OK;
}

static dytcl_buf *which_buf(vit *v, int which)
{
    dytcl_buf *b[4] = {v->params, v->grads, v->m, v->v};
    return which >= 0 && which < 4 ? b[which] : NULL;
}

dytcl_status vit_read(vit *v, int which, float *out)
{
    dytcl_buf *b = v && out ? which_buf(v, which) : NULL;
    if (!b) return DYTCL_ERR_INVALID_ARG;
    dytcl_status s = dytcl_buf_read(v->ctx, b, 0, out, v->n * sizeof(float));
    return s ? vit_lib_fail(v, s, "read parameters") : DYTCL_OK;
}

dytcl_status vit_write(vit *v, int which, const float *in)
{
    dytcl_buf *b = v && in ? which_buf(v, which) : NULL;
    if (!b) return DYTCL_ERR_INVALID_ARG;
    dytcl_status s = dytcl_buf_write(v->ctx, b, 0, in, v->n * sizeof(float));
    return s ? vit_lib_fail(v, s, "write parameters") : DYTCL_OK;
}

/* ------------------------------------------------------------ files */

dytcl_status vit_save(vit *v, const char *path, int with_opt, const char *const *meta, int nmeta)
{
    if (!v || !path || nmeta < 0 || (nmeta && !meta)) return DYTCL_ERR_INVALID_ARG;
    const int nt = v->ntab + (with_opt ? 2 : 0), nm = 15 + nmeta;
    float *host = malloc(v->n * (with_opt ? 3 : 1) * sizeof *host);
    dytcl_st_tensor *ts = calloc((size_t)nt, sizeof *ts);
    const char **md = calloc((size_t)nm * 2, sizeof *md);
    char vals[13][32];
    dytcl_status s = DYTCL_OK;
    if (!host || !ts || !md) s = vit_fail(v, DYTCL_ERR_HOST_MEMORY, "out of host memory");
    if (!s) s = vit_read(v, 0, host);
    if (!s && with_opt && !(s = vit_read(v, 2, host + v->n))) s = vit_read(v, 3, host + 2 * v->n);
    if (!s) {
        for (int i = 0; i < v->ntab; i++) {
            const vit_tensor *e = &v->tab[i];
            ts[i] = (dytcl_st_tensor){e->name, e->ndim, {e->shape[0], e->shape[1]}, e->numel, host + e->offset,
                                      e->numel * sizeof(float), DYTCL_F32};
        }
        if (with_opt) {
            ts[v->ntab] = (dytcl_st_tensor){"opt.m", 1, {(int64_t)v->n}, v->n, host + v->n, v->n * sizeof(float), DYTCL_F32};
            ts[v->ntab + 1] =
                (dytcl_st_tensor){"opt.v", 1, {(int64_t)v->n}, v->n, host + 2 * v->n, v->n * sizeof(float), DYTCL_F32};
        }
        const vit_config *c = &v->c;
        const int ints[] = {c->height, c->width, c->channels, c->patch, c->dim,
                            c->heads,  c->layers, c->mlp,     c->classes};
        const char *keys[] = {"height", "width", "channels", "patch", "dim", "heads", "layers", "mlp", "classes",
                              "alpha0", "eps", "seed"};
        int k = 0;
        md[k++] = "format", md[k++] = FORMAT;
        md[k++] = "norm", md[k++] = vit_norm_name(c->norm);
        md[k++] = "pool", md[k++] = c->pool == VIT_POOL_CLS ? "cls" : "mean";
        for (int i = 0; i < 12; i++) {
            if (i < 9) snprintf(vals[i], sizeof vals[i], "%d", ints[i]);
            else if (i < 11) snprintf(vals[i], sizeof vals[i], "%.9g", (double)(i == 9 ? c->alpha0 : c->eps));
            else snprintf(vals[i], sizeof vals[i], "%llu", (unsigned long long)c->seed);
            md[k++] = keys[i], md[k++] = vals[i];
        }
        for (int i = 0; i < 2 * nmeta; i++) md[k++] = meta[i];
        s = dytcl_st_save(path, ts, nt, md, k / 2);
        if (s) s = vit_fail(v, s, "%s: %s", path, dytcl_last_error(NULL));
    }
    free(host), free(ts), free(md);
    return s;
}

/* The config from a file's metadata; non-zero with a message when a key is
 * missing or malformed. */
static int config_from_file(const dytcl_st_file *f, vit_config *c, char *err, size_t cap)
{
    vit_config_default(c);
    const char *fmt = dytcl_st_metadata(f, "format");
    if (!fmt || strcmp(fmt, FORMAT))
        return snprintf(err, cap, "not a dytcl ViT checkpoint (metadata \"format\" is %s, expected \"" FORMAT "\")",
                        fmt ? fmt : "missing"), -1;
    const char *norm = dytcl_st_metadata(f, "norm"), *pool = dytcl_st_metadata(f, "pool");
    if (!norm || vit_norm_parse(norm, &c->norm)) return snprintf(err, cap, "bad or missing \"norm\""), -1;
    if (!pool || (strcmp(pool, "cls") && strcmp(pool, "mean")))
        return snprintf(err, cap, "bad or missing \"pool\""), -1;
    c->pool = strcmp(pool, "cls") ? VIT_POOL_MEAN : VIT_POOL_CLS;
    int *ints[] = {&c->height, &c->width,  &c->channels, &c->patch,  &c->dim,
                   &c->heads,  &c->layers, &c->mlp,      &c->classes};
    const char *keys[] = {"height", "width", "channels", "patch", "dim", "heads", "layers", "mlp", "classes"};
    for (int i = 0; i < 9; i++) {
        const char *s = dytcl_st_metadata(f, keys[i]);
        char *end = NULL;
        long x = s ? strtol(s, &end, 10) : 0;
        if (!s || *end || end == s || x < 1 || x > 1 << 20)
            return snprintf(err, cap, "bad or missing \"%s\" in the metadata", keys[i]), -1;
        *ints[i] = (int)x;
    }
    const char *a = dytcl_st_metadata(f, "alpha0"), *e = dytcl_st_metadata(f, "eps");
    const char *sd = dytcl_st_metadata(f, "seed");
    if (!a || !e || !sd) return snprintf(err, cap, "missing \"alpha0\", \"eps\" or \"seed\" in the metadata"), -1;
    c->alpha0 = strtof(a, NULL), c->eps = strtof(e, NULL), c->seed = strtoull(sd, NULL, 10);
    return vit_config_check(c, err, cap);
}

static dytcl_status load_tensor(vit *v, const dytcl_st_file *f, const char *name, int64_t n, int which,
                                size_t offset, char *err, size_t cap)
{
    dytcl_st_tensor t;
    if (dytcl_st_get(f, name, &t))
        return snprintf(err, cap, "tensor \"%s\" is missing", name), DYTCL_ERR_FORMAT;
    if ((int64_t)t.numel != n)
        return snprintf(err, cap, "tensor \"%s\" has %zu elements, the config gives %lld", name, t.numel,
                        (long long)n), DYTCL_ERR_FORMAT;
    dytcl_status s = dytcl_buf_write(v->ctx, which_buf(v, which), offset * sizeof(float), t.data, t.bytes);
    if (s) snprintf(err, cap, "upload \"%s\": %s", name, dytcl_last_error(v->ctx));
    return s;
}

dytcl_status vit_load(dytcl_ctx *ctx, const char *path, vit **out, int *has_opt, dytcl_st_file **file, char *err,
                      size_t cap)
{
    *out = NULL;
    if (has_opt) *has_opt = 0;
    if (file) *file = NULL;
    dytcl_st_file *f = NULL;
    char why[512] = "";
    dytcl_status s = dytcl_st_load(path, &f);
    if (s) return snprintf(err, cap, "%s: %s", path, dytcl_last_error(NULL)), s;
    vit_config c;
    vit *v = NULL;
    if (config_from_file(f, &c, why, sizeof why)) s = DYTCL_ERR_FORMAT;
    if (!s) s = vit_create(ctx, &c, &v, why, sizeof why);
    for (int i = 0; !s && i < v->ntab; i++)
        s = load_tensor(v, f, v->tab[i].name, (int64_t)v->tab[i].numel, 0, v->tab[i].offset, why, sizeof why);
    dytcl_st_tensor t;
    if (!s && !dytcl_st_get(f, "opt.m", &t)) {
        if (!(s = load_tensor(v, f, "opt.m", (int64_t)v->n, 2, 0, why, sizeof why)))
            s = load_tensor(v, f, "opt.v", (int64_t)v->n, 3, 0, why, sizeof why);
        if (!s && has_opt) *has_opt = 1;
    }
    if (s) {
        snprintf(err, cap, "%s: %s", path, why);
        vit_free(v), dytcl_st_free(f);
        return s;
    }
    if (file) *file = f;
    else dytcl_st_free(f);
    *out = v;
    return DYTCL_OK;
}
