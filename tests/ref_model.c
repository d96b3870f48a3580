/* ref_model.c -- the float64 reference forward pass of models/dytcl_model.h (see
 * ref_model.h). Plain loops over plain arrays, top to bottom as the math in
 * dytcl_model.h's header comment reads. Notation: R = B*T rows, C = d_model,
 * H heads of D = C/H, F = d_ff, V = vocab. Every activation is row-major. */
#include "ref_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ parameters */

/* The flat parameter buffer and its table, for lookups by name. */
typedef struct {
    const dytcl_model_config *c;
    const double *flat;
    dytcl_model_tensor *tab;
    int n;
} ref_params;

/* The tensor named by the format, or NULL when the model has none. */
static const double *param(const ref_params *p, const char *fmt, ...)
{
    char name[DYTCL_MODEL_NAME_MAX + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->tab[i].name, name)) return p->flat + p->tab[i].offset;
    return NULL;
}

/* A tensor the model must have: a missing one is a broken test setup. */
static const double *need(const ref_params *p, const char *fmt, int l)
{
    const double *t = param(p, fmt, l);
    if (!t) {
        fprintf(stderr, "ref_model: the parameter table has no tensor \"");
        fprintf(stderr, fmt, l);
        fprintf(stderr, "\"\n");
        abort();
    }
    return t;
}

/* ------------------------------------------------------------ the layers */

/* y [R, out] = x [R, in] W^T (+ b);  W [out, in], b [out] or NULL. */
static void linear(int R, int in, int out, const double *x, const double *W, const double *b, double *y)
{
    for (int r = 0; r < R; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) s += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * out + o] = s;
        }
}

/* y [R, C] = norm(x [R, C]) with the parameters under prefix ("h.0.norm1"):
 *   dyt        w * tanh(alpha x) + b
 *   derf       w * erf(alpha x + shift) + b
 *   rmsnorm    w * x / sqrt(mean(x^2) + eps)
 *   layernorm  w * (x - mean) / sqrt(var + eps) + b     (biased var)
 * An absent weight is 1 and an absent bias 0 (llama has no norm bias). */
static void norm(const ref_params *p, const char *prefix, int R, int C, const double *x, double *y)
{
    const dytcl_model_config *c = p->c;
    const double *w = param(p, "%s.weight", prefix), *b = param(p, "%s.bias", prefix); /* [C] or NULL */
    const double *alpha = param(p, "%s.alpha", prefix), *shift = param(p, "%s.shift", prefix); /* [1] */
    const double eps = c->norm_eps;
    if ((c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF) && !alpha) abort();
    if (c->norm == DYTCL_NORM_DERF && !shift) abort();
    for (int r = 0; r < R; r++) {
        const double *xr = x + (size_t)r * C;
        double *yr = y + (size_t)r * C;
        if (c->norm == DYTCL_NORM_DYT) {
            for (int i = 0; i < C; i++) yr[i] = tanh(*alpha * xr[i]);
        } else if (c->norm == DYTCL_NORM_DERF) {
            for (int i = 0; i < C; i++) yr[i] = erf(*alpha * xr[i] + *shift);
        } else if (c->norm == DYTCL_NORM_RMSNORM) {
            double ms = 0;
            for (int i = 0; i < C; i++) ms += xr[i] * xr[i];
            ms /= C;
            for (int i = 0; i < C; i++) yr[i] = xr[i] / sqrt(ms + eps);
        } else { /* DYTCL_NORM_LAYERNORM */
            double mean = 0, var = 0;
            for (int i = 0; i < C; i++) mean += xr[i];
            mean /= C;
            for (int i = 0; i < C; i++) var += (xr[i] - mean) * (xr[i] - mean);
            var /= C;
            for (int i = 0; i < C; i++) yr[i] = (xr[i] - mean) / sqrt(var + eps);
        }
        for (int i = 0; i < C; i++) yr[i] = (w ? w[i] : 1.0) * yr[i] + (b ? b[i] : 0.0);
    }
}

/* RoPE in place on one head vector v [D] at position t: the pair
 * (v[2i], v[2i+1]) turns by the angle t * theta^(-2i/D). */
