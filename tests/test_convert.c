/* test_convert.c -- converting a trained model's norms to DyT / Derf
 * (dytcl_model_convert_*). A small GPT with LayerNorm and a small LLaMA
 * with RMSNorm are trained on Markov-chain text (its entropy rate H is the
 * best loss), then:
 *   - the model convert_begin makes, every norm still running as the
 *     original, gives the original's logits (to float rounding), and
 *     trains (forward, backward, step) through those norms;
 *   - converted (sequential calibration), its validation loss stays within
 *     a bound of the original's. GPT-LayerNorm: excess over H at most 1.5
 *     times the original's, plus 0.02 nats (measured: 0.031 against 0.022).
 *     LLaMA-RMSNorm converts less well (measured: excess 0.100 against
 *     0.017: its final norm's per-token scale is what a per-channel tanh
 *     cannot give): at most 0.12 nats above the original. An unfitted or
 *     badly fitted conversion is far above either (loss near log 16 = 2.77);
 *   - each fitted norm's relative error is below 0.5 and its alpha finite;
 *   - fine-tuning the converted model lowers its loss;
 *   - distillation (dytcl_model_distill): weight 0 gives the plain
 *     backward's gradient, a model of the original's own function no
 *     gradient, weight 0.5 the central differences of a float64 loss from
 *     the logits; 60 distilled steps bring the KL to the original below a
 *     twentieth of the converted model's and half of 60 plain steps'
 *     (measured: 0.0004 against 0.014 and 0.008 in the GPT, 0.0007 against
 *     0.080 and 0.007 in the LLaMA), the loss within 0.01 of the original's;
 * and the refusals: a DyT model, a vit, a norm other than dyt/derf, a norm
 * fitted twice, tokens outside the vocabulary, fitting before set_batch,
 * NULL arguments. The validation loss skips each window's first target (no
 * previous byte to condition on), as test_train does. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "data.h"
#include "dytcl_model.h"
#include "markov.h"
#include "markov_train.h"

enum { B = 16, T = 32, N_BYTES = 200000, STEPS = 300, FT_STEPS = 60, CALIB = 4 };

/* The converted model's loss bound, given H and the original's loss l0. */
static double bound_of(dytcl_arch arch, double H, double l0)
{
    return arch == DYTCL_ARCH_GPT ? H + 1.5 * (l0 - H) + 0.02 : l0 + 0.12;
}

static double val_loss(dytcl_model *m, const text_data *d)
{
    int32_t tok[B * T], tgt[B * T];
    double sum = 0, count = 0;
    for (int i = 0; i < text_data_val_batches(d, B, T); i++) {
        text_data_val_batch(d, i, B, T, tok, tgt);
        int valid = 0;
        for (int r = 0; r < B; r++) tgt[r * T] = -1;
        for (int j = 0; j < B * T; j++) valid += tgt[j] != -1;
        float loss;
        if (!valid) continue;
        if (dytcl_model_forward(m, tok, tgt) || dytcl_model_read_loss(m, &loss)) return NAN;
        sum += (double)loss * valid, count += valid;
    }
    return count ? sum / count : NAN;
}

/* AdamW steps at lr 1e-3 on batches from seed 7 (not markov_train's); with
 * a teacher, distilled (dytcl_model_distill, weight w). */
static dytcl_status finetune_from(dytcl_model *m, dytcl_model *teacher, float w, const text_data *d, int steps)
{
    int32_t tok[B * T], tgt[B * T];
    uint64_t rng = 7;
    const dytcl_model_optim o = {.lr = 1e-3f, .min_lr_frac = 0.1f, .warmup = 5, .steps = steps, .beta1 = 0.9f,
                                 .beta2 = 0.95f, .eps = 1e-8f, .clip = 1.0f};
    dytcl_status s = DYTCL_OK;
    for (int step = 1; step <= steps && !s; step++) {
        text_data_train_batch(d, B, T, &rng, tok, tgt);
        (void)((s = dytcl_model_zero_grad(m)) ||
               (teacher ? (s = dytcl_model_distill(m, teacher, tok, tgt, w, NULL))
                        : ((s = dytcl_model_forward(m, tok, tgt)) || (s = dytcl_model_backward(m, 1.0f)))) ||
               (s = dytcl_model_step(m, &o, step)));
    }
    return s;
}

static dytcl_status finetune(dytcl_model *m, const text_data *d, int steps) { return finetune_from(m, NULL, 0, d, steps); }

/* (1 - w) cross-entropy + w KL(teacher || m) on one batch, from the logits
 * (float64); *kl the KL alone. NAN on failure. */
