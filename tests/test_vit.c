/* test_vit.c -- the whole ViT against an independent float64 model written
 * here from its definition: logits and loss at every norm and both poolings,
 * and every parameter's gradient against central finite differences of that
 * float64 model; then a checkpoint round trip and a few AdamW steps. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "vit_internal.h"

static unsigned long long rng = 160016;

/* y [C] = norm(x [C]) with the parameters at the norm's offsets in p. */
static void ref_norm(const vit *v, const vit_norm_off *o, const double *p, const double *x, double *y)
{
    const int C = v->C;
    double mean = 0, ms = 0, var = 0;
    for (int i = 0; i < C; i++) mean += x[i] / C, ms += x[i] * x[i] / C;
    for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean) / C;
    for (int i = 0; i < C; i++) {
        double w = p[o->weight + i], z;
        switch (v->c.norm) {
        case VIT_NORM_DYT: z = w * tanh(p[o->alpha] * x[i]) + p[o->bias + i]; break;
        case VIT_NORM_DERF: z = w * erf(p[o->alpha] * x[i] + p[o->shift]) + p[o->bias + i]; break;
        case VIT_NORM_RMSNORM: z = w * x[i] / sqrt(ms + v->c.eps); break;
        default: z = w * (x[i] - mean) / sqrt(var + v->c.eps) + p[o->bias + i]; break;
        }
        y[i] = z;
    }
}

/* y [rows, out] = x [rows, in] W^T + b */
static void ref_linear(int rows, int in, int out, const double *x, const double *W, const double *b, double *y)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int i = 0; i < in; i++) s += x[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * out + o] = s;
        }
}

/* The mean cross-entropy over the labelled images; logits [B, K] out. */
static double ref_forward(const vit *v, const double *p, int B, const float *img, const int32_t *y, double *logits)
{
    const int C = v->C, T = v->T, N = v->N, F = v->F, K = v->K, Hh = v->H, D = v->D, ps = v->c.patch;
    const int ch = v->c.channels, IH = v->c.height, IW = v->c.width, Wp = IW / ps;
    double *x = calloc((size_t)T * C, 8), *ln = calloc((size_t)T * C, 8), *qkv = calloc((size_t)T * 3 * C, 8);
    double *o = calloc((size_t)T * C, 8), *h = calloc((size_t)T * C, 8), *f = calloc((size_t)T * F, 8);
    double *patch = calloc((size_t)v->P, 8), pooled[64], loss = 0;
    int valid = 0;
    for (int b = 0; b < B; b++) {
        for (int n = 0; n < N; n++) {
            for (int c = 0; c < ch; c++)
                for (int i = 0; i < ps; i++)
                    for (int j = 0; j < ps; j++)
                        patch[(c * ps + i) * ps + j] =
                            img[(((size_t)b * ch + c) * IH + (n / Wp) * ps + i) * IW + (n % Wp) * ps + j];
            ref_linear(1, v->P, C, patch, p + v->patch_w, p + v->patch_b, x + (size_t)(v->cls + n) * C);
        }
        if (v->cls) memcpy(x, p + v->cls_tok, (size_t)C * 8);
        for (int i = 0; i < T * C; i++) x[i] += p[v->pos + i];
        for (int l = 0; l < v->L; l++) {
            const vit_layer_off *L = &v->layer[l];
            for (int t = 0; t < T; t++) ref_norm(v, &L->n1, p, x + t * C, ln + t * C);
            ref_linear(T, C, 3 * C, ln, p + L->qkv_w, p + L->qkv_b, qkv);
            for (int hd = 0; hd < Hh; hd++)
                for (int t = 0; t < T; t++) { /* every query sees every key */
                    double s[512], m = -INFINITY, sum = 0;
                    for (int j = 0; j < T; j++) {
                        s[j] = 0;
                        for (int d = 0; d < D; d++)
                            s[j] += qkv[t * 3 * C + hd * D + d] * qkv[j * 3 * C + C + hd * D + d];
                        s[j] /= sqrt((double)D);
                        m = fmax(m, s[j]);
                    }
                    for (int j = 0; j < T; j++) sum += s[j] = exp(s[j] - m);
                    for (int d = 0; d < D; d++) {
                        double acc = 0;
                        for (int j = 0; j < T; j++) acc += s[j] / sum * qkv[j * 3 * C + 2 * C + hd * D + d];
                        o[t * C + hd * D + d] = acc;
                    }
                }
            ref_linear(T, C, C, o, p + L->proj_w, p + L->proj_b, h);
            for (int i = 0; i < T * C; i++) x[i] += h[i];
            for (int t = 0; t < T; t++) ref_norm(v, &L->n2, p, x + t * C, ln + t * C);
            ref_linear(T, C, F, ln, p + L->fc_w, p + L->fc_b, f);
            for (int i = 0; i < T * F; i++) /* GELU, tanh form */
                f[i] = 0.5 * f[i] * (1 + tanh(0.7978845608028654 * (f[i] + 0.044715 * f[i] * f[i] * f[i])));
            ref_linear(T, F, C, f, p + L->out_w, p + L->out_b, h);
            for (int i = 0; i < T * C; i++) x[i] += h[i];
        }
        for (int t = 0; t < T; t++) ref_norm(v, &v->nf, p, x + t * C, ln + t * C);
        for (int c = 0; c < C; c++) {
            pooled[c] = 0;
            for (int t = 0; t < T; t++) pooled[c] += v->cls ? (t == 0) * ln[c] : ln[t * C + c] / T;
        }
        double *lg = logits + (size_t)b * K, m = -INFINITY, sum = 0;
        ref_linear(1, C, K, pooled, p + v->head_w, p + v->head_b, lg);
        if (y[b] < 0) continue;
        for (int k = 0; k < K; k++) m = fmax(m, lg[k]);
        for (int k = 0; k < K; k++) sum += exp(lg[k] - m);
        loss += m + log(sum) - lg[y[b]], valid++;
    }
    free(x), free(ln), free(qkv), free(o), free(h), free(f), free(patch);
    return valid ? loss / valid : 0;
}

