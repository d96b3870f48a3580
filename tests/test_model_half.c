/* test_model_half.c -- inference with half-width weights, on a model trained
 * on a Markov chain (markov.h, as test_train): greedy decoding with the
 * linear layers' weights in f16 and in bf16 (dytcl_model_set_weight_dtype)
 * against float32, and checkpoints exported in F16 / BF16.
 *
 * Tolerance of the logits. Rounding a weight to a format of unit roundoff u
 * (f16 2^-11, bf16 2^-9) moves it by at most u relative, so a product W x
 * moves by at most u sum_k |W_ik x_k|: about u times its size when the terms
 * do not cancel. A logit passes through P = 4L + 1 rounded matrices (qkv,
 * proj, fc, proj per layer, the lm head), and to first order their errors
 * add: we allow ||dz|| <= 4 P u ||z|| (norm-wise over the vocabulary, every
 * decoding step), the 4 for cancellation and the softmax/norm gains in
 * between. Float32 itself contributes ~1e-6, far below. The logits are
 * compared teacher-forced (the half-width run fed float32's tokens), so
 * that every step compares the same context.
 *
 * Greedy tokens, free-running, must equal float32's for all 48 steps. A
 * near-tie would let any perturbation flip a token, so the chain (6 states,
 * seed 2033) is one whose most likely transition from every state beats the
 * runner-up by a factor e^0.46 or more, and the test checks that float32's
 * top logit leads by more than twice the measured error at every step. */
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

static void compare_dtypes(dytcl_model *m, const char *name)
{
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    const dytcl_model_config *c = dytcl_model_get_config(m);
    const int V = c->vocab, P = 4 * c->n_layer + 1;
    int32_t prompt[PROMPT], t32[NEW], th[NEW];
    for (int i = 0; i < PROMPT; i++) prompt[i] = markov_byte(i % STATES);
    float *z32 = malloc(sizeof(float) * NEW * V), *zh = malloc(sizeof(float) * NEW * V);
    greedy(m, prompt, NULL, t32, z32);
    /* the smallest lead of the top logit over the second, relative to ||z|| */
    double lead = INFINITY;
    for (int i = 0; i < NEW; i++) {
        const float *z = z32 + (size_t)i * V;
        double nz = 0, second = -INFINITY;
        for (int v = 0; v < V; v++) nz += (double)z[v] * z[v];
        for (int v = 0; v < V; v++)
            if (v != t32[i] && z[v] > second) second = z[v];
        lead = fmin(lead, (z[t32[i]] - second) / sqrt(nz));
    }
    const dytcl_dtype dts[2] = {DYTCL_F16, DYTCL_BF16};
    for (int k = 0; k < 2; k++) {
        const double u = dts[k] == DYTCL_F16 ? 0x1p-11 : 0x1p-9, tol = 4.0 * P * u;
        CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, dts[k]));
        CHECK(dytcl_model_weight_dtype(m) == dts[k], "weight dtype");
        greedy(m, prompt, NULL, th, zh);
        int same = 0;
        while (same < NEW && th[same] == t32[same]) same++;
        greedy(m, prompt, t32, th, zh);
        double worst = 0;
        for (int i = 0; i < NEW; i++) {
            double num = 0, den = 0;
            for (int v = 0; v < V; v++) {
                const double d = (double)zh[(size_t)i * V + v] - z32[(size_t)i * V + v];
                num += d * d, den += (double)z32[(size_t)i * V + v] * z32[(size_t)i * V + v];
            }
            worst = fmax(worst, sqrt(num / den));
        }
        printf("%s %s: %d of %d greedy tokens as f32; logits within %.3g relative (tolerance 4Pu = %.3g); "
               "smallest f32 lead %.3g\n", name, dytcl_dtype_name(dts[k]), same, NEW, worst, tol, lead);
        CHECK(same == NEW, "%s %s: the greedy tokens part from f32's at step %d", name, dytcl_dtype_name(dts[k]), same);
        CHECK(worst <= tol, "%s %s: logits %.3g from f32's, more than 4Pu = %.3g", name, dytcl_dtype_name(dts[k]),
              worst, tol);
        CHECK(worst > 0, "%s %s: logits equal f32's bit for bit: the half-width weights were not read", name,
              dytcl_dtype_name(dts[k]));
        CHECK(lead > 2 * worst, "%s %s: a top logit leads by %.3g only, within twice the error %.3g", name,
              dytcl_dtype_name(dts[k]), lead, worst);
    }
    /* training is refused while half-width weights are held ... */
    CHECK_OK(ctx, dytcl_model_set_batch(m, 1, 4));
    int32_t tok[4] = {1, 2, 3, 4}, tgt[4] = {2, 3, 4, 5};
    CHECK_OK(ctx, dytcl_model_forward(m, tok, tgt));
    dytcl_status s = dytcl_model_backward(m, 1.0f);
    CHECK(s == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(ctx), "bf16"), "backward with bf16 weights: %s: %s",
          dytcl_status_name(s), dytcl_last_error(ctx));
    /* ... and f32 again gives the f32 logits bit for bit */
    CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, DYTCL_F32));
    greedy(m, prompt, NULL, th, zh);
    CHECK(!memcmp(zh, z32, sizeof(float) * NEW * V), "%s: back to f32, the logits differ", name);
    CHECK(dytcl_model_set_weight_dtype(m, (dytcl_dtype)9) == DYTCL_ERR_INVALID_ARG, "dtype 9 taken");
    free(z32), free(zh);
}

