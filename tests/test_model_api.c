/* test_model_api.c -- the parts of dytcl_model.h that are not the model's
 * math (test_model and test_conformance check that): the learning-rate
 * schedule, sampling, generation's callback and cache, which tensors
 * weight decay reaches, when the training state is made, and that
 * mistakes come back as a status with a message on the context. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dytcl_model.h"

static void schedule(void)
{
    dytcl_model_optim o = {.lr = 1e-2f, .min_lr_frac = 0.1f, .warmup = 10, .steps = 110};
    CHECK(fabsf(dytcl_lr_at(&o, 1) - 1e-3f) < 1e-9f, "warm-up step 1: %g", dytcl_lr_at(&o, 1));
    CHECK(fabsf(dytcl_lr_at(&o, 10) - 1e-2f) < 1e-9f, "end of warm-up: %g", dytcl_lr_at(&o, 10));
    CHECK(fabsf(dytcl_lr_at(&o, 60) - 5.5e-3f) < 1e-8f, "half-way down the cosine: %g", dytcl_lr_at(&o, 60));
    CHECK(fabsf(dytcl_lr_at(&o, 110) - 1e-3f) < 1e-9f, "last step: %g", dytcl_lr_at(&o, 110));
    CHECK(fabsf(dytcl_lr_at(&o, 500) - 1e-3f) < 1e-9f, "past the last step: %g", dytcl_lr_at(&o, 500));
    for (int s = 11; s < 110; s++)
        CHECK(dytcl_lr_at(&o, s + 1) <= dytcl_lr_at(&o, s), "the cosine rises at step %d", s);
    o.warmup = 0, o.steps = 0;
    CHECK(dytcl_lr_at(&o, 1) == 1e-2f && dytcl_lr_at(&o, 1000) == 1e-2f, "steps 0: a constant rate");
}

static void sampling(void)
{
    const float logits[4] = {1.0f, 3.0f, 2.0f, 0.5f};
    uint64_t rng = 5;
    int32_t t = -1;
    dytcl_sampling greedy = {0}, top1 = {.temperature = 2, .top_k = 1}, nucleus = {.temperature = 1, .top_p = 0.01f};
    CHECK(!dytcl_sample(logits, 4, &greedy, &rng, &t) && t == 1, "greedy picked %d", t);
    CHECK(!dytcl_sample(logits, 4, &top1, &rng, &t) && t == 1, "top-k 1 picked %d", t);
    CHECK(!dytcl_sample(logits, 4, &nucleus, &rng, &t) && t == 1, "top-p 0.01 picked %d", t);
    /* temperature 1: the frequencies of 40000 draws against softmax (4 sigma) */
    dytcl_sampling s = {.temperature = 1};
    int count[4] = {0};
    double z = 0, p[4];
    for (int i = 0; i < 4; i++) z += exp(logits[i]);
    for (int i = 0; i < 40000; i++) {
        t = -1;
        dytcl_status st = dytcl_sample(logits, 4, &s, &rng, &t);
        CHECK(!st && t >= 0 && t < 4, "draw %d: %d", i, t);
        if (t >= 0 && t < 4) count[t]++;
    }
    for (int i = 0; i < 4; i++) {
        p[i] = exp(logits[i]) / z;
        double sd = sqrt(40000 * p[i] * (1 - p[i]));
        CHECK(fabs(count[i] - 40000 * p[i]) < 4 * sd, "token %d drawn %d times, expected %.0f", i, count[i],
              40000 * p[i]);
    }
    /* top-k 2 never draws the others */
    s.top_k = 2;
    for (int i = 0; i < 1000; i++)
        CHECK(!dytcl_sample(logits, 4, &s, &rng, &t) && (t == 1 || t == 2), "top-k 2 drew %d", t);
    CHECK(dytcl_sample(logits, 0, &s, &rng, &t) == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(NULL), "V >= 1"),
          "V = 0 refused: %s", dytcl_last_error(NULL));
}

