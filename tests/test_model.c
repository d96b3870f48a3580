/* test_model.c -- the whole model against an independent float64 reference
 * (ref_model.c), for every arch x norm: a tiny model with every parameter
 * set to random values (so that no norm weight is 1, no bias 0), one
 * forward and backward on the default device, then
 *   - logits and the mean loss against the reference's,
 *   - every parameter's gradient against central finite differences of the
 *     reference's loss (float64, so the differences are far more accurate
 *     than the float32 device),
 *   - a second backward without zeroing adds the same gradient again,
 *   - a second run from zeroed gradients gives the same bits.
 * T is odd and below max_seq (wpe rows past T get no gradient), and one
 * target is -1 (ignored, and not counted in the mean). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dev_util.h"
#include "dytcl_model.h"
#include "ref_model.h"

enum { V = 13, MAX_SEQ = 7, B = 2, T = 5, ROWS = B * T };

#define TOL_LOGITS 1e-4 /* relative, by norm */
#define TOL_LOSS 1e-5   /* relative */
#define TOL_GRAD 1e-3   /* relative by tensor norm, with a floor (see grad_error) */
#define TOL_ACCUM 1e-6  /* g after two backwards vs 2 g: float rounding of one addition */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Random values for every tensor, by kind, rounded to float (the device's
 * values exactly):  norm weights 1 +- 0.3, biases +-0.2, alpha 0.5..1.5,
 * shift +-0.2, emb_scale 1.7..2.3, matrices and embeddings +-0.3. */
static void random_params(const dytcl_model_tensor *tab, int n, double *p, unsigned long long *rng)
{
    for (int i = 0; i < n; i++) {
        const dytcl_model_tensor *t = &tab[i];
        double lo = -0.3, hi = 0.3;
        if (ends_with(t->name, ".alpha")) lo = 0.5, hi = 1.5;
        else if (ends_with(t->name, ".shift")) lo = -0.2, hi = 0.2;
        else if (!strcmp(t->name, "emb_scale")) lo = 1.7, hi = 2.3;
        else if (ends_with(t->name, ".bias")) lo = -0.2, hi = 0.2;
        else if (t->is_norm && ends_with(t->name, ".weight")) lo = 0.7, hi = 1.3;
        rand_fill(p + t->offset, t->numel, rng, lo, hi);
        round_float(p + t->offset, t->numel);
    }
}

/* d loss / d p by central differences of the float64 reference. */
static void finite_diff_grads(const dytcl_model_config *c, double *p, size_t np, const int32_t *tok, const int32_t *tgt,
                              double *g)
{
    for (size_t i = 0; i < np; i++) {
        double p0 = p[i], h = 1e-6 * fmax(1.0, fabs(p0));
        p[i] = p0 + h;
        double up = ref_model_loss(c, p, tok, tgt, B, T, NULL);
        p[i] = p0 - h;
        double down = ref_model_loss(c, p, tok, tgt, B, T, NULL);
        p[i] = p0;
        g[i] = (up - down) / (2 * h);
    }
}

/* ||got - want|| / max(||want||, floor) over n elements. The floor (a small
 * fraction of the whole gradient's norm) keeps a tensor whose true gradient
 * is ~0 from asking float32 for a relative accuracy it cannot have. */
static double grad_error(const float *got, const double *want, size_t n, double floor)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += isfinite(d) ? d * d : INFINITY;
        den += want[i] * want[i];
    }
    return sqrt(num) / fmax(sqrt(den), floor);
}

/* Inference paths against the training forward's logits [ROWS, V]: the
 * folded model (DyT/Derf) over the whole batch, and decoding sequence 0
 * with the KV cache, first its first two tokens at once, then one at a
 * time, each position's logits compared. Returns the worst error. */