/* Replaces the first `from` in the file's header by `to` (same length). */
static int patch_header(const char *src, const char *dst, const char *from, const char *to)
{
    FILE *f = fopen(src, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = '\0';
    char *at = strstr(b + 8, from); /* the header is text; the data after it may hold NULs */
    if (at) memcpy(at, to, strlen(to));
    f = fopen(dst, "wb");
    if (f) fwrite(b, 1, got, f), fclose(f);
    free(b);
    return at && f ? 0 : -1;
}

static void checkpoints(dytcl_model *m, const char *dir)
{
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    const dytcl_model_config *c = dytcl_model_get_config(m);
    const size_t n = dytcl_model_param_count(c);
    const int nt = dytcl_model_param_table(c, NULL, 0);
    dytcl_model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    dytcl_model_param_table(c, tab, nt);
    float *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    CHECK_OK(ctx, dytcl_model_read_params(m, p));
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/half.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/corrupt.safetensors", dir);
    const dytcl_dtype dts[2] = {DYTCL_F16, DYTCL_BF16};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(ctx, dytcl_model_export(m, path, dts[k], NULL));
        dytcl_st_file *f = NULL;
        CHECK_OK(NULL, dytcl_st_load(path, &f));
        for (int i = 0; f && i < nt; i++) {
            dytcl_st_tensor t;
            CHECK_OK(NULL, dytcl_st_get(f, tab[i].name, &t));
            const dytcl_dtype want = tab[i].ndim == 2 ? dts[k] : DYTCL_F32;
            CHECK(t.dtype == want, "%s stored as %s", tab[i].name, dytcl_dtype_name(t.dtype));
        }
        dytcl_st_tensor t;
        CHECK(f && dytcl_st_get(f, "opt.m", &t) == DYTCL_ERR_FORMAT, "an export holds AdamW state");
        CHECK(f && dytcl_st_metadata(f, "dtype") && !strcmp(dytcl_st_metadata(f, "dtype"), dytcl_dtype_name(dts[k])),
              "metadata dtype");
        dytcl_st_free(f);
        /* loaded back: matrices the rounded parameters, vectors exact */
        dytcl_model *r = NULL;
        int has_opt = 1;
        CHECK_OK(ctx, dytcl_model_load(ctx, path, NULL, &has_opt, &r));
        CHECK(!has_opt, "an export loads with AdamW state");
        if (r) CHECK_OK(ctx, dytcl_model_read_params(r, q));
        int wrong = 0;
        for (int i = 0; r && i < nt; i++)
            for (size_t j = tab[i].offset; j < tab[i].offset + tab[i].numel; j++) {
                const float want = tab[i].ndim == 2 ? dytcl_half_to_float(dytcl_half_from_float(p[j], dts[k]), dts[k]) : p[j];
                wrong += memcmp(&q[j], &want, sizeof want) != 0;
            }
        CHECK(wrong == 0, "%s export: %d parameters are not the rounded ones", dytcl_dtype_name(dts[k]), wrong);
        dytcl_model_free(r);
    }
    /* a corrupted dtype, and a dtype whose size no longer matches, name the file */
    const char *dtype_str = "\"dtype\":\"BF16\"";
    const struct {
        const char *to, *needle;
    } cases[] = {{"\"dtype\":\"BF17\"", "BF17"}, {"\"dtype\":\"F32\" ", "do not match"}};
    for (int i = 0; i < 2; i++) {
        CHECK(patch_header(path, bad, dtype_str, cases[i].to) == 0, "patching %s", path);
        dytcl_model *r = NULL;
        dytcl_status s = dytcl_model_load(ctx, bad, NULL, NULL, &r);
        CHECK(s == DYTCL_ERR_FORMAT && !r && strstr(dytcl_last_error(ctx), bad) &&
                  strstr(dytcl_last_error(ctx), cases[i].needle),
              "corrupt %s: %s: %s", cases[i].to, dytcl_status_name(s), dytcl_last_error(ctx));
        dytcl_model_free(r);
    }
    /* a shape that no longer matches the data: the first matrix's rows + 1 */
    char from[64], to[64];
    snprintf(from, sizeof from, "\"shape\":[%lld,", (long long)tab[0].shape[0]);
    snprintf(to, sizeof to, "\"shape\":[%lld,", (long long)tab[0].shape[0] + 1);
    if (strlen(from) == strlen(to) && tab[0].ndim == 2) {
        CHECK(patch_header(path, bad, from, to) == 0, "patching the shape");
        dytcl_model *r = NULL;
        dytcl_status s = dytcl_model_load(ctx, bad, NULL, NULL, &r);
        CHECK(s == DYTCL_ERR_FORMAT && !r && strstr(dytcl_last_error(ctx), bad), "corrupt shape: %s: %s",
              dytcl_status_name(s), dytcl_last_error(ctx));
        dytcl_model_free(r);
    }
    unlink(path), unlink(bad);
    free(p), free(q), free(tab);
}

