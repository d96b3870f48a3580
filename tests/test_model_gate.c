/* test_model_gate.c -- the model API's gate (models/model_gate.c): a NULL
 * model, token ids and labels outside the vocabulary or the classes,
 * sampling settings, gaps in decoding positions and calls out of order are
 * refused with a status and a message; configurations are capped and
 * overflow-checked, and named by arch and norm; model setup is linear in
 * the layers; a checkpoint with a NaN or Inf weight is refused at load
 * unless asked. Every check here failed before the gate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "dytcl_model.h"

/* call gives `status` and a message on ctx containing needle. */
#define EXPECT(ctx, call, status, needle)                                                          \
    do {                                                                                           \
        dytcl_status s_ = (call);                                                                  \
        CHECK(s_ == (status) && strstr(dytcl_last_error(ctx), (needle)), "%s -> %s (%s): %s", #call, \
              dytcl_status_name(s_), dytcl_status_name(status), dytcl_last_error(ctx));            \
    } while (0)

static dytcl_model_config tiny(dytcl_arch arch)
{
    dytcl_model_config c = {.arch = arch, .norm = DYTCL_NORM_DYT, .vocab = 17, .max_seq = 8, .n_layer = 1,
                            .n_head = 2, .d_model = 8};
    dytcl_model_config_defaults(&c);
    return c;
}

static void null_model(void)
{
    float f[4];
    EXPECT(NULL, dytcl_model_read_params(NULL, f), DYTCL_ERR_INVALID_ARG, "the model is NULL");
    EXPECT(NULL, dytcl_model_write_params(NULL, f), DYTCL_ERR_INVALID_ARG, "the model is NULL");
    EXPECT(NULL, dytcl_model_read_grads(NULL, f), DYTCL_ERR_INVALID_ARG, "the model is NULL");
    EXPECT(NULL, dytcl_model_read_opt(NULL, f, f), DYTCL_ERR_INVALID_ARG, "the model is NULL");
    EXPECT(NULL, dytcl_model_write_opt(NULL, f, f), DYTCL_ERR_INVALID_ARG, "the model is NULL");
    dytcl_model_tensor t[2];
    CHECK(dytcl_model_param_table(NULL, t, 2) == 0 && dytcl_model_param_count(NULL) == 0, "a NULL config's table");
    CHECK(dytcl_meta_get(&(dytcl_meta){0}, NULL) == NULL, "a NULL key");
    CHECK(dytcl_rng_next(NULL) == 0, "a NULL generator state");
}

/* Sizes past the caps, and the int overflow of d_model 1e9's default d_ff. */
static void config(void)
{
    dytcl_model_config c = {.arch = DYTCL_ARCH_LLAMA, .norm = DYTCL_NORM_DYT, .max_seq = 64, .n_layer = 2,
                            .n_head = 8, .d_model = 1000000000};
    dytcl_model_config_defaults(&c);
    CHECK(c.d_ff >= 0, "d_model 1e9 gave d_ff %d", c.d_ff);
    EXPECT(NULL, dytcl_model_config_check(&c), DYTCL_ERR_INVALID_ARG, "d_model 1000000000");
    CHECK(strstr(dytcl_last_error(NULL), "arch llama, norm dyt") != NULL, "named by number: %s",
          dytcl_last_error(NULL));
    CHECK(dytcl_model_param_count(&c) == 0, "a refused config has parameters");
    c = tiny(DYTCL_ARCH_GPT);
    c.n_layer = 1025;
    EXPECT(NULL, dytcl_model_config_check(&c), DYTCL_ERR_INVALID_ARG, "n_layer 1..1024");
    c = tiny(DYTCL_ARCH_GPT);
    c.vocab = 1 << 30;
    EXPECT(NULL, dytcl_model_config_check(&c), DYTCL_ERR_INVALID_ARG, "vocab 2..");
    c = tiny(DYTCL_ARCH_GPT);
    c.d_ff = 1 << 30;
    EXPECT(NULL, dytcl_model_config_check(&c), DYTCL_ERR_INVALID_ARG, "d_ff 1..");
    c = tiny(DYTCL_ARCH_GPT);
    c.norm = (dytcl_norm_kind)9;
    EXPECT(NULL, dytcl_model_config_check(&c), DYTCL_ERR_INVALID_ARG, "norm 9");
}