static void run_case(dytcl_ctx *ctx, vit_norm norm, vit_pool pool)
{
    vit_config c;
    vit_config_default(&c);
    c.height = 8, c.width = 12, c.channels = 2, c.patch = 4, c.dim = 8, c.heads = 2, c.layers = 2, c.mlp = 12;
    c.classes = 3, c.norm = norm, c.pool = pool, c.seed = 7;
    const char *what = vit_norm_name(norm), *pname = pool == VIT_POOL_CLS ? "cls" : "mean";
    vit *v = NULL;
    char err[512] = "";
    CHECK_OK(ctx, vit_create(ctx, &c, &v, err, sizeof err));
    if (!v) return;
    enum { B = 3 };
    const size_t n = vit_num_params(v), ni = (size_t)B * c.channels * c.height * c.width;
    float *pf = malloc(n * 4), *gf = malloc(n * 4), *img = malloc(ni * 4);
    double *p = malloc(n * 8), logits[B * 3], want[B * 3];
    int32_t y[B] = {2, -1, 0};
    /* random parameters around the initial ones, so that every path carries signal */
    CHECK_OK(ctx, vit_read(v, 0, pf));
    for (size_t i = 0; i < n; i++) pf[i] += (float)check_rand(&rng, -0.3, 0.3), p[i] = pf[i];
    for (size_t i = 0; i < ni; i++) img[i] = (float)check_rand(&rng, -1, 1);
    CHECK_OK(ctx, vit_write(v, 0, pf));
    CHECK_OK(ctx, vit_set_batch(v, B));
    CHECK(vit_forward(v, img, y) == DYTCL_OK, "%s/%s forward: %s", what, pname, vit_error(v));
    float loss = 0, lf[B * 3];
    CHECK_OK(ctx, vit_loss(v, &loss));
    CHECK_OK(ctx, vit_logits(v, lf));
    CHECK(vit_backward(v) == DYTCL_OK, "%s/%s backward: %s", what, pname, vit_error(v));
    CHECK_OK(ctx, vit_read(v, 1, gf));
    const double ref_loss = ref_forward(v, p, B, img, y, want);
    double num = 0, den = 0;
    for (int i = 0; i < B * 3; i++) num += (lf[i] - want[i]) * (lf[i] - want[i]), den += want[i] * want[i];
    CHECK(sqrt(num / den) < 1e-5, "%s/%s logits: relative error %.3g", what, pname, sqrt(num / den));
    CHECK(fabs(loss - ref_loss) < 1e-5 * fabs(ref_loss), "%s/%s loss %.7g, reference %.7g", what, pname,
          (double)loss, ref_loss);
    /* every tensor's gradient against central differences of the float64 model */
    for (int t = 0; t < vit_num_tensors(v); t++) {
        const vit_tensor *e = vit_tensor_at(v, t);
        double en = 0, gn = 0, h = 1e-5;
        for (size_t j = e->offset; j < e->offset + e->numel; j++) {
            double keep = p[j], lp, lm;
            p[j] = keep + h, lp = ref_forward(v, p, B, img, y, logits);
            p[j] = keep - h, lm = ref_forward(v, p, B, img, y, logits);
            p[j] = keep;
            double fd = (lp - lm) / (2 * h);
            en += (gf[j] - fd) * (gf[j] - fd), gn += fd * fd;
        }
        /* relative to the tensor's gradient, with a floor for tensors whose gradient is ~0 */
        CHECK(sqrt(en) <= 1e-3 * fmax(sqrt(gn), 1e-3), "%s/%s gradient of %s: error %.3g, norm %.3g", what, pname,
              e->name, sqrt(en), sqrt(gn));
    }
    free(pf), free(gf), free(img), free(p);
    vit_free(v);
}