static double mix_loss(dytcl_model *m, dytcl_model *teacher, const int32_t *tok, const int32_t *tgt, double w,
                       double *kl)
{
    enum { V = 256 };
    float *zs = malloc((size_t)B * T * V * sizeof *zs), *zt = malloc((size_t)B * T * V * sizeof *zt);
    double ce = 0, k = 0, n = 0, out = NAN;
    if (zs && zt && !dytcl_model_forward(m, tok, NULL) && !dytcl_model_read_logits(m, zs) &&
        !dytcl_model_forward(teacher, tok, NULL) && !dytcl_model_read_logits(teacher, zt)) {
        for (int r = 0; r < B * T; r++) {
            if (tgt[r] == -1) continue;
            const float *a = zs + (size_t)r * V, *b = zt + (size_t)r * V;
            double la = 0, lb = 0, ma = a[0], mb = b[0];
            for (int c = 1; c < V; c++) ma = fmax(ma, a[c]), mb = fmax(mb, b[c]);
            for (int c = 0; c < V; c++) la += exp(a[c] - ma), lb += exp(b[c] - mb);
            la = ma + log(la), lb = mb + log(lb);
            ce += la - a[tgt[r]];
            for (int c = 0; c < V; c++) k += exp(b[c] - lb) * ((b[c] - lb) - (a[c] - la));
            n++;
        }
        *kl = k / n;
        out = (1 - w) * ce / n + w * k / n;
    }
    free(zs), free(zt);
    return out;
}

/* The mean KL(teacher || m) over the validation batches. */
static double val_kl(dytcl_model *m, dytcl_model *teacher, const text_data *d)
{
    int32_t tok[B * T], tgt[B * T];
    double sum = 0, n = 0, kl;
    for (int i = 0; i < text_data_val_batches(d, B, T); i++, n++) {
        text_data_val_batch(d, i, B, T, tok, tgt);
        if (isnan(mix_loss(m, teacher, tok, tgt, 1, &kl))) return NAN;
        sum += kl;
    }
    return n ? sum / n : NAN;
}

/* dytcl_model_distill on cv (a converted model) against src: weight 0 is
 * the plain backward's gradient, weight 1 against the model's own function
 * is zero, weight 0.5 matches central differences of mix_loss on the
 * parameters with the largest gradients; and the refusals. */