/* Processor time: the machine may be shared, so not the wall clock. */
static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* The fastest of 3 creates of an L-layer model (processor time). */
static double create_time(dytcl_ctx *ctx, int L)
{
    dytcl_model_config c = tiny(DYTCL_ARCH_LLAMA);
    c.n_layer = L;
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        dytcl_model *m = NULL;
        double t0 = seconds();
        CHECK_OK(ctx, dytcl_model_create(ctx, &c, 1, &m));
        double t = seconds() - t0;
        dytcl_model_free(m);
        if (t < best) best = t;
    }
    return best;
}

/* 16 times the layers: linear setup takes about 16 times as long (14-18
 * measured: larger buffers fit caches less well). With the table searched
 * by name for every layer's tensors it took 25-36 times as long (PoCL,
 * 2-core EPYC, processor time: 17-24 and 580-614 ms; now about 4 and 65). */
static void setup_linear(dytcl_ctx *ctx)
{
    double t64 = create_time(ctx, 64), t1024 = create_time(ctx, 1024);
    printf("create: 64 layers %.1f ms, 1024 layers %.1f ms of processor time (x%.1f)\n", 1e3 * t64, 1e3 * t1024,
           t1024 / t64);
    CHECK(t1024 < 22 * t64, "1024 layers took %.3f s, 64 layers %.3f s: not linear in the layers", t1024, t64);
}

static void ids_and_sampling(dytcl_ctx *ctx)
{
    dytcl_model_config c = tiny(DYTCL_ARCH_GPT);
    dytcl_model *m = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 1, &m));
    if (!m) return;
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 4));
    int32_t tok[4] = {1, 2, 17, 3}, ok[4] = {1, 2, 3, 4}, tgt[4] = {2, 3, -1, 99};
    EXPECT(ctx, dytcl_model_forward(m, tok, NULL), DYTCL_ERR_INVALID_ARG, "tokens[2] is 17, outside [0, 17)");
    EXPECT(ctx, dytcl_model_forward(m, ok, tgt), DYTCL_ERR_INVALID_ARG, "targets[3] is 99");
    CHECK_OK(ctx, dytcl_model_decode_begin(m));
    float logits[17];
    EXPECT(ctx, dytcl_model_decode(m, tok, 3, 0, logits), DYTCL_ERR_INVALID_ARG, "tokens[2] is 17");
    /* a gap: position 5 after none decoded */
    EXPECT(ctx, dytcl_model_decode(m, ok, 1, 5, logits), DYTCL_ERR_INVALID_ARG, "gap");
    CHECK_OK(ctx, dytcl_model_decode(m, ok, 2, 0, logits));
    EXPECT(ctx, dytcl_model_decode(m, ok, 1, 3, logits), DYTCL_ERR_INVALID_ARG, "gap");
    CHECK_OK(ctx, dytcl_model_decode(m, ok + 2, 1, 2, logits));
    dytcl_model_decode_end(m);

    /* one check for dytcl_sample and generate */
    dytcl_sampling bad[3] = {{.temperature = NAN}, {.temperature = 1, .top_k = -5}, {.temperature = 1, .top_p = 7}};
    uint64_t rng = 1;
    int32_t t;
    for (int i = 0; i < 3; i++) {
        EXPECT(NULL, dytcl_sample(logits, 17, &bad[i], &rng, &t), DYTCL_ERR_INVALID_ARG, "0 <= top_p <= 1");
        EXPECT(ctx, dytcl_model_generate(m, ok, 2, 3, &bad[i], 1, NULL, NULL), DYTCL_ERR_INVALID_ARG,
               "0 <= top_p <= 1");
    }
    dytcl_model_free(m);

    /* a vit's labels against its classes */
    dytcl_model_config v = {.arch = DYTCL_ARCH_VIT, .norm = DYTCL_NORM_DYT, .n_layer = 1, .n_head = 2, .d_model = 8,
                            .image_height = 4, .image_width = 4, .patch = 2, .classes = 3};
    dytcl_model_config_defaults(&v);
    CHECK_OK(ctx, dytcl_model_create(ctx, &v, 1, &m));
    if (!m) return;
    CHECK_OK(ctx, dytcl_model_set_batch(m, 2, 0));
    float img[2 * 16] = {0};
    int32_t lab[2] = {1, 3};
    EXPECT(ctx, dytcl_model_forward_images(m, img, lab), DYTCL_ERR_INVALID_ARG, "labels[1] is 3, outside [0, 3)");
    dytcl_model_free(m);
}