static double check_inference(dytcl_model *m, const int32_t *tok, const float *logits, const char *what)
{
    dytcl_model *f = NULL, *use = m;
    const dytcl_model_config *c = dytcl_model_get_config(m);
    double worst = 0;
    float *got = malloc((size_t)ROWS * V * sizeof *got);
    double *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    dytcl_status s;
#define INF(call) CHECK((s = (call)) == DYTCL_OK, "%s: %s: %s", what, #call, dytcl_last_error(dytcl_model_ctx(use)))
    if (c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF) {
        INF(dytcl_model_fold(m, &f));
        if (f) {
            use = f;
            INF(dytcl_model_set_batch(f, B, T));
            INF(dytcl_model_forward(f, tok, NULL));
            INF(dytcl_model_read_logits(f, got));
            double *x = malloc((size_t)ROWS * V * sizeof *x), *y = malloc((size_t)ROWS * V * sizeof *y);
            for (size_t i = 0; i < (size_t)ROWS * V; i++) x[i] = got[i], y[i] = logits[i];
            double e = rel_err(x, y, (size_t)ROWS * V);
            CHECK(e <= 1e-5, "%s: folded model's logits: relative error %.3g > 1e-5", what, e);
            worst = fmax(worst, e);
            free(x), free(y);
        }
    } else {
        CHECK(dytcl_model_fold(m, &f) == DYTCL_ERR_INVALID_ARG, "%s: dytcl_model_fold of a %s model must be refused",
              what, dytcl_norm_kind_name(c->norm));
    }
    INF(dytcl_model_decode_begin(use));
    for (int pos = 0; pos < T;) {
        int n = pos == 0 ? 2 : 1; /* a prompt of two, then one at a time */
        INF(dytcl_model_decode(use, tok + pos, n, pos, got));
        pos += n;
        for (int v = 0; v < V; v++) a[v] = got[v], b[v] = logits[(size_t)(pos - 1) * V + v];
        double e = rel_err(a, b, V);
        CHECK(e <= 1e-5, "%s: decoding position %d with the KV cache: relative error %.3g > 1e-5", what, pos - 1, e);
        worst = fmax(worst, e);
    }
    CHECK(dytcl_model_forward(use, tok, NULL) == DYTCL_ERR_CALL_ORDER,
          "%s: dytcl_model_forward while decoding is refused", what);
    dytcl_model_decode_end(use);
#undef INF
    dytcl_model_free(f);
    free(got), free(a), free(b);
    return worst;
}

/* What a case changes from the base config: heads, key/value heads (0: all),
 * and llama's tied head and biases. */
typedef struct {
    int n_head, n_kv_head, tie, attn_bias, mlp_bias;
} variant;