static void check_distill(dytcl_ctx *ctx, const char *name, dytcl_model *cv, dytcl_model *hy, dytcl_model *src,
                          const int32_t *tok)
{
    int32_t tgt[B * T];
    for (int i = 0; i < B * T; i++) tgt[i] = i % T == T - 1 ? -1 : tok[i + 1];
    const size_t n = dytcl_model_param_count(dytcl_model_get_config(cv));
    float *g0 = malloc(n * sizeof *g0), *g1 = malloc(n * sizeof *g1), *p = malloc(n * sizeof *p);
    if (!g0 || !g1 || !p) goto out;
    float kl = -1;
    /* weight 0: dytcl_model_backward's gradient */
    CHECK_OK(ctx, dytcl_model_zero_grad(cv));
    CHECK_OK(ctx, dytcl_model_forward(cv, tok, tgt));
    CHECK_OK(ctx, dytcl_model_backward(cv, 1.0f));
    CHECK_OK(ctx, dytcl_model_read_grads(cv, g0));
    CHECK_OK(ctx, dytcl_model_zero_grad(cv));
    CHECK_OK(ctx, dytcl_model_distill(cv, src, tok, tgt, 0.0f, &kl));
    CHECK_OK(ctx, dytcl_model_read_grads(cv, g1));
    double worst = 0, big = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)g0[i] - g1[i])), big = fmax(big, fabs(g0[i]));
    printf("%s: distill weight 0 vs backward: gradients differ by %.3g (largest %.3g); kl %.4f\n", name, worst, big, kl);
    CHECK(worst <= 1e-4 * big && big > 0, "%s: distill weight 0 gradient differs by %g (largest %g)", name, worst, big);
    CHECK(kl > 0.001f && isfinite(kl), "%s: the converted model's KL to the original %g", name, kl);
    /* weight 1 against a model of the same function: no gradient */
    CHECK_OK(ctx, dytcl_model_zero_grad(hy));
    CHECK_OK(ctx, dytcl_model_distill(hy, src, tok, tgt, 1.0f, &kl));
    CHECK_OK(ctx, dytcl_model_read_grads(hy, g1));
    double zero = 0;
    for (size_t i = 0; i < n; i++) zero = fmax(zero, fabs(g1[i]));
    printf("%s: distill against its own function: kl %.3g, largest gradient %.3g\n", name, kl, zero);
    CHECK(fabs(kl) < 1e-5 && zero < 1e-3 * big, "%s: distilling the same function: kl %g, gradient %g", name, kl, zero);
    /* weight 0.5: central differences on the 4 largest gradients */
    const float w = 0.5f;
    CHECK_OK(ctx, dytcl_model_zero_grad(cv));
    CHECK_OK(ctx, dytcl_model_distill(cv, src, tok, tgt, w, NULL));
    CHECK_OK(ctx, dytcl_model_read_grads(cv, g1));
    CHECK_OK(ctx, dytcl_model_read_params(cv, p));
    for (int k = 0; k < 4; k++) {
        size_t at = 0;
        for (size_t i = 0; i < n; i++) at = fabs(g1[i]) > fabs(g1[at]) ? i : at;
        const float keep = p[at], h = 1e-3f * fmaxf(1.0f, fabsf(keep));
        double lp, lm, dummy;
        p[at] = keep + h;
        CHECK_OK(ctx, dytcl_model_write_params(cv, p));
        lp = mix_loss(cv, src, tok, tgt, w, &dummy);
        p[at] = keep - h;
        CHECK_OK(ctx, dytcl_model_write_params(cv, p));
        lm = mix_loss(cv, src, tok, tgt, w, &dummy);
        p[at] = keep;
        double fd = (lp - lm) / (2.0 * ((double)(keep + h) - keep));
        printf("%s: parameter %zu: distill gradient %.5g, central difference %.5g\n", name, at, g1[at], fd);
        CHECK(fabs(fd - g1[at]) <= 0.03 * fabs(g1[at]) + 1e-4, "%s: parameter %zu: gradient %g, differences %g", name,
              at, g1[at], fd);
        g1[at] = 0;
    }
    CHECK_OK(ctx, dytcl_model_write_params(cv, p));
    /* refusals */
    CHECK(dytcl_model_distill(cv, cv, tok, tgt, 1.0f, NULL) == DYTCL_ERR_INVALID_ARG, "%s: teacher = model refused", name);
    CHECK(dytcl_model_distill(cv, src, tok, tgt, 1.5f, NULL) == DYTCL_ERR_INVALID_ARG, "%s: weight 1.5 refused", name);
    CHECK(dytcl_model_distill(cv, src, tok, NULL, 1.0f, NULL) == DYTCL_ERR_INVALID_ARG, "%s: NULL targets refused", name);
    CHECK_OK(ctx, dytcl_model_set_batch(src, B / 2, T));
    CHECK(dytcl_model_distill(cv, src, tok, tgt, 1.0f, NULL) == DYTCL_ERR_INVALID_ARG, "%s: batch shapes differ", name);
    CHECK_OK(ctx, dytcl_model_set_batch(src, B, T));
out:
    free(g0), free(g1), free(p);
}