/* A checkpoint gives back the same model and AdamW state, bit for bit, and
 * a few AdamW steps on one batch bring its loss down. */
static void check_train_and_files(dytcl_ctx *ctx)
{
    vit_config c;
    vit_config_default(&c);
    c.height = 8, c.width = 8, c.patch = 4, c.dim = 16, c.heads = 2, c.layers = 1, c.mlp = 32, c.classes = 4;
    vit *v = NULL, *w = NULL;
    char err[512] = "";
    CHECK_OK(ctx, vit_create(ctx, &c, &v, err, sizeof err));
    if (!v) return;
    enum { B = 8 };
    float img[B * 64], first = 0, last = 0;
    int32_t y[B];
    for (int i = 0; i < B * 64; i++) img[i] = (float)check_rand(&rng, -1, 1);
    for (int b = 0; b < B; b++) y[b] = b % 4;
    dytcl_adamw_config opt = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f};
    CHECK_OK(ctx, vit_set_batch(v, B));
    for (int step = 1; step <= 30; step++) {
        CHECK(vit_forward(v, img, y) == DYTCL_OK && vit_backward(v) == DYTCL_OK &&
                  vit_step(v, &opt, 1.0f, step, NULL) == DYTCL_OK,
              "training step %d: %s", step, vit_error(v));
        CHECK_OK(ctx, vit_loss(v, step == 1 ? &first : &last));
    }
    CHECK(last < 0.5f * first, "30 AdamW steps on one batch: loss %.4f -> %.4f", (double)first, (double)last);
    const char *path = "test-vit.safetensors", *meta[2] = {"note", "kept"};
    CHECK(vit_save(v, path, 1, meta, 1) == DYTCL_OK, "save: %s", vit_error(v));
    int has_opt = 0;
    dytcl_st_file *f = NULL;
    CHECK_OK(ctx, vit_load(ctx, path, &w, &has_opt, &f, err, sizeof err));
    if (w) {
        const size_t n = vit_num_params(v);
        float *a = malloc(n * 4), *b = malloc(n * 4);
        for (int which = 0; which < 4; which += which == 0 ? 2 : 1) {
            CHECK_OK(ctx, vit_read(v, which, a));
            CHECK_OK(ctx, vit_read(w, which, b));
            CHECK(!memcmp(a, b, n * 4), "buffer %d differs after a save and load", which);
        }
        CHECK(has_opt && f && dytcl_st_metadata(f, "note") && !strcmp(dytcl_st_metadata(f, "note"), "kept"),
              "optimiser state or metadata lost");
        free(a), free(b);
    }
    /* refusals: not a ViT file, a bad config */
    const char *bad_meta[2] = {"format", "something-else"};
    dytcl_st_tensor one = {"x", 1, {1}, 1, &first, 4, DYTCL_F32};
    CHECK_OK(ctx, dytcl_st_save(path, &one, 1, bad_meta, 1));
    vit *z = NULL;
    CHECK(vit_load(ctx, path, &z, NULL, NULL, err, sizeof err) != DYTCL_OK && !z && strstr(err, path) &&
              strstr(err, "not a dytcl ViT"),
          "a foreign file loaded: %s", err);
    c.patch = 3;
    CHECK(vit_create(ctx, &c, &z, err, sizeof err) == DYTCL_ERR_INVALID_ARG && !z && strstr(err, "patch"),
          "a patch size that does not divide accepted: %s", err);
    remove(path);
    dytcl_st_free(f);
    vit_free(v), vit_free(w);
}

int main(void)
{
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    for (int norm = VIT_NORM_DYT; norm <= VIT_NORM_LAYERNORM; norm++) run_case(ctx, (vit_norm)norm, VIT_POOL_CLS);
    run_case(ctx, VIT_NORM_DYT, VIT_POOL_MEAN);
    run_case(ctx, VIT_NORM_LAYERNORM, VIT_POOL_MEAN);
    check_train_and_files(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_vit");
}
