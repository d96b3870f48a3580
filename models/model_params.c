/* model_params.c -- model configuration and the parameter table: which
 * tensors a model has, their shapes, offsets in the flat buffer, names and
 * initial values. Pure host code (the float64 reference model uses it too). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model_internal.h"

static const char *const arch_names[] = {"gpt", "llama", "vit"};
static const char *const norm_names[] = {"dyt", "derf", "rmsnorm", "layernorm"};

const char *dytcl_arch_name(dytcl_arch a) { return (unsigned)a < 3 ? arch_names[a] : "?"; }
const char *dytcl_norm_kind_name(dytcl_norm_kind n) { return (unsigned)n < 4 ? norm_names[n] : "?"; }

dytcl_status dytcl_arch_parse(const char *s, dytcl_arch *out)
{
    for (int i = 0; s && out && i < 3; i++)
        if (!strcasecmp(s, arch_names[i])) return *out = (dytcl_arch)i, DYTCL_OK;
    return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "arch \"%s\": expected gpt, llama or vit", s ? s : "(null)");
}

dy_block_kind dy_block_kind_of(const dytcl_model_config *c)
{
    dy_block_kind k = {1, 0, 0, 1, c->n_kv_head ? c->n_kv_head : c->n_head, 1, 1}; /* gpt */
    if (c->arch == DYTCL_ARCH_LLAMA)
        k.rope = 1, k.swiglu = 1, k.bias = 0, k.attn_bias = c->attn_bias, k.mlp_bias = c->mlp_bias;
    if (c->arch == DYTCL_ARCH_VIT) k.causal = 0;
    return k;
}

dytcl_status dytcl_norm_kind_parse(const char *s, dytcl_norm_kind *out)
{
    for (int i = 0; s && out && i < 4; i++)
        if (!strcasecmp(s, norm_names[i])) return *out = (dytcl_norm_kind)i, DYTCL_OK;
    return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "norm \"%s\": expected dyt, derf, rmsnorm or layernorm",
                   s ? s : "(null)");
}

/* The DyT paper's alpha0 by model width (its Table 11): attention / other. */
static void alpha_by_width(int C, float *attn, float *other)
{
    if (C <= 1024) *attn = 1.0f, *other = 1.0f;
    else if (C <= 2048) *attn = 1.0f, *other = 0.5f;
    else if (C <= 4096) *attn = 0.8f, *other = 0.2f;
    else *attn = 0.2f, *other = 0.05f;
}

/* The standard deviation of the residual stream x0 at initialisation, as
 * the first DyT/Derf sees it: llama scales its embedding (std 1/sqrt(C))
 * by emb_scale = sqrt(C), gpt adds wte (std 1/sqrt(C), tied with the head)
 * and wpe (std 0.02) unscaled. */
static double x0_std(const dytcl_model_config *c)
{
    double C = c->d_model;
    return c->arch == DYTCL_ARCH_LLAMA ? 1.0 : sqrt(1.0 / C + 0.02 * 0.02);
}

/* The ViT's defaults: the DyT paper's alpha0 0.5 for ViTs at every norm,
 * timm's eps and MLP ratio, one channel; max_seq is the tokens per image. */
static void vit_defaults(dytcl_model_config *c)
{
    if (!c->d_ff && c->d_model > 0 && c->d_model <= INT_MAX / 4) c->d_ff = 4 * c->d_model;
    if (c->alpha_attn == 0) c->alpha_attn = 0.5f;
    if (c->alpha_ffn == 0) c->alpha_ffn = 0.5f;
    if (c->alpha_final == 0) c->alpha_final = 0.5f;
    if (c->norm_eps == 0) c->norm_eps = 1e-6f;
    if (c->rope_theta == 0) c->rope_theta = 10000.0f; /* unused */
    if (!c->image_channels) c->image_channels = 1;
    if (c->patch > 0 && c->image_height % c->patch == 0 && c->image_width % c->patch == 0 && c->image_height > 0 &&
        c->image_width > 0 && c->image_height <= 4096 && c->image_width <= 4096)
        c->max_seq = (c->image_height / c->patch) * (c->image_width / c->patch) + (c->pool == DYTCL_POOL_CLS);
}