int main(void)
{
    markov_chain mc;
    CHECK(markov_init(&mc, STATES, CHAIN_SEED) == 0, "markov_init");
    uint8_t *bytes = malloc(N_BYTES);
    markov_sample(&mc, 5, N_BYTES, bytes);
    text_data *d = NULL;
    char err[512], dir[] = "/tmp/dytcl-mhalf-XXXXXX";
    CHECK(text_data_from_memory(bytes, N_BYTES, 0.1, T, &d, err, sizeof err) == 0, "%s", err);
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    /* llama-dyt, folded for inference as dytcl generate does; gpt-rmsnorm as trained */
    dytcl_model *m = d ? train(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_DYT, d) : NULL, *folded = NULL;
    if (m) {
        checkpoints(m, dir);
        CHECK_OK(ctx, dytcl_model_fold(m, &folded));
        if (folded) compare_dtypes(folded, "llama-dyt (folded)");
    }
    dytcl_model_free(folded), dytcl_model_free(m);
    m = d ? train(ctx, DYTCL_ARCH_GPT, DYTCL_NORM_RMSNORM, d) : NULL;
    if (m) compare_dtypes(m, "gpt-rmsnorm");
    dytcl_model_free(m);
    rmdir(dir);
    text_data_free(d);
    dytcl_ctx_free(ctx);
    free(bytes);
    return check_done("test_model_half");
}