static void run(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, const text_data *d, double H,
                const int32_t *calib)
{
    const char *name = dytcl_arch_name(arch);
    dytcl_model_config c = {0};
    c.arch = arch, c.norm = norm, c.max_seq = T, c.n_layer = 2, c.n_head = 2, c.d_model = 32;
    dytcl_model_config_defaults(&c);
    dytcl_model *src = NULL, *hy = NULL, *cv = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 11, &src));
    if (!src) return;
    CHECK_OK(ctx, dytcl_model_set_batch(src, B, T));
    CHECK_OK(ctx, markov_train(src, d, B, T, STEPS));
    double l0 = val_loss(src, d);

    /* begun, not fitted: the original's function */
    CHECK_OK(ctx, dytcl_model_convert_begin(src, DYTCL_NORM_DYT, &hy));
    if (hy) {
        const int nn = 2 * c.n_layer + 1;
        CHECK(dytcl_model_convert_pending(hy) == nn, "%s: %d norms pending, want %d", name,
              dytcl_model_convert_pending(hy), nn);
        CHECK(dytcl_model_get_config(hy)->norm == DYTCL_NORM_DYT, "%s: the converted model's norm", name);
        CHECK_OK(ctx, dytcl_model_set_batch(hy, B, T));
        size_t n = (size_t)B * T * c.vocab;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        CHECK_OK(ctx, dytcl_model_forward(src, calib, NULL));
        CHECK_OK(ctx, dytcl_model_read_logits(src, a));
        CHECK_OK(ctx, dytcl_model_forward(hy, calib, NULL));
        CHECK_OK(ctx, dytcl_model_read_logits(hy, b));
        double worst = 0;
        for (size_t i = 0; a && b && i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
        printf("%s: begun model vs original: logits differ by at most %.3g\n", name, worst);
        CHECK(worst <= 1e-4, "%s: the begun model's logits differ from the original's by %g", name, worst);
        free(a), free(b);
        /* one norm fitted, then training runs through the others as the original ones */
        dytcl_convert_fit f;
        CHECK_OK(ctx, dytcl_model_convert_fit(hy, 0, 1, calib, CALIB, &f));
        CHECK(dytcl_model_convert_pending(hy) == nn - 1, "%s: pending after one fit", name);
        CHECK(dytcl_model_convert_fit(hy, 0, 1, calib, CALIB, NULL) == DYTCL_ERR_INVALID_ARG,
              "%s: fitting a converted norm again is refused", name);
        double h0 = val_loss(hy, d);
        CHECK_OK(ctx, finetune(hy, d, 10));
        double h1 = val_loss(hy, d);
        printf("%s: h.0.norm1 converted: val %.4f, after 10 steps %.4f\n", name, h0, h1);
        CHECK(isfinite(h1) && h1 < h0 + 0.05, "%s: training with pending norms: %g -> %g", name, h0, h1);
        int32_t bad[B * T];
        for (int i = 0; i < B * T; i++) bad[i] = calib[i];
        bad[5] = c.vocab;
        CHECK(dytcl_model_convert_fit(hy, 1, 1, bad, 1, NULL) == DYTCL_ERR_INVALID_ARG,
              "%s: a token outside the vocabulary is refused", name);
        CHECK(dytcl_model_convert_fit(hy, 1, nn, calib, 1, NULL) == DYTCL_ERR_INVALID_ARG,
              "%s: norms past the last refused", name);
        CHECK(dytcl_model_convert_fit(hy, 1, 1, calib, 0, NULL) == DYTCL_ERR_INVALID_ARG,
              "%s: zero calibration batches refused", name);
        CHECK(dytcl_model_convert_pending(hy) == nn - 1, "%s: refusals changed nothing", name);
    }
    dytcl_model_free(hy);

    /* all norms, sequential calibration, then fine-tuning */
    CHECK_OK(ctx, dytcl_model_convert(src, DYTCL_NORM_DYT, calib, CALIB, B, T, 1, &cv));
    if (cv) {
        CHECK(dytcl_model_convert_pending(cv) == 0, "%s: every norm fitted", name);
        double l1 = val_loss(cv, d);
        double bound = bound_of(arch, H, l0);
        printf("%s-%s: H %.4f, original %.4f (excess %.4f), converted %.4f (excess %.4f; bound %.4f)\n", name,
               dytcl_norm_kind_name(norm), H, l0, l0 - H, l1, l1 - H, bound);
        CHECK(l1 <= bound, "%s: converted loss %.4f above the bound %.4f (original %.4f, H %.4f)", name, l1, bound, l0,
              H);
        /* distillation's gradient, against src and against a begun model (src's function) */
        dytcl_model *same = NULL;
        CHECK_OK(ctx, dytcl_model_convert_begin(src, DYTCL_NORM_DYT, &same));
        if (same && !dytcl_model_set_batch(same, B, T)) check_distill(ctx, name, cv, same, src, calib);
        dytcl_model_free(same);
        double k1 = val_kl(cv, src, d);
        CHECK_OK(ctx, finetune(cv, d, FT_STEPS));
        double l2 = val_loss(cv, d), k2 = val_kl(cv, src, d);
        printf("%s: after %d fine-tuning steps %.4f (KL to the original %.4f, before %.4f)\n", name, FT_STEPS, l2, k2, k1);
        CHECK(l2 < l1, "%s: fine-tuning did not lower the loss: %.4f -> %.4f", name, l1, l2);
        /* the same conversion distilled (weight 1) on the same batches */
        dytcl_model *ds = NULL;
        CHECK_OK(ctx, dytcl_model_convert(src, DYTCL_NORM_DYT, calib, CALIB, B, T, 1, &ds));
        if (ds) {
            CHECK_OK(ctx, finetune_from(ds, src, 1.0f, d, FT_STEPS));
            double l3 = val_loss(ds, d), k3 = val_kl(ds, src, d);
            printf("%s: distilled %d steps: %.4f (KL to the original %.4f)\n", name, FT_STEPS, l3, k3);
            CHECK(k3 < 0.5 * k2 && k3 < 0.05 * k1, "%s: distillation left a KL of %.4f (plain fine-tuning %.4f, before %.4f)",
                  name, k3, k2, k1);
            CHECK(l3 <= l0 + 0.01, "%s: distilled loss %.4f, original %.4f", name, l3, l0);
        }
        dytcl_model_free(ds);
        /* a DyT model is refused */
        dytcl_model *again = (dytcl_model *)1;
        CHECK(dytcl_model_convert_begin(cv, DYTCL_NORM_DYT, &again) == DYTCL_ERR_INVALID_ARG && !again,
              "%s: converting a DyT model is refused", name);
        CHECK(dytcl_model_convert_pending(cv) == 0, "%s: pending of a DyT model", name);
    }
    dytcl_model_free(cv);
    cv = NULL;
    /* Derf, independent calibration: the same bound */
    CHECK_OK(ctx, dytcl_model_convert(src, DYTCL_NORM_DERF, calib, CALIB, B, T, 0, &cv));
    if (cv) {
        double l1 = val_loss(cv, d);
        printf("%s: derf, independent calibration: %.4f\n", name, l1);
        CHECK(l1 <= bound_of(arch, H, l0), "%s: derf converted loss %.4f (original %.4f)", name,
              l1, l0);
    }
    dytcl_model_free(cv);
    /* other targets and arguments */
    dytcl_model *x = NULL;
    CHECK(dytcl_model_convert_begin(src, DYTCL_NORM_RMSNORM, &x) == DYTCL_ERR_INVALID_ARG && !x,
          "%s: converting to rmsnorm is refused", name);
    CHECK(dytcl_model_convert_begin(src, (dytcl_norm_kind)99, &x) == DYTCL_ERR_INVALID_ARG, "%s: unknown kind", name);
    CHECK(dytcl_model_convert_begin(src, DYTCL_NORM_DYT, NULL) == DYTCL_ERR_INVALID_ARG, "%s: NULL out", name);
    CHECK(dytcl_model_convert_begin(NULL, DYTCL_NORM_DYT, &x) == DYTCL_ERR_INVALID_ARG, "%s: NULL model", name);
    CHECK(dytcl_model_convert(src, DYTCL_NORM_DYT, NULL, 1, B, T, 1, &x) == DYTCL_ERR_INVALID_ARG && !x,
          "%s: NULL tokens", name);
    CHECK_OK(ctx, dytcl_model_convert_begin(src, DYTCL_NORM_DYT, &x));
    CHECK(dytcl_model_convert_fit(x, 0, 1, calib, 1, NULL) == DYTCL_ERR_CALL_ORDER,
          "%s: fitting before set_batch is refused", name);
    dytcl_model_free(x);
    dytcl_model_free(src);
}