static void run_variant(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, unsigned long long seed, variant x)
{
    char what[64];
    snprintf(what, sizeof what, "%s-%s%s%s%s%s", dytcl_arch_name(arch), dytcl_norm_kind_name(norm),
             x.n_kv_head ? (x.n_kv_head == 1 ? "-mqa" : "-gqa") : "", x.tie ? "-tied" : "",
             x.attn_bias ? "-abias" : "", x.mlp_bias ? "-mbias" : "");
    dytcl_model_config c = {0};
    c.arch = arch, c.norm = norm, c.vocab = V, c.max_seq = MAX_SEQ, c.n_layer = 2, c.n_head = x.n_head, c.d_model = 16;
    c.d_ff = 24, c.n_kv_head = x.n_kv_head, c.tie_embeddings = x.tie, c.attn_bias = x.attn_bias, c.mlp_bias = x.mlp_bias;
    dytcl_model_config_defaults(&c);

    dytcl_model *m = NULL;
    dytcl_status s = dytcl_model_create(ctx, &c, 1, &m);
    CHECK(s == DYTCL_OK, "%s: dytcl_model_create: %s", what, dytcl_last_error(ctx));
    if (s) return;
    CHECK(dytcl_model_set_batch(m, B, T) == DYTCL_OK, "%s: dytcl_model_set_batch: %s", what,
          dytcl_last_error(dytcl_model_ctx(m)));

    /* random parameters, tokens and targets (one ignored) */
    int ntab = dytcl_model_param_table(&c, NULL, 0);
    dytcl_model_tensor *tab = malloc((size_t)ntab * sizeof *tab);
    dytcl_model_param_table(&c, tab, ntab);
    size_t np = dytcl_model_param_count(&c);
    double *p = malloc(np * sizeof *p);
    float *pf = malloc(np * sizeof *pf);
    unsigned long long rng = seed;
    random_params(tab, ntab, p, &rng);
    for (size_t i = 0; i < np; i++) pf[i] = (float)p[i];
    int32_t tok[ROWS], tgt[ROWS];
    for (int r = 0; r < ROWS; r++) {
        tok[r] = (int32_t)check_rand(&rng, 0, V);
        tgt[r] = (int32_t)check_rand(&rng, 0, V);
    }
    tgt[ROWS / 2 + 1] = -1;

    /* the device: forward and backward */
    float *logits = malloc((size_t)ROWS * V * sizeof *logits), *logits2 = malloc((size_t)ROWS * V * sizeof *logits2);
    float *g1 = malloc(np * sizeof *g1), *g2 = malloc(np * sizeof *g2), *g3 = malloc(np * sizeof *g3);
    float loss = NAN, loss2 = NAN;
    for (size_t i = 0; i < np; i++) g1[i] = g2[i] = g3[i] = NAN;
    for (size_t i = 0; i < (size_t)ROWS * V; i++) logits[i] = logits2[i] = NAN;
#define DEV(call) CHECK((s = (call)) == DYTCL_OK, "%s: %s: %s", what, #call, dytcl_last_error(dytcl_model_ctx(m)))
    DEV(dytcl_model_write_params(m, pf));
    DEV(dytcl_model_zero_grad(m));
    DEV(dytcl_model_forward(m, tok, tgt));
    DEV(dytcl_model_read_logits(m, logits));
    DEV(dytcl_model_read_loss(m, &loss));
    DEV(dytcl_model_backward(m, 1.0f));
    DEV(dytcl_model_read_grads(m, g1));

    /* the reference */
    double *zref = malloc((size_t)ROWS * V * sizeof *zref), *zgot = malloc((size_t)ROWS * V * sizeof *zgot);
    double lref = ref_model_loss(&c, p, tok, tgt, B, T, zref);
    for (size_t i = 0; i < (size_t)ROWS * V; i++) zgot[i] = logits[i];
    double e_logits = rel_err(zgot, zref, (size_t)ROWS * V), e_loss = fabs(loss - lref) / fabs(lref);
    CHECK(e_logits <= TOL_LOGITS, "%s: logits: relative error %.3g > %.0e", what, e_logits, TOL_LOGITS);
    CHECK(e_loss <= TOL_LOSS, "%s: loss %.8f, reference %.8f: relative error %.3g > %.0e", what, loss, lref,
          e_loss, TOL_LOSS);

    /* gradients, tensor by tensor */
    double *gref = malloc(np * sizeof *gref);
    finite_diff_grads(&c, p, np, tok, tgt, gref);
    double total = 0;
    for (size_t i = 0; i < np; i++) total += gref[i] * gref[i];
    double flr = 1e-3 * sqrt(total), worst = -1;
    int worst_i = 0;
    for (int t = 0; t < ntab; t++) {
        double e = grad_error(g1 + tab[t].offset, gref + tab[t].offset, tab[t].numel, flr);
        CHECK(e <= TOL_GRAD, "%s: gradient of %s: error %.3g > %.0e", what, tab[t].name, e, TOL_GRAD);
        if (!(e <= worst)) worst = e, worst_i = t;
    }
    /* rows of wpe past T see no token: exactly zero */
    for (int t = 0; t < ntab; t++)
        if (!strcmp(tab[t].name, "wpe"))
            for (size_t i = (size_t)T * c.d_model; i < tab[t].numel; i++)
                CHECK(g1[tab[t].offset + i] == 0.0f, "%s: wpe gradient [%zu] = %g past T", what, i,
                      g1[tab[t].offset + i]);

    /* accumulation: a second forward + backward without zeroing doubles it */
    DEV(dytcl_model_forward(m, tok, tgt));
    DEV(dytcl_model_backward(m, 1.0f));
    DEV(dytcl_model_read_grads(m, g2));
    double num = 0, den = 0;
    for (size_t i = 0; i < np; i++) {
        double d = (double)g2[i] - 2.0 * g1[i];
        num += isfinite(d) ? d * d : INFINITY;
        den += 4.0 * (double)g1[i] * g1[i];
    }
    double e_accum = sqrt(num / den);
    CHECK(e_accum <= TOL_ACCUM, "%s: two backwards vs twice one: relative error %.3g > %.0e", what, e_accum,
          TOL_ACCUM);

    /* determinism: the same run again gives the same bits */
    DEV(dytcl_model_zero_grad(m));
    DEV(dytcl_model_forward(m, tok, tgt));
    DEV(dytcl_model_read_logits(m, logits2));
    DEV(dytcl_model_read_loss(m, &loss2));
    DEV(dytcl_model_backward(m, 1.0f));
    DEV(dytcl_model_read_grads(m, g3));
#undef DEV
    double e_infer = check_inference(m, tok, logits, what);
    CHECK(!memcmp(g1, g3, np * sizeof *g1), "%s: a second run's gradients differ in their bits", what);
    CHECK(!memcmp(logits, logits2, (size_t)ROWS * V * sizeof *logits), "%s: a second run's logits differ", what);
    CHECK(!memcmp(&loss, &loss2, sizeof loss), "%s: a second run's loss differs: %.9g vs %.9g", what, loss, loss2);

    printf("%-15s loss %.6f (ref %.6f, err %.1e)  logits err %.1e  worst gradient %s %.1e  (%d tensors, %zu "
           "params)  accumulate err %.1e  folded/KV-cache err %.1e\n",
           what, loss, lref, e_loss, e_logits, tab[worst_i].name, worst, ntab, np, e_accum, e_infer);

    free(tab), free(p), free(pf), free(logits), free(logits2), free(g1), free(g2), free(g3);
    free(zref), free(zgot), free(gref);
    dytcl_model_free(m);
}