static void call_order(dytcl_ctx *ctx)
{
    dytcl_model_config c = tiny(DYTCL_ARCH_LLAMA);
    dytcl_model *m = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 1, &m));
    if (!m) return;
    float logits[4 * 17], loss, gn, frac[3], alpha[3];
    int32_t pred[4], tok[4] = {1, 2, 3, 4}, tgt[4] = {2, 3, 4, 5};
    dytcl_model_optim o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f};
    EXPECT(ctx, dytcl_model_forward(m, tok, tgt), DYTCL_ERR_CALL_ORDER, "dytcl_model_set_batch first");
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 4));
    /* reads before anything was computed */
    EXPECT(ctx, dytcl_model_read_logits(m, logits), DYTCL_ERR_CALL_ORDER, "no logits");
    EXPECT(ctx, dytcl_model_read_predictions(m, pred), DYTCL_ERR_CALL_ORDER, "no logits");
    EXPECT(ctx, dytcl_model_read_loss(m, &loss), DYTCL_ERR_CALL_ORDER, "no loss");
    EXPECT(ctx, dytcl_model_step_stats(m, &loss, 1, &gn), DYTCL_ERR_CALL_ORDER, "no dytcl_model_step");
    EXPECT(ctx, dytcl_model_saturation(m, frac, alpha), DYTCL_ERR_CALL_ORDER, "no forward pass");
    EXPECT(ctx, dytcl_model_backward(m, 1.0f), DYTCL_ERR_CALL_ORDER, "forward with targets first");
    /* the order kept */
    CHECK_OK(ctx, dytcl_model_zero_grad(m));
    CHECK_OK(ctx, dytcl_model_forward(m, tok, tgt));
    CHECK_OK(ctx, dytcl_model_read_loss(m, &loss));
    CHECK_OK(ctx, dytcl_model_read_logits(m, logits));
    CHECK_OK(ctx, dytcl_model_saturation(m, frac, alpha));
    CHECK_OK(ctx, dytcl_model_backward(m, 1.0f));
    /* backward consumed the logits (now their gradient) and the targets */
    EXPECT(ctx, dytcl_model_read_logits(m, logits), DYTCL_ERR_CALL_ORDER, "backward consumes");
    EXPECT(ctx, dytcl_model_backward(m, 1.0f), DYTCL_ERR_CALL_ORDER, "forward with targets first");
    EXPECT(ctx, dytcl_model_step_stats(m, &loss, 1, &gn), DYTCL_ERR_CALL_ORDER, "no dytcl_model_step");
    CHECK_OK(ctx, dytcl_model_step(m, &o, 1));
    EXPECT(ctx, dytcl_model_step_stats(m, logits, 2, &gn), DYTCL_ERR_CALL_ORDER, "2 losses asked, 1 computed");
    CHECK_OK(ctx, dytcl_model_step_stats(m, &loss, 1, &gn));
    CHECK(isfinite(loss) && gn > 0, "loss %g, gradient norm %g", loss, gn);
    o.lr = NAN;
    EXPECT(ctx, dytcl_model_step(m, &o, 2), DYTCL_ERR_INVALID_ARG, "lr nan");
    CHECK_OK(ctx, dytcl_model_zero_grad(m));
    EXPECT(ctx, dytcl_model_read_loss(m, &loss), DYTCL_ERR_CALL_ORDER, "since dytcl_model_zero_grad");
    /* the loss read is the last forward's: none after a forward without
     * targets, or after a new batch, even with an older loss in the slots */
    CHECK_OK(ctx, dytcl_model_forward(m, tok, tgt));
    CHECK_OK(ctx, dytcl_model_read_loss(m, &loss));
    CHECK_OK(ctx, dytcl_model_forward(m, tok, NULL));
    EXPECT(ctx, dytcl_model_read_loss(m, &loss), DYTCL_ERR_CALL_ORDER, "no targets");
    CHECK_OK(ctx, dytcl_model_forward(m, tok, tgt));
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 2));
    EXPECT(ctx, dytcl_model_read_loss(m, &loss), DYTCL_ERR_CALL_ORDER, "no targets");
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 4));
    CHECK_OK(ctx, dytcl_model_zero_grad(m));

    /* decoding: outside a session, twice begun, and generate inside the caller's session */
    dytcl_sampling s = {.temperature = 0};
    EXPECT(ctx, dytcl_model_decode(m, tok, 1, 0, logits), DYTCL_ERR_CALL_ORDER, "dytcl_model_decode_begin first");
    CHECK_OK(ctx, dytcl_model_decode_begin(m));
    EXPECT(ctx, dytcl_model_decode_begin(m), DYTCL_ERR_CALL_ORDER, "decoding");
    CHECK_OK(ctx, dytcl_model_decode(m, tok, 2, 0, logits));
    EXPECT(ctx, dytcl_model_generate(m, tok, 2, 2, &s, 1, NULL, NULL), DYTCL_ERR_CALL_ORDER, "decode_end first");
    EXPECT(ctx, dytcl_model_forward(m, tok, NULL), DYTCL_ERR_CALL_ORDER, "decode_end first");
    CHECK_OK(ctx, dytcl_model_decode(m, tok + 2, 1, 2, logits)); /* the session goes on */
    dytcl_model_decode_end(m);
    CHECK_OK(ctx, dytcl_model_generate(m, tok, 2, 2, &s, 1, NULL, NULL));
    dytcl_model_free(m);
}