void dytcl_model_config_defaults(dytcl_model_config *c)
{
    if (!c) return;
    if (c->arch == DYTCL_ARCH_VIT) {
        vit_defaults(c);
        return;
    }
    if (!c->vocab) c->vocab = 256;
    /* in 64 bits: a d_model too large for any d_ff leaves it 0, and the check names d_model */
    int64_t C = c->d_model, F = c->arch == DYTCL_ARCH_GPT ? 4 * C : (8 * C / 3 + 31) / 32 * 32;
    if (!c->d_ff && F >= 1 && F <= INT_MAX) c->d_ff = (int)F;
    float attn, other;
    alpha_by_width(c->d_model, &attn, &other);
    /* The paper's alpha0 in both archs, undivided. gpt's stream starts at
     * std ~1/sqrt(C) (llama's at 1, through emb_scale), so there alpha0 x0
     * starts small (std 0.15 at C 48): DyT/Derf start nearly linear, and
     * gamma0 (gamma0_for: 7.0 at C 48, Derf 6.2) carries them to unit
     * output. The previous gpt rule, alpha0 divided by that std (6.86 at
     * C 48, 11.3 at C 128), saturated wherever the stream grew: the reduced
     * study (README "The norm study", 2 seeds, 400 steps, val loss /
     * RMSNorm's) had gpt DyT at 1.040 on fortunes lr 3e-3, 1.150 at lr
     * 1e-2, 1.049 at C 128, 1.022 / 1.082 on the Markov text at lr 3e-3 /
     * 1e-2, the guard firing in every one of those runs; with alpha0 1 those
     * are 0.944, 0.858, 0.970, 0.992, 0.997, no run warns, and the settings
     * that were already within 2 % gain 3-4 % (base 0.978 -> 0.943). Derf
     * the same. (alpha0 1 with gamma0 1, before gamma0_for, was worse:
     * 3.135 vs RMSNorm 2.804, a signal 7x weaker than RMSNorm's.) */
    if (c->alpha_attn == 0) c->alpha_attn = attn;
    if (c->alpha_ffn == 0) c->alpha_ffn = other;
    if (c->alpha_final == 0) c->alpha_final = other;
    if (c->norm_eps == 0) c->norm_eps = 1e-5f;
    if (c->rope_theta == 0) c->rope_theta = 10000.0f;
}

static dytcl_status vit_check(const dytcl_model_config *c)
{
    const char *why = NULL;
    int64_t N = c->patch > 0 ? (int64_t)(c->image_height / c->patch) * (c->image_width / c->patch) : 0;
    if (c->image_height < 1 || c->image_width < 1 || c->image_channels < 1 || c->image_height > 4096 ||
             c->image_width > 4096 || c->image_channels > 64)
        why = "images must be 1..4096 pixels a side with 1..64 channels";
    else if (c->patch < 1 || c->image_height % c->patch || c->image_width % c->patch)
        why = "the patch size must divide the image's height and width";
    else if (N + 1 > 65536) why = "more than 65535 patches";
    else if ((unsigned)c->pool > DYTCL_POOL_MEAN) why = "pool must be cls or mean";
    else if (c->max_seq != N + (c->pool == DYTCL_POOL_CLS))
        why = "max_seq must be the tokens per image (dytcl_model_config_defaults sets it)";
    else if (c->d_model < 1 || c->n_head < 1 || c->d_model % c->n_head || c->d_model / c->n_head > 128 ||
             c->d_model > 8192)
        why = "d_model must be a multiple of n_head, with a head size of at most 128 (and d_model <= 8192)";
    else if (c->n_layer < 1 || c->n_layer > 256 || c->d_ff < 1 || c->d_ff > 65536)
        why = "n_layer must be 1..256 and d_ff 1..65536";
    else if (c->classes < 2 || c->classes > 65536) why = "classes must be 2..65536";
    else if (c->folded) why = "a vit does not fold";
    else if ((c->n_kv_head && c->n_kv_head != c->n_head) || c->tie_embeddings || c->attn_bias || c->mlp_bias)
        why = "n_kv_head, tie_embeddings, attn_bias and mlp_bias are for gpt and llama (leave them 0)";
    else if (!isfinite(c->alpha_attn) || !isfinite(c->alpha_ffn) || !isfinite(c->alpha_final) ||
             !(c->norm_eps > 0) || !isfinite(c->norm_eps))
        why = "alpha values must be finite, norm_eps > 0";
    if (!why) return DYTCL_OK;
    return dy_fail(NULL, DYTCL_ERR_INVALID_ARG,
                   "vit config: %s (norm %s, images %d x %d x %d, patch %d, d_model %d, n_head %d, n_layer %d, d_ff %d, "
                   "classes %d)", why, dytcl_norm_kind_name(c->norm), c->image_channels, c->image_height,
                   c->image_width, c->patch, c->d_model, c->n_head, c->n_layer, c->d_ff, c->classes);
}