int main(void)
{
    markov_chain mc;
    CHECK(markov_init(&mc, 16, 2024) == 0, "markov_init");
    double H = markov_entropy_rate(&mc);
    uint8_t *bytes = malloc(N_BYTES);
    markov_sample(&mc, 5, N_BYTES, bytes);
    text_data *d = NULL;
    char err[512];
    CHECK(text_data_from_memory(bytes, N_BYTES, 0.1, T, &d, err, sizeof err) == 0, "%s", err);
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    int32_t *calib = malloc((size_t)CALIB * B * T * sizeof *calib), *tgt = malloc((size_t)B * T * sizeof *tgt);
    uint64_t rng = 3;
    for (int i = 0; d && i < CALIB; i++) text_data_train_batch(d, B, T, &rng, calib + (size_t)i * B * T, tgt);
    if (d && ctx) {
        run(ctx, DYTCL_ARCH_GPT, DYTCL_NORM_LAYERNORM, d, H, calib);
        run(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_RMSNORM, d, H, calib);
        /* a vit is refused */
        dytcl_model_config v = {0};
        v.arch = DYTCL_ARCH_VIT, v.norm = DYTCL_NORM_LAYERNORM, v.n_layer = 1, v.n_head = 2, v.d_model = 16;
        v.image_height = v.image_width = 8, v.patch = 4, v.classes = 3;
        dytcl_model_config_defaults(&v);
        dytcl_model *vm = NULL, *x = NULL;
        CHECK_OK(ctx, dytcl_model_create(ctx, &v, 1, &vm));
        CHECK(dytcl_model_convert_begin(vm, DYTCL_NORM_DYT, &x) == DYTCL_ERR_INVALID_ARG && !x,
              "a vit is refused: %s", dytcl_last_error(ctx));
        dytcl_model_free(vm);
    }
    free(calib), free(tgt), free(bytes);
    text_data_free(d);
    dytcl_ctx_free(ctx);
    return check_done("test_convert");
}
