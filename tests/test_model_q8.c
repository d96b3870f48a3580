/* test_model_q8.c -- inference with 8-bit weights (DYTCL_Q8), on a model
 * trained on a Markov chain (markov.h, as test_model_half): greedy decoding
 * with the linear layers' weights in q8 (dytcl_model_set_weight_dtype)
 * against float32, and q8 exports (dytcl_model_export) loaded back.
 *
 * Tolerance of the logits. Quantizing a weight moves it by at most half its
 * block's scale, max|w| / 254 of its block of 32: a relative error of at
 * most u = 1/254 of the block's largest weight, so a product W x moves by
 * at most u sum_k max|W_block| |x_k|, of the order of u times its size for
 * weights that spread evenly. A logit passes through P = 4L + 1 quantized
 * matrices and to first order their errors add: we allow ||dz|| <= 4 P u
 * ||z||, teacher-forced (the q8 run fed float32's tokens). Greedy tokens,
 * free-running, must equal float32's for all 48 steps, with float32's top
 * logit leading by more than twice the measured error at every step (the
 * chain, 6 states, seed 2033, has no near-ties).
 *
 * Exports: a q8 checkpoint holds each linear layer's weight as "<name>.q"
 * (I8) and "<name>.scale" (F32), the embeddings and vectors as F32, and
 * "dtype" = "q8"; loading dequantizes it (the parameters are exactly q *
 * scale) and the model reads q8 weights again, the same logits as the
 * model that was exported, set to q8. A DyT model is exported folded, as
 * dytcl export does. Widths that are not a multiple of 32 are refused. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data.h"
#include "dytcl_model.h"
#include "markov.h"
#include "markov_decode.h"

enum { B = 16, T = 32, N_BYTES = 100000, STEPS = 300, NEW = 48, PROMPT = 8, STATES = 6, CHAIN_SEED = 2033 };

static dytcl_model *train(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, const text_data *d)
{
    return markov_model(ctx, arch, norm, d, B, T, STEPS);
}

/* Greedy decoding (markov_decode.h): the prompt (PROMPT tokens at once),
 * then NEW steps of one token; forced (not NULL): teacher forcing. */
static void greedy(dytcl_model *m, const int32_t *prompt, const int32_t *forced, int32_t *tokens, float *logits)
{
    markov_greedy(m, prompt, PROMPT, forced, NEW, tokens, logits);
}

/* max over steps of ||a - b|| / ||b|| over the vocabulary */
static double logit_err(const float *a, const float *b, int V)
{
    double worst = 0;
    for (int i = 0; i < NEW; i++) {
        double num = 0, den = 0;
        for (int v = 0; v < V; v++) {
            const double d = (double)a[(size_t)i * V + v] - b[(size_t)i * V + v];
            num += d * d, den += (double)b[(size_t)i * V + v] * b[(size_t)i * V + v];
        }
        worst = fmax(worst, sqrt(num / den));
    }
    return worst;
}

static void prompt_of(int32_t *prompt)
{
    for (int i = 0; i < PROMPT; i++) prompt[i] = markov_byte(i % STATES);
}

static void compare_q8(dytcl_model *m, const char *name)
{
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    const dytcl_model_config *c = dytcl_model_get_config(m);
    const int V = c->vocab, P = 4 * c->n_layer + 1;
    const double tol = 4.0 * P / 254.0;
    int32_t prompt[PROMPT], t32[NEW], tq[NEW];
    prompt_of(prompt);
    float *z32 = malloc(sizeof(float) * NEW * V), *zq = malloc(sizeof(float) * NEW * V);
    greedy(m, prompt, NULL, t32, z32);
    double lead = INFINITY;
    for (int i = 0; i < NEW; i++) {
        const float *z = z32 + (size_t)i * V;
        double nz = 0, second = -INFINITY;
        for (int v = 0; v < V; v++) nz += (double)z[v] * z[v];
        for (int v = 0; v < V; v++)
            if (v != t32[i] && z[v] > second) second = z[v];
        lead = fmin(lead, (z[t32[i]] - second) / sqrt(nz));
    }
    CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, DYTCL_Q8));
    CHECK(dytcl_model_weight_dtype(m) == DYTCL_Q8, "weight dtype");
    greedy(m, prompt, NULL, tq, zq);
    int same = 0;
    while (same < NEW && tq[same] == t32[same]) same++;
    greedy(m, prompt, t32, tq, zq);
    const double worst = logit_err(zq, z32, V);
    printf("%s q8: %d of %d greedy tokens as f32; logits within %.3g relative (tolerance 4P/254 = %.3g); "
           "smallest f32 lead %.3g\n", name, same, NEW, worst, tol, lead);
    CHECK(same == NEW, "%s q8: the greedy tokens part from f32's at step %d", name, same);
    CHECK(worst <= tol, "%s q8: logits %.3g from f32's, more than 4P/254 = %.3g", name, worst, tol);
    CHECK(worst > 1e-4, "%s q8: logits %.3g from f32's: the q8 weights were not read", name, worst);
    CHECK(lead > 2 * worst, "%s q8: a top logit leads by %.3g only, within twice the error %.3g", name, lead, worst);
    /* training is refused while q8 weights are held, naming them ... */
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 4));
    int32_t tok[4] = {1, 2, 3, 4}, tgt[4] = {2, 3, 4, 5};
    CHECK_OK(ctx, dytcl_model_forward(m, tok, tgt));
    dytcl_status s = dytcl_model_backward(m, 1.0f);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "q8"), "backward with q8 weights: %s: %s",
          dytcl_status_name(s), dytcl_last_error(ctx));
    /* ... and f32 again gives the f32 logits bit for bit */
    CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, DYTCL_F32));
    greedy(m, prompt, NULL, tq, zq);
    CHECK(!memcmp(zq, z32, sizeof(float) * NEW * V), "%s: back to f32, the logits differ", name);
    free(z32), free(zq);
}