/* The language models' limits: every size product in the table, the
 * parameter count and the activation plan fits 64 bits, every one of an
 * int's (3C, 2F) fits 31. */
#define MAX_VOCAB (1 << 24)
#define MAX_SEQ (1 << 20)
#define MAX_LAYERS 1024
#define MAX_D_MODEL 65536
#define MAX_D_FF (1 << 20)

dytcl_status dytcl_model_config_check(const dytcl_model_config *c)
{
    const char *why = NULL;
    if (!c) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "model config: NULL");
    if ((unsigned)c->arch > DYTCL_ARCH_VIT)
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "model config: arch %d: must be gpt, llama or vit", (int)c->arch);
    if ((unsigned)c->norm > DYTCL_NORM_LAYERNORM)
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "model config (arch %s): norm %d: must be dyt, derf, rmsnorm or "
                       "layernorm", dytcl_arch_name(c->arch), (int)c->norm);
    if (c->arch == DYTCL_ARCH_VIT) return vit_check(c);
    if (c->vocab < 2 || c->vocab > MAX_VOCAB || c->max_seq < 1 || c->max_seq > MAX_SEQ || c->n_layer < 1 ||
        c->n_layer > MAX_LAYERS || c->n_head < 1 || c->d_model < 2 || c->d_model > MAX_D_MODEL || c->d_ff < 1 ||
        c->d_ff > MAX_D_FF)
        why = "needs vocab 2..16777216, max_seq 1..1048576, n_layer 1..1024, n_head >= 1, d_model 2..65536 and "
              "d_ff 1..1048576";
    else if (c->d_model % c->n_head) why = "d_model must be a multiple of n_head";
    else if (c->d_model / c->n_head > 128 || (c->d_model / c->n_head) % 2) why = "head_dim (d_model / n_head) must be even and <= 128";
    else if (c->folded && c->norm != DYTCL_NORM_DYT && c->norm != DYTCL_NORM_DERF)
        why = "only DyT and Derf models fold";
    else if (c->n_kv_head < 0 || c->n_kv_head > c->n_head || (c->n_kv_head && c->n_head % c->n_kv_head))
        why = "n_kv_head must divide n_head (0: n_head)";
    else if ((unsigned)c->tie_embeddings > 1 || (unsigned)c->attn_bias > 1 || (unsigned)c->mlp_bias > 1)
        why = "tie_embeddings, attn_bias and mlp_bias must be 0 or 1";
    else if (c->arch == DYTCL_ARCH_GPT && (c->tie_embeddings || c->attn_bias || c->mlp_bias))
        why = "tie_embeddings, attn_bias and mlp_bias are llama's (gpt's head is wte, its layers have biases)";
    else if (c->folded && c->tie_embeddings) why = "a folded model has its own lm head (tie_embeddings 0)";
    else if (!isfinite(c->alpha_attn) || !isfinite(c->alpha_ffn) || !isfinite(c->alpha_final) ||
             !(c->norm_eps > 0) || !(c->rope_theta > 1))
        why = "alpha values must be finite, norm_eps > 0, rope_theta > 1";
    if (!why) return DYTCL_OK;
    return dy_fail(
        NULL, DYTCL_ERR_INVALID_ARG,
        "model config: %s (arch %s, norm %s, vocab %d, max_seq %d, n_layer %d, n_head %d, d_model %d, d_ff %d)", why,
        dytcl_arch_name(c->arch), dytcl_norm_kind_name(c->norm), c->vocab, c->max_seq, c->n_layer, c->n_head, c->d_model, c->d_ff);
}