static void rope(int D, int t, double theta, double *v)
{
    for (int i = 0; i < D / 2; i++) {
        double ang = t * pow(theta, -2.0 * i / D), cs = cos(ang), sn = sin(ang);
        double a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cs - b * sn;
        v[2 * i + 1] = a * sn + b * cs;
    }
}

/* Causal multi-head attention, grouped-query when Hk < H.
 *   qkv [B, T, W]: each row is q | k | v, q H heads of D, k and v Hk heads
 *                  of D each (W = (H + 2 Hk) D; Hk = n_kv_head, or H)
 *   out [B, T, C]: head h of (b, t) in columns h*D .. h*D+D-1 (merged)
 * Query head h attends with key/value head h / (H / Hk). llama turns q and
 * k by RoPE first (a copy: qkv is left as it is). */
static void attention(const dytcl_model_config *c, int B, int T, const double *qkv, double *out)
{
    const int C = c->d_model, H = c->n_head, D = C / H, Hk = c->n_kv_head ? c->n_kv_head : H;
    const int CK = Hk * D, W = C + 2 * CK, G = H / Hk;
    const size_t R = (size_t)B * T;
    double *q = malloc(R * C * sizeof *q), *k = malloc(R * CK * sizeof *k); /* [B, T, C], [B, T, CK] */
    double *p = malloc((size_t)T * sizeof *p);                              /* one row of probabilities */
    for (size_t r = 0; r < R; r++) {
        memcpy(q + r * C, qkv + r * W, C * sizeof *q);
        memcpy(k + r * CK, qkv + r * W + C, CK * sizeof *k);
        if (c->arch == DYTCL_ARCH_LLAMA) {
            int t = (int)(r % T);
            for (int h = 0; h < H; h++) rope(D, t, c->rope_theta, q + r * C + h * D);
            for (int h = 0; h < Hk; h++) rope(D, t, c->rope_theta, k + r * CK + h * D);
        }
    }
    const double scale = 1.0 / sqrt((double)D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const double *qt = q + ((size_t)b * T + t) * C + h * D;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) { /* query t sees keys 0..t */
                    const double *kj = k + ((size_t)b * T + j) * CK + (h / G) * D;
                    double s = 0;
                    for (int d = 0; d < D; d++) s += qt[d] * kj[d];
                    p[j] = s * scale;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++) sum += p[j] = exp(p[j] - mx);
                double *ot = out + ((size_t)b * T + t) * C + h * D;
                for (int d = 0; d < D; d++) {
                    double s = 0;
                    for (int j = 0; j <= t; j++) s += p[j] / sum * qkv[((size_t)b * T + j) * W + C + CK + (h / G) * D + d];
                    ot[d] = s;
                }
            }
    free(q);
    free(k);
    free(p);
}

static double gelu(double x) /* tanh form (GPT-2) */
{
    return 0.5 * x * (1 + tanh(0.7978845608028654 /* sqrt(2/pi) */ * (x + 0.044715 * x * x * x)));
}

static double silu(double x) { return x / (1 + exp(-x)); }

/* ------------------------------------------------------------ the dytcl_model */