/* m (folded when a DyT model) exported as q8 and loaded back. */
static void export_q8(dytcl_model *m, const char *dir, const char *name)
{
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    const dytcl_model_config *c = dytcl_model_get_config(m);
    const int V = c->vocab, nt = dytcl_model_param_table(c, NULL, 0);
    const size_t n = dytcl_model_param_count(c);
    dytcl_model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    dytcl_model_param_table(c, tab, nt);
    char path[512];
    snprintf(path, sizeof path, "%s/q8.safetensors", dir);
    CHECK_OK(ctx, dytcl_model_export(m, path, DYTCL_Q8, NULL));
    /* the file: pairs for the linear layers, F32 for the rest */
    float *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    CHECK_OK(ctx, dytcl_model_read_params(m, p));
    dytcl_st_file *f = NULL;
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    int pairs = 0, wrong = 0;
    for (int i = 0; f && i < nt; i++) {
        dytcl_st_tensor t, tq, ts;
        const int mat = tab[i].ndim == 2 && strcmp(tab[i].name, "wte") && strcmp(tab[i].name, "wpe");
        char qn[96], sn[96];
        snprintf(qn, sizeof qn, "%s.q", tab[i].name), snprintf(sn, sizeof sn, "%s.scale", tab[i].name);
        if (!mat) {
            CHECK(!dytcl_st_get(f, tab[i].name, &t) && t.dtype == DYTCL_F32, "%s: not an F32 tensor", tab[i].name);
            continue;
        }
        CHECK(dytcl_st_get(f, tab[i].name, &t) == DYTCL_ERR_FORMAT, "%s is in the file unquantized", tab[i].name);
        if (dytcl_st_get(f, qn, &tq) || dytcl_st_get(f, sn, &ts)) {
            CHECK(0, "%s: no %s / %s pair", tab[i].name, qn, sn);
            continue;
        }
        pairs++;
        const int64_t N = tab[i].shape[0], K = tab[i].shape[1];
        CHECK(tq.dtype == DYTCL_Q8 && tq.shape[0] == N && tq.shape[1] == K && tq.i8 && !tq.data, "%s: I8 [N, K]", qn);
        CHECK(ts.dtype == DYTCL_F32 && ts.shape[0] == N && ts.shape[1] == K / 32, "%s: F32 [N, K/32]", sn);
        /* the host quantizer's bytes, exactly */
        unsigned char *want = malloc(dytcl_q8_bytes(N, K));
        CHECK_OK(NULL, dytcl_q8_quantize(p + tab[i].offset, N, K, want));
        wrong += memcmp(want, tq.i8, (size_t)(N * K)) != 0 || memcmp(want + N * K, ts.data, (size_t)(N * K / 8)) != 0;
        free(want);
    }
    int want_pairs = 4 * c->n_layer; /* and the lm head, when it is not the tied wte */
    for (int i = 0; i < nt; i++) want_pairs += !strcmp(tab[i].name, "lm_head.weight");
    CHECK(pairs == want_pairs, "%s: %d q8 pairs, want %d", name, pairs, want_pairs);
    CHECK(wrong == 0, "%s: %d matrices differ from dytcl_q8_quantize's", name, wrong);
    CHECK(f && dytcl_st_metadata(f, "dtype") && !strcmp(dytcl_st_metadata(f, "dtype"), "q8"), "metadata dtype q8");
    dytcl_st_free(f);
    /* loaded back: q8 weights, parameters exactly q * scale, the same decoding as m in q8 */
    dytcl_model *r = NULL;
    CHECK_OK(ctx, dytcl_model_load(ctx, path, NULL, NULL, &r));
    if (r) {
        CHECK(dytcl_model_weight_dtype(r) == DYTCL_Q8, "%s: a q8 export loads with %s weights", name,
              dytcl_dtype_name(dytcl_model_weight_dtype(r)));
        CHECK_OK(ctx, dytcl_model_read_params(r, q));
        int off = 0;
        for (int i = 0; i < nt; i++) {
            const int mat = tab[i].ndim == 2 && strcmp(tab[i].name, "wte") && strcmp(tab[i].name, "wpe");
            if (!mat) {
                off += memcmp(p + tab[i].offset, q + tab[i].offset, tab[i].numel * sizeof *p) != 0;
                continue;
            }
            const int64_t N = tab[i].shape[0], K = tab[i].shape[1];
            unsigned char *qq = malloc(dytcl_q8_bytes(N, K));
            float *dq = malloc((size_t)(N * K) * sizeof *dq);
            CHECK_OK(NULL, dytcl_q8_quantize(p + tab[i].offset, N, K, qq));
            CHECK_OK(NULL, dytcl_q8_dequantize(qq, N, K, dq));
            off += memcmp(dq, q + tab[i].offset, (size_t)(N * K) * sizeof *dq) != 0;
            free(qq), free(dq);
        }
        CHECK(off == 0, "%s: %d loaded tensors are not the exported (dequantized) ones", name, off);
        int32_t prompt[PROMPT], t1[NEW], t2[NEW];
        prompt_of(prompt);
        float *z1 = malloc(sizeof(float) * NEW * V), *z2 = malloc(sizeof(float) * NEW * V);
        CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, DYTCL_Q8));
        greedy(m, prompt, NULL, t1, z1);
        greedy(r, prompt, NULL, t2, z2);
        const double e = logit_err(z2, z1, V);
        CHECK(!memcmp(t1, t2, sizeof t1) && e <= 1e-5, "%s: the loaded q8 model decodes %.3g from the exported one",
              name, e);
        CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, DYTCL_F32));
        free(z1), free(z2);
    }
    dytcl_model_free(r);
    unlink(path);
    free(p), free(q), free(tab);
}