/* Appends tensors to a table while counting. */
typedef struct {
    dytcl_model_tensor *out;
    int cap, n;
    size_t offset;
    float memo_alpha[3], memo_gamma[3]; /* gamma0_for of the last alphas seen (3 per model) */
    int memo_n;
} table;

static void add(table *t, const char *name, int64_t rows, int64_t cols, int is_norm, int decays, dytcl_init init,
                float value)
{
    if (t->out && t->n < t->cap) {
        dytcl_model_tensor *e = &t->out[t->n];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->ndim = cols ? 2 : 1;
        e->shape[0] = rows;
        e->shape[1] = cols;
        e->numel = (size_t)rows * (size_t)(cols ? cols : 1);
        e->offset = t->offset;
        e->is_norm = is_norm;
        e->decays = decays;
        e->init = init;
        e->value = value;
    }
    t->offset += (size_t)rows * (size_t)(cols ? cols : 1);
    t->n++;
}

/* DyT/Derf's gamma0: 1 / rms of f(alpha0 x0) for x0 ~ N(0, x0_std^2), so
 * that the norm's output starts at unit RMS, as RMSNorm's does (tanh of a
 * unit normal has RMS 0.63: gamma0 1.59; erf: 0.68, gamma0 1.47). With
 * gamma0 1 the layers after each DyT start 1.6x smaller than RMSNorm's, and
 * Adam grows gamma by at most ~lr a step. Measured (llama, 3 layers, d 48,
 * 400 steps, lr 1e-3, fortunes, val loss): gamma0 1 -> 2.868, 1.59 ->
 * 2.730, RMSNorm 2.674; gpt: 2.800 -> 2.724, RMSNorm 2.804. The rms is a
 * midpoint sum over +-8 standard deviations (1e-6 close). */
static float gamma0_for(const dytcl_model_config *c, float alpha0)
{
    double a = fabs((double)alpha0) * (c->d_model > 0 ? x0_std(c) : 1.0), sum = 0, w = 0;
    if (!(a > 0) || !isfinite(a)) return 1.0f;
    for (int i = -800; i < 800; i++) {
        double z = (i + 0.5) / 100.0, p = exp(-0.5 * z * z), y = c->norm == DYTCL_NORM_DERF ? erf(a * z) : tanh(a * z);
        sum += p * y * y, w += p;
    }
    return (float)(1.0 / sqrt(sum / w));
}