typedef struct {
    int n, stop_after;
    int32_t got[64];
} collect;

static int take(int32_t token, void *user)
{
    collect *c = user;
    c->got[c->n++] = token;
    return c->n == c->stop_after;
}

static void generation(dytcl_ctx *ctx)
{
    dytcl_model_config c = {.arch = DYTCL_ARCH_GPT, .norm = DYTCL_NORM_DYT, .vocab = 17, .max_seq = 8, .n_layer = 1,
                            .n_head = 2, .d_model = 16};
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 3, &m));
    if (!m) return;
    const int32_t prompt[3] = {1, 5, 9};
    dytcl_sampling s = {.temperature = 0.9f, .top_k = 8, .seed = 42};
    /* 20 tokens past max_seq 8: the context slides; with and without the cache */
    collect a = {0, 0, {0}}, b = {0, 0, {0}}, stop = {0, 4, {0}};
    CHECK_OK(ctx, dytcl_model_generate(m, prompt, 3, 20, &s, 1, take, &a));
    CHECK_OK(ctx, dytcl_model_generate(m, prompt, 3, 20, &s, 0, take, &b));
    CHECK(a.n == 20 && b.n == 20, "%d and %d tokens, expected 20", a.n, b.n);
    CHECK(!memcmp(a.got, b.got, sizeof a.got), "the KV cache changed the tokens");
    CHECK_OK(ctx, dytcl_model_generate(m, prompt, 3, 20, &s, 1, take, &stop));
    CHECK(stop.n == 4 && !memcmp(stop.got, a.got, 4 * sizeof(int32_t)), "the callback's stop after 4: %d", stop.n);
    /* mistakes: a status and a message on the context */
    const int32_t bad[2] = {3, 17};
    CHECK(dytcl_model_generate(m, bad, 2, 5, &s, 1, NULL, NULL) == DYTCL_ERR_INVALID_ARG &&
              strstr(dytcl_last_error(ctx), "outside [0, 17)"),
          "token 17 of vocab 17 refused: %s", dytcl_last_error(ctx));
    int32_t long_prompt[9] = {0};
    CHECK(dytcl_model_generate(m, long_prompt, 9, 5, &s, 1, NULL, NULL) == DYTCL_ERR_INVALID_ARG &&
              strstr(dytcl_last_error(ctx), "max_seq 8"),
          "a prompt past max_seq refused: %s", dytcl_last_error(ctx));
    CHECK(dytcl_model_step(m, &(dytcl_model_optim){.lr = 1}, 0) == DYTCL_ERR_INVALID_ARG &&
              strstr(dytcl_last_error(ctx), "step >= 1"),
          "step 0 refused: %s", dytcl_last_error(ctx));
    dytcl_model_free(m);

    dytcl_model *none = (dytcl_model *)&c; /* must be reset to NULL */
    dytcl_model_config odd = c;
    odd.n_head = 3;
    CHECK(dytcl_model_create(ctx, &odd, 1, &none) == DYTCL_ERR_INVALID_ARG && !none &&
              strstr(dytcl_last_error(ctx), "multiple of n_head"),
          "d_model 16, 3 heads refused: %s", dytcl_last_error(ctx));
    none = (dytcl_model *)&c;
    CHECK(dytcl_model_load(ctx, "no/such/file.safetensors", NULL, NULL, &none) != DYTCL_OK && !none &&
              strstr(dytcl_last_error(ctx), "no/such/file.safetensors"),
          "a missing checkpoint refused, naming it: %s", dytcl_last_error(ctx));
}

/* One AdamW step with a zero gradient moves a parameter only by weight
 * decay, p -= lr wd p: by default every matrix and embedding moves and no
 * 1-D tensor (DyT alpha, norm weights and biases, linear biases,
 * emb_scale), nor the ViT's cls and pos; with decay_norm the norms'
 * parameters and emb_scale move too, biases still not. */