/* A NaN (then an Inf) in one weight: load refuses it, naming the tensor;
 * DYTCL_LOAD_ALLOW_NONFINITE loads it. A training checkpoint the same. */
static void nonfinite(dytcl_ctx *ctx)
{
    dytcl_model_config c = tiny(DYTCL_ARCH_GPT);
    dytcl_model *m = NULL, *l = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 1, &m));
    if (!m) return;
    int nt = dytcl_model_param_table(&c, NULL, 0);
    dytcl_model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    size_t n = dytcl_model_param_count(&c);
    float *p = malloc(n * sizeof *p);
    dytcl_model_param_table(&c, tab, nt);
    CHECK_OK(ctx, dytcl_model_read_params(m, p));
    const dytcl_model_tensor *qkv = NULL;
    for (int i = 0; i < nt; i++)
        if (!strcmp(tab[i].name, "h.0.attn.qkv.weight")) qkv = &tab[i];
    char path[64];
    snprintf(path, sizeof path, "gate-nonfinite-%d.safetensors", (int)getpid());
    float bad[2] = {NAN, INFINITY};
    for (int k = 0; qkv && k < 2; k++) {
        p[qkv->offset + 5] = bad[k];
        CHECK_OK(ctx, dytcl_model_write_params(m, p));
        CHECK_OK(ctx, dytcl_model_save(m, path, k, NULL)); /* k 1: with AdamW state, as training saves */
        EXPECT(ctx, dytcl_model_load(ctx, path, NULL, NULL, &l), DYTCL_ERR_FORMAT, "\"h.0.attn.qkv.weight\"");
        CHECK(l == NULL && strstr(dytcl_last_error(ctx), "non-finite"), "loaded: %s", dytcl_last_error(ctx));
        CHECK_OK(ctx, dytcl_model_load_ex(ctx, path, DYTCL_LOAD_ALLOW_NONFINITE, NULL, NULL, &l));
        dytcl_model_free(l);
        l = NULL;
    }
    EXPECT(ctx, dytcl_model_load_ex(ctx, path, 6, NULL, NULL, &l), DYTCL_ERR_INVALID_ARG, "unknown flags");
    remove(path);
    free(tab), free(p);
    dytcl_model_free(m);
}

int main(void)
{
    null_model();
    config();
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx)) {
        fprintf(stderr, "test_model_gate: no device: %s\n", dytcl_last_error(NULL));
        return 1;
    }
    ids_and_sampling(ctx);
    call_order(ctx);
    nonfinite(ctx);
    setup_linear(ctx);
    dytcl_ctx_free(ctx);
    return check_done("test_model_gate");
}