/* One norm's parameters under `prefix` ("h.3.norm1"), alpha0 for DyT/Derf. */
static void add_norm(table *t, const dytcl_model_config *c, const char *prefix, float alpha0)
{
    char name[DYTCL_MODEL_NAME_MAX];
    int bias = dy_block_kind_of(c).bias;
#define NAME(suffix) (snprintf(name, sizeof name, "%s." suffix, prefix), name)
    if (c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF)
        add(t, NAME("alpha"), 1, 0, 1, 0, DYTCL_INIT_CONST, alpha0);
    if (c->norm == DYTCL_NORM_DERF) add(t, NAME("shift"), 1, 0, 1, 0, DYTCL_INIT_CONST, 0.0f);
    if (c->folded) return;
    /* the ViT starts DyT/Derf at weight 1, as the DyT paper's ViTs do */
    int dyt_like = c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF;
    float gamma0 = 1.0f;
    if (dyt_like && c->arch != DYTCL_ARCH_VIT) { /* the same three alphas in every layer: each computed once */
        int i = 0;
        while (i < t->memo_n && t->memo_alpha[i] != alpha0) i++;
        if (i == t->memo_n) {
            i = t->memo_n < 3 ? t->memo_n++ : 2;
            t->memo_alpha[i] = alpha0, t->memo_gamma[i] = gamma0_for(c, alpha0);
        }
        gamma0 = t->memo_gamma[i];
    }
    add(t, NAME("weight"), c->d_model, 0, 1, 0, DYTCL_INIT_CONST, gamma0);
    if (bias && c->norm != DYTCL_NORM_RMSNORM) add(t, NAME("bias"), c->d_model, 0, 1, 0, DYTCL_INIT_CONST, 0.0f);
#undef NAME
}

/* A linear layer [out, in]: weights normal(0, std), bias zero (when `bias`). */
static void add_linear_b(table *t, const char *prefix, int out, int in, float std, int bias)
{
    char name[DYTCL_MODEL_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    add(t, name, out, in, 0, 1, DYTCL_INIT_NORMAL, std);
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        add(t, name, out, 0, 0, 0, DYTCL_INIT_CONST, 0.0f);
    }
}

/* The ViT's linear layers: every one biased. */
static void add_linear(table *t, const dytcl_model_config *c, const char *prefix, int out, int in, float std)
{
    add_linear_b(t, prefix, out, in, std, dy_block_kind_of(c).bias);
}

/* The ViT's table (timm's names): patch embedding, class token, positions;
 * the blocks; the final norm and the head. The patch embedding starts as
 * timm's, a convolution's default (PyTorch's kaiming-uniform with a =
 * sqrt(5)): weight and bias uniform in +-1/sqrt(fan_in), fan_in = ch p p
 * (std 0.082 for 7 x 7 one-channel patches, 4x normal(0.02)'s). The other
 * matrices, the class token and the positions start normal(0, 0.02), the
 * other biases 0; only matrices decay (timm: no decay on cls and pos). */
static void build_vit(table *t, const dytcl_model_config *c)
{
    int C = c->d_model, F = c->d_ff, P = c->image_channels * c->patch * c->patch;
    float std = 0.02f, bound = 1.0f / sqrtf((float)P);
    char p[32];
    add(t, "patch.weight", C, P, 0, 1, DYTCL_INIT_UNIFORM, bound);
    add(t, "patch.bias", C, 0, 0, 0, DYTCL_INIT_UNIFORM, bound);
    if (c->pool == DYTCL_POOL_CLS) add(t, "cls", C, 0, 0, 0, DYTCL_INIT_NORMAL, std);
    add(t, "pos", c->max_seq, C, 0, 0, DYTCL_INIT_NORMAL, std);
    for (int l = 0; l < c->n_layer; l++) {
        snprintf(p, sizeof p, "blocks.%d.norm1", l);
        add_norm(t, c, p, c->alpha_attn);
        snprintf(p, sizeof p, "blocks.%d.attn.qkv", l);
        add_linear(t, c, p, 3 * C, C, std);
        snprintf(p, sizeof p, "blocks.%d.attn.proj", l);
        add_linear(t, c, p, C, C, std);
        snprintf(p, sizeof p, "blocks.%d.norm2", l);
        add_norm(t, c, p, c->alpha_ffn);
        snprintf(p, sizeof p, "blocks.%d.mlp.fc1", l);
        add_linear(t, c, p, F, C, std);
        snprintf(p, sizeof p, "blocks.%d.mlp.fc2", l);
        add_linear(t, c, p, C, F, std);
    }
    add_norm(t, c, "norm", c->alpha_final);
    add_linear(t, c, "head", c->classes, C, std);
}