static void weight_decay(dytcl_ctx *ctx, dytcl_arch arch, int decay_norm)
{
    dytcl_model_config c = {.arch = arch, .norm = arch == DYTCL_ARCH_LLAMA ? DYTCL_NORM_DERF : DYTCL_NORM_DYT,
                            .vocab = 11, .max_seq = 8, .n_layer = 2, .n_head = 2, .d_model = 8};
    if (arch == DYTCL_ARCH_VIT)
        c.vocab = 0, c.max_seq = 0, c.image_height = 8, c.image_width = 8, c.patch = 4, c.classes = 3;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 5, &m));
    if (!m) return;
    const size_t n = dytcl_model_param_count(&c);
    const int nt = dytcl_model_param_table(&c, NULL, 0);
    float *before = malloc(n * 4), *after = malloc(n * 4);
    dytcl_model_tensor *tab = malloc((size_t)nt * sizeof *tab);
    dytcl_model_param_table(&c, tab, nt);
    const float lr = 0.1f, wd = 0.5f;
    dytcl_model_optim o = {lr, 1, 0, 0, 0.9f, 0.999f, 1e-8f, wd, 0, decay_norm};
    CHECK_OK(ctx, dytcl_model_read_params(m, before));
    CHECK_OK(ctx, dytcl_model_zero_grad(m));
    CHECK_OK(ctx, dytcl_model_step(m, &o, 1));
    CHECK_OK(ctx, dytcl_model_read_params(m, after));
    int alphas = 0, moved = 0, kept = 0;
    for (int i = 0; i < nt; i++) {
        const dytcl_model_tensor *t = &tab[i];
        const int norm_like = t->is_norm, want = t->decays || (decay_norm && norm_like);
        double err = 0, mag = 0;
        for (size_t j = t->offset; j < t->offset + t->numel; j++) {
            const double p = before[j], expect = want ? p - (double)lr * wd * p : p;
            err = fmax(err, fabs(after[j] - expect)), mag = fmax(mag, fabs(p));
        }
        /* kept: the same bits; decayed: by lr wd of itself (float rounding aside) */
        CHECK(want ? err <= 1e-6 * mag : err == 0, "%s, decay_norm %d: %s %s (max error %.3g)", dytcl_arch_name(arch),
              decay_norm, t->name, want ? "did not decay by lr wd" : "moved", err);
        /* the default: no 1-D tensor decays (DyT's alpha above all) */
        CHECK(decay_norm || t->ndim == 2 || !want, "%s: the 1-D %s decays by default", dytcl_arch_name(arch), t->name);
        alphas += strstr(t->name, ".alpha") != NULL;
        moved += want, kept += !want;
    }
    CHECK(alphas == 2 * c.n_layer + 1 && moved > 0 && (decay_norm || kept > 0), "%s: %d alphas, %d tensors decayed, %d kept",
          dytcl_arch_name(arch), alphas, moved, kept);
    free(before), free(after), free(tab);
    dytcl_model_free(m);
}

/* Resident bytes of this process (/proc/self/statm); 0 when unknown. */
static double resident(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    int ok = f && fscanf(f, "%lu %lu", &size, &rss) == 2;
    if (f) fclose(f);
    return ok ? (double)rss * (double)sysconf(_SC_PAGESIZE) : 0;
}

/* A model holds its training state (gradients, AdamW m and v, the decay
 * mask: 4 copies of its parameters) only once it trains: made, or loaded
 * without asking for AdamW's state, it holds one copy. Measured as the
 * process's resident bytes on a device whose buffers are host memory
 * (backed as they are made); skipped elsewhere. Fresh state reads as zero. */