static void run_config(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, unsigned long long seed)
{
    run_variant(ctx, arch, norm, seed, (variant){2, 0, 0, 0, 0});
}

int main(void)
{
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    const dytcl_arch arch[] = {DYTCL_ARCH_GPT, DYTCL_ARCH_LLAMA};
    const dytcl_norm_kind norm[] = {DYTCL_NORM_DYT, DYTCL_NORM_DERF, DYTCL_NORM_RMSNORM, DYTCL_NORM_LAYERNORM};
    for (int a = 0; a < 2; a++)
        for (int n = 0; n < 4; n++) run_config(ctx, arch[a], norm[n], 1234567ull + 100ull * (unsigned)(4 * a + n));
    /* grouped-query (4 query heads on 2 key/value heads) and multi-query
     * attention (on 1), llama's tied head and biases */
    run_variant(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_DYT, 98765ull, (variant){4, 2, 1, 1, 1});
    run_variant(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_RMSNORM, 98766ull, (variant){4, 1, 1, 0, 0});
    run_variant(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_RMSNORM, 98767ull, (variant){4, 2, 0, 1, 0});
    run_variant(ctx, DYTCL_ARCH_GPT, DYTCL_NORM_LAYERNORM, 98768ull, (variant){4, 2, 0, 0, 0});
    /* key/value heads must divide the query heads; the llama flags are llama's */
    dytcl_model_config bad = {0};
    bad.arch = DYTCL_ARCH_LLAMA, bad.norm = DYTCL_NORM_RMSNORM, bad.vocab = V, bad.max_seq = MAX_SEQ, bad.n_layer = 1;
    bad.n_head = 4, bad.d_model = 16, bad.n_kv_head = 3;
    dytcl_model_config_defaults(&bad);
    CHECK(dytcl_model_config_check(&bad) == DYTCL_ERR_INVALID_ARG && strstr(dytcl_last_error(NULL), "n_kv_head"),
          "n_kv_head 3 beside n_head 4 accepted (%s)", dytcl_last_error(NULL));
    bad.n_kv_head = 2, bad.arch = DYTCL_ARCH_GPT, bad.tie_embeddings = 1;
    CHECK(dytcl_model_config_check(&bad) == DYTCL_ERR_INVALID_ARG, "gpt with tie_embeddings set accepted");
    bad.arch = DYTCL_ARCH_LLAMA;
    CHECK(dytcl_model_config_check(&bad) == DYTCL_OK, "llama with 2 key/value heads and a tied head refused: %s",
          dytcl_last_error(NULL));
    dytcl_ctx_free(ctx);
    return check_done("test_model");
}