/* Builds the table into t (t->out NULL: counts only). */
static void build(table *tp, const dytcl_model_config *c)
{
    if (c->arch == DYTCL_ARCH_VIT) {
        build_vit(tp, c);
        return;
    }
    table t = *tp;
    int C = c->d_model, F = c->d_ff, V = c->vocab, L = c->n_layer;
    const dy_block_kind k = dy_block_kind_of(c);
    const int C3 = C + 2 * k.kv_heads * (C / c->n_head); /* q's C rows, k's and v's Hk D each */
    int dyt_like = c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF;
    float std = 0.02f, std_res = 0.02f / sqrtf(2.0f * (float)L); /* GPT-2: residual projections scaled */
    char p[32];

    /* llama-DyT: the embedding times emb_scale = sqrt(C) starts at unit
     * scale, as RMSNorm's output does (std 1/sqrt(C) before the scale) */
    add(&t, "wte", V, C, 0, 1, DYTCL_INIT_NORMAL, dyt_like ? 1.0f / sqrtf((float)C) : std);
    if (c->arch == DYTCL_ARCH_GPT) add(&t, "wpe", c->max_seq, C, 0, 1, DYTCL_INIT_NORMAL, std);
    if (c->arch == DYTCL_ARCH_LLAMA && dyt_like) add(&t, "emb_scale", 1, 0, 1, 0, DYTCL_INIT_CONST, sqrtf((float)C));
    for (int l = 0; l < L; l++) {
        snprintf(p, sizeof p, "h.%d.norm1", l);
        add_norm(&t, c, p, c->alpha_attn);
        snprintf(p, sizeof p, "h.%d.attn.qkv", l);
        add_linear_b(&t, p, C3, C, std, k.attn_bias);
        snprintf(p, sizeof p, "h.%d.attn.proj", l);
        add_linear_b(&t, p, C, C, std_res, k.attn_bias);
        snprintf(p, sizeof p, "h.%d.norm2", l);
        add_norm(&t, c, p, c->alpha_ffn);
        if (c->arch == DYTCL_ARCH_GPT) {
            snprintf(p, sizeof p, "h.%d.mlp.fc", l);
            add_linear_b(&t, p, F, C, std, k.mlp_bias);
            snprintf(p, sizeof p, "h.%d.mlp.proj", l);
            add_linear_b(&t, p, C, F, std_res, k.mlp_bias);
        } else {
            snprintf(p, sizeof p, "h.%d.mlp.gate_up", l);
            add_linear_b(&t, p, 2 * F, C, std, k.mlp_bias);
            snprintf(p, sizeof p, "h.%d.mlp.down", l);
            add_linear_b(&t, p, C, F, std_res, k.mlp_bias);
        }
    }
    add_norm(&t, c, "normf", c->alpha_final);
    /* DyT/Derf: the head starts at 1/sqrt(C) too (like the tied GPT head):
     * with 0.02 the loss pushes the residual stream up until every DyT
     * input saturates (see the README) */
    if ((c->arch == DYTCL_ARCH_LLAMA && !c->tie_embeddings) || c->folded)
        add(&t, "lm_head.weight", V, C, 0, 1, DYTCL_INIT_NORMAL, dyt_like ? 1.0f / sqrtf((float)C) : std);
    if (c->arch == DYTCL_ARCH_GPT && c->folded) add(&t, "lm_head.bias", V, 0, 0, 0, DYTCL_INIT_CONST, 0.0f);
    *tp = t;
}

int dytcl_model_param_table(const dytcl_model_config *c, dytcl_model_tensor *out, int cap)
{
    if (dytcl_model_config_check(c)) return 0;
    table t = {out, out ? cap : 0, 0, 0, {0}, {0}, 0};
    build(&t, c);
    return t.n;
}

size_t dytcl_model_param_count(const dytcl_model_config *c)
{
    if (dytcl_model_config_check(c)) return 0;
    table t = {NULL, 0, 0, 0, {0}, {0}, 0};
    build(&t, c);
    return t.offset;
}