static void training_state(dytcl_ctx *ctx, const char *dir)
{
    dytcl_device_info d;
#if defined(__SANITIZE_ADDRESS__)
    const int sanitized = 1; /* ASan keeps freed host memory resident (its quarantine) */
#else
    const int sanitized = 0;
#endif
    if (dytcl_ctx_device(ctx, &d) || !d.is_cpu || resident() == 0 || sanitized) {
        printf("training_state: skipped (not a host-memory device, or AddressSanitizer)\n");
        return;
    }
    dytcl_model_config c = {.arch = DYTCL_ARCH_GPT, .norm = DYTCL_NORM_DYT, .vocab = 4096, .max_seq = 16,
                            .n_layer = 4, .n_head = 4, .d_model = 256};
    dytcl_model_config_defaults(&c);
    const size_t n = dytcl_model_param_count(&c);
    const double bytes = (double)n * sizeof(float);
    dytcl_model *m = NULL;
    double r0 = resident();
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 7, &m));
    if (!m) return;
    double made = resident() - r0;
    CHECK(made > 0.9 * bytes && made < 2.0 * bytes, "a new model holds %.1f copies of its %.1f MiB of parameters",
          made / bytes, bytes / 1048576.0);
    float *g = malloc(2 * n * sizeof *g);
    for (size_t i = 0; g && i < 2 * n; i++) g[i] = 1.0f;
    CHECK_OK(ctx, dytcl_model_read_grads(m, g));
    CHECK_OK(ctx, dytcl_model_read_opt(m, g, g + n));
    size_t nonzero = 0;
    for (size_t i = 0; g && i < 2 * n; i++) nonzero += g[i] != 0.0f;
    CHECK(g && nonzero == 0, "before training: %zu gradients and moments are not zero", nonzero);
    int32_t tok[16];
    for (int i = 0; i < 16; i++) tok[i] = (i * 37) % 4096;
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 15));
    CHECK_OK(ctx, dytcl_model_zero_grad(m));
    double r1 = resident();
    CHECK_OK(ctx, dytcl_model_forward(m, tok, tok + 1));
    CHECK_OK(ctx, dytcl_model_backward(m, 1.0f));
    double trained = resident() - r1;
    CHECK(trained > 3.5 * bytes, "the first backward added %.1f copies of the parameters, expected 4 (training state)",
          trained / bytes);
    dytcl_model_optim o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f};
    CHECK_OK(ctx, dytcl_model_step(m, &o, 1));
    char path[512];
    snprintf(path, sizeof path, "%s/test_model_api_state.safetensors", dir);
    CHECK_OK(ctx, dytcl_model_save(m, path, 1, NULL));
    dytcl_model_free(m);
    /* loaded for inference (has_opt NULL): one copy; asking for AdamW's state: all five */
    r0 = resident();
    m = NULL;
    CHECK_OK(ctx, dytcl_model_load(ctx, path, NULL, NULL, &m));
    double loaded = resident() - r0;
    CHECK(loaded < 2.0 * bytes, "a model loaded for inference holds %.1f copies of its parameters", loaded / bytes);
    dytcl_model_free(m);
    int has_opt = 0;
    m = NULL;
    CHECK_OK(ctx, dytcl_model_load(ctx, path, NULL, &has_opt, &m));
    CHECK(has_opt == 1, "the training checkpoint's AdamW state: has_opt %d", has_opt);
    nonzero = 0;
    if (m && g) {
        CHECK_OK(ctx, dytcl_model_read_opt(m, g, g + n));
        for (size_t i = 0; i < 2 * n; i++) nonzero += g[i] != 0.0f;
    }
    CHECK(nonzero > n / 2, "the loaded AdamW state is zero (%zu of %zu moments nonzero)", nonzero, 2 * n);
    dytcl_model_free(m);
    remove(path);
    free(g);
}

int main(void)
{
    schedule();
    sampling();
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx)) {
        fprintf(stderr, "test_model_api: %s\n", dytcl_last_error(NULL));
        return 1;
    }
    generation(ctx);
    for (int a = DYTCL_ARCH_GPT; a <= DYTCL_ARCH_VIT; a++)
        for (int dn = 0; dn <= 1; dn++) weight_decay(ctx, (dytcl_arch)a, dn);
    training_state(ctx, ".");
    dytcl_ctx_free(ctx);
    return check_done("test_model_api");
}