double ref_model_loss(const dytcl_model_config *c, const double *params, const int32_t *tokens, const int32_t *targets,
                      int B, int T, double *logits_out)
{
    if (c->folded) {
        fprintf(stderr, "ref_model: folded models are not covered\n");
        abort();
    }
    const int C = c->d_model, F = c->d_ff, V = c->vocab, L = c->n_layer;
    const int R = B * T, gpt = c->arch == DYTCL_ARCH_GPT;
    const int W = C + 2 * (c->n_kv_head ? c->n_kv_head : c->n_head) * (C / c->n_head); /* qkv's row */
    ref_params p = {c, params, NULL, dytcl_model_param_table(c, NULL, 0)};
    p.tab = malloc((size_t)p.n * sizeof *p.tab);
    dytcl_model_param_table(c, p.tab, p.n);

    double *x = malloc((size_t)R * C * sizeof *x);       /* [R, C] the residual stream */
    double *a = malloc((size_t)R * C * sizeof *a);       /* [R, C] a norm's output */
    double *qkv = malloc((size_t)R * W * sizeof *qkv);   /* [R, W] */
    double *att = malloc((size_t)R * C * sizeof *att);   /* [R, C] merged heads */
    double *h = malloc((size_t)R * C * sizeof *h);       /* [R, C] a block's output before the residual */
    double *u = malloc((size_t)R * 2 * F * sizeof *u);   /* [R, F] gpt fc, [R, 2F] llama gate | up */
    double *g = malloc((size_t)R * F * sizeof *g);       /* [R, F] the activation's output */
    double *z = malloc((size_t)R * V * sizeof *z);       /* [R, V] logits */
    char name[64];

    /* x0 = wte[tok] (+ wpe[t]), times emb_scale in llama with dyt/derf */
    const double *wte = need(&p, "wte", 0);
    const double *wpe = gpt ? need(&p, "wpe", 0) : NULL;                             /* [max_seq, C] */
    const double *emb_scale =
        !gpt && (c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF) ? need(&p, "emb_scale", 0) : NULL;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < C; i++) {
            double v = wte[(size_t)tokens[r] * C + i] + (wpe ? wpe[(size_t)(r % T) * C + i] : 0.0);
            x[(size_t)r * C + i] = emb_scale ? *emb_scale * v : v;
        }

    for (int l = 0; l < L; l++) {
        /* attention: x += merge(attention(split(norm1(x) Wqkv^T + b))) Wo^T + b */
        snprintf(name, sizeof name, "h.%d.norm1", l);
        norm(&p, name, R, C, x, a);
        linear(R, C, W, a, need(&p, "h.%d.attn.qkv.weight", l), param(&p, "h.%d.attn.qkv.bias", l), qkv);
        attention(c, B, T, qkv, att);
        linear(R, C, C, att, need(&p, "h.%d.attn.proj.weight", l), param(&p, "h.%d.attn.proj.bias", l), h);
        for (size_t i = 0; i < (size_t)R * C; i++) x[i] += h[i]; /* x is now m */

        /* MLP on norm2(m) */
        snprintf(name, sizeof name, "h.%d.norm2", l);
        norm(&p, name, R, C, x, a);
        if (gpt) { /* gelu(f Wfc^T + b) Wproj^T + b */
            linear(R, C, F, a, need(&p, "h.%d.mlp.fc.weight", l), param(&p, "h.%d.mlp.fc.bias", l), u);
            for (size_t i = 0; i < (size_t)R * F; i++) g[i] = gelu(u[i]);
            linear(R, F, C, g, need(&p, "h.%d.mlp.proj.weight", l), param(&p, "h.%d.mlp.proj.bias", l), h);
        } else { /* silu(gate) * up, gate = u[:, :F], up = u[:, F:], then Wdown */
            linear(R, C, 2 * F, a, need(&p, "h.%d.mlp.gate_up.weight", l), param(&p, "h.%d.mlp.gate_up.bias", l), u);
            for (int r = 0; r < R; r++)
                for (int i = 0; i < F; i++)
                    g[(size_t)r * F + i] = silu(u[(size_t)r * 2 * F + i]) * u[(size_t)r * 2 * F + F + i];
            linear(R, F, C, g, need(&p, "h.%d.mlp.down.weight", l), param(&p, "h.%d.mlp.down.bias", l), h);
        }
        for (size_t i = 0; i < (size_t)R * C; i++) x[i] += h[i]; /* x_{l+1} */
    }

    /* logits = normf(x_L) Wlm^T: gpt (and llama with tie_embeddings) ties the head to wte */
    norm(&p, "normf", R, C, x, a);
    linear(R, C, V, a, gpt || c->tie_embeddings ? wte : need(&p, "lm_head.weight", 0), NULL, z);

    /* mean cross-entropy over the rows with a target */
    double total = 0;
    int counted = 0;
    for (int r = 0; r < R; r++) {
        if (targets[r] == -1) continue;
        const double *zr = z + (size_t)r * V;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, zr[v]);
        for (int v = 0; v < V; v++) sum += exp(zr[v] - mx);
        total += log(sum) + mx - zr[targets[r]];
        counted++;
    }
    if (logits_out) memcpy(logits_out, z, (size_t)R * V * sizeof *z);

    free(x), free(a), free(qkv), free(att), free(h), free(u), free(g), free(z);
    free(p.tab);
    return counted ? total / counted : 0.0;
}