/* A width that is not a multiple of 32 is refused, naming the block. */
static void refusals(dytcl_ctx *ctx, const char *dir)
{
    dytcl_model_config c = {0};
    c.arch = DYTCL_ARCH_GPT, c.norm = DYTCL_NORM_DYT, c.max_seq = 16, c.n_layer = 1, c.n_head = 2, c.d_model = 24;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 7, &m));
    if (!m) return;
    dytcl_status s = dytcl_model_set_weight_dtype(m, DYTCL_Q8);
    CHECK(s != DYTCL_OK && strstr(dytcl_last_error(ctx), "multiple of 32") && dytcl_model_weight_dtype(m) == DYTCL_F32,
          "d_model 24 set to q8: %s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    s = dytcl_model_export(m, path, DYTCL_Q8, NULL);
    CHECK(s != DYTCL_OK && strstr(dytcl_last_error(ctx), "multiple of 32") && access(path, F_OK) != 0,
          "d_model 24 exported as q8: %s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    dytcl_model_free(m);
}

int main(void)
{
    markov_chain mc;
    CHECK(markov_init(&mc, STATES, CHAIN_SEED) == 0, "markov_init");
    uint8_t *bytes = malloc(N_BYTES);
    markov_sample(&mc, 5, N_BYTES, bytes);
    text_data *d = NULL;
    char err[512], dir[] = "/tmp/dytcl-mq8-XXXXXX";
    CHECK(text_data_from_memory(bytes, N_BYTES, 0.1, T, &d, err, sizeof err) == 0, "%s", err);
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    refusals(ctx, dir);
    /* llama-dyt, folded for inference as dytcl generate and export do; gpt-rmsnorm as trained (tied lm head) */
    dytcl_model *m = d ? train(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_DYT, d) : NULL, *folded = NULL;
    if (m) CHECK_OK(ctx, dytcl_model_fold(m, &folded));
    if (folded) {
        compare_q8(folded, "llama-dyt (folded)");
        export_q8(folded, dir, "llama-dyt (folded)");
    }
    dytcl_model_free(folded), dytcl_model_free(m);
    m = d ? train(ctx, DYTCL_ARCH_GPT, DYTCL_NORM_RMSNORM, d) : NULL;
    if (m) {
        compare_q8(m, "gpt-rmsnorm");
        export_q8(m, dir, "gpt-rmsnorm");
    }
    dytcl_model_free(m);
    rmdir(dir);
    text_data_free(d);
    dytcl_ctx_free(ctx);
    free(bytes);
    return check_done("test_model_q8");
}
