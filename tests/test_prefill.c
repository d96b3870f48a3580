/* test_prefill.c -- a prompt decoded at once against the same prompt one
 * token at a time (dytcl_model_decode with n tokens: the prompt's linear
 * layers as products of n rows and, from DECODE_PREFILL_MIN positions on
 * CPU devices, the many-query attention kernel attn_prefill_rows writing
 * the KV cache; against n single-token steps through attn_decode_rows and
 * the one-row products). Checked:
 *   - the logits of the prompt's last position, at once and in pieces
 *     (a prompt, then a second prompt after it: keys from the cache and from
 *     the new rows), within float tolerance of the token-by-token ones;
 *   - the generation that follows: greedy tokens equal and their logits
 *     within the same tolerance, so the cache a prompt wrote is the one the
 *     single steps write;
 *   - the gate: after a prompt only its last row's logits exist
 *     (dytcl_model_read_logits refused), after one token they do;
 * for LLaMA (RoPE, SwiGLU, grouped-query attention) with RMSNorm and with
 * DyT folded, and GPT with LayerNorm, with f32, f16 and q8 weights.
 *
 * Tolerance. The two paths sum in different orders (GEMM and matrix-vector
 * products, two attention kernels), so float32's rounding differs by a few
 * units in the last place per sum; half-width and q8 weights are the same
 * numbers on both paths. Measured on PoCL: at most 2.7e-7 relative. We
 * allow ||z_prompt - z_steps|| <= 3e-6 ||z_steps||: the keys a prompt
 * writes into the cache made 1 % too large give up to 3e-5 in the steps
 * after it (these random models attend almost evenly), a mask one off or a
 * row from the wrong position far more. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dev_util.h"
#include "dytcl_model.h"

enum { P = 37, GEN = 6, MAX_SEQ = 48 };
#define TOL 3e-6

static double logit_err(const float *got, const float *want, int V)
{
    double *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    for (int v = 0; v < V; v++) a[v] = got[v], b[v] = want[v];
    double e = rel_err(a, b, (size_t)V);
    free(a), free(b);
    return e;
}

static int argmax(const float *z, int V)
{
    int best = 0;
    for (int v = 1; v < V; v++) best = z[v] > z[best] ? v : best;
    return best;
}

/* Decodes prompt [P] in the pieces `cuts` (n_cuts lengths adding up to P;
 * NULL: one token at a time), then GEN greedy steps; the last prompt
 * position's logits into zp [V], the steps' tokens and logits into tok
 * [GEN], zg [GEN, V]. */
static void run(dytcl_model *m, const int32_t *prompt, const int *cuts, int n_cuts, float *zp, int32_t *tok, float *zg)
{
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    const int V = dytcl_model_get_config(m)->vocab;
    CHECK_OK(ctx, dytcl_model_decode_begin(m));
    int pos = 0;
    for (int i = 0; pos < P; i++) {
        const int n = cuts ? cuts[i] : 1;
        CHECK_OK(ctx, dytcl_model_decode(m, prompt + pos, n, pos, zp));
        pos += n;
        if (i + 1 >= (cuts ? n_cuts : P)) break;
    }
    CHECK(pos == P, "the pieces cover %d of %d positions", pos, P);
    const float *z = zp;
    for (int g = 0; g < GEN; g++) {
        tok[g] = argmax(z, V);
        CHECK_OK(ctx, dytcl_model_decode(m, &tok[g], 1, P + g, zg + (size_t)g * V));
        z = zg + (size_t)g * V;
    }
    dytcl_model_decode_end(m);
}

static void check_model(dytcl_model *m, const char *what)
{
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    const int V = dytcl_model_get_config(m)->vocab;
    int32_t prompt[P], tok_s[GEN], tok_p[GEN];
    for (int i = 0; i < P; i++) prompt[i] = (int32_t)((11 * i + 5) % V);
    float *zs = malloc((size_t)V * sizeof *zs), *zp = malloc((size_t)V * sizeof *zp);
    float *gs = malloc((size_t)GEN * V * sizeof *gs), *gp = malloc((size_t)GEN * V * sizeof *gp);
    double worst = 0;
    run(m, prompt, NULL, 0, zs, tok_s, gs); /* one token at a time */
    /* the whole prompt; two prompts (the second past a block boundary, from
     * a position inside a block); a short first prompt and a long second */
    static const int cuts[][3] = {{P, 0, 0}, {20, 17, 0}, {5, 16, 16}, {1, 36, 0}};
    static const int ncuts[] = {1, 2, 3, 2};
    for (int c = 0; c < 4; c++) {
        run(m, prompt, cuts[c], ncuts[c], zp, tok_p, gp);
        double e = logit_err(zp, zs, V);
        worst = fmax(worst, e);
        CHECK(e <= TOL, "%s, pieces %d+%d+%d: the prompt's last logits differ from token by token: %.3g > %g", what,
              cuts[c][0], cuts[c][1], cuts[c][2], e, TOL);
        for (int g = 0; g < GEN; g++) {
            CHECK(tok_p[g] == tok_s[g], "%s, pieces %d+%d+%d: generated token %d is %d, token by token %d", what,
                  cuts[c][0], cuts[c][1], cuts[c][2], g, (int)tok_p[g], (int)tok_s[g]);
            if (tok_p[g] != tok_s[g]) break;
            e = logit_err(gp + (size_t)g * V, gs + (size_t)g * V, V);
            worst = fmax(worst, e);
            CHECK(e <= TOL, "%s, pieces %d+%d+%d: logits of generated token %d: %.3g > %g", what, cuts[c][0],
                  cuts[c][1], cuts[c][2], g, e, TOL);
        }
    }
    printf("%s: largest relative difference %.2g\n", what, worst);
    /* the gate: a prompt's earlier rows have no logits; one token's row does */
    float *row = malloc((size_t)P * V * sizeof *row); /* room for every row, should the gate let them through */
    CHECK_OK(ctx, dytcl_model_decode_begin(m));
    CHECK_OK(ctx, dytcl_model_decode(m, prompt, 20, 0, zp));
    dytcl_status s = dytcl_model_read_logits(m, row);
    CHECK(s == DYTCL_ERR_CALL_ORDER, "%s: read_logits after a 20-token prompt gave %s, expected call order", what,
          dytcl_status_name(s));
    CHECK_OK(ctx, dytcl_model_decode(m, prompt + 20, 1, 20, zp));
    CHECK_OK(ctx, dytcl_model_read_logits(m, row));
    CHECK(memcmp(row, zp, (size_t)V * sizeof *row) == 0, "%s: read_logits after one token differs from decode's",
          what);
    dytcl_model_decode_end(m);
    free(zs), free(zp), free(gs), free(gp), free(row);
}

static void run_config(dytcl_ctx *ctx, dytcl_arch arch, dytcl_norm_kind norm, int heads, int kv_heads)
{
    dytcl_model_config c = {0};
    c.arch = arch, c.norm = norm, c.max_seq = MAX_SEQ, c.n_layer = 2, c.n_head = heads, c.n_kv_head = kv_heads;
    c.d_model = 64, c.vocab = 96;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL, *f = NULL;
    CHECK_OK(ctx, dytcl_model_create(ctx, &c, 3, &m));
    if (!m) return;
    if (norm == DYTCL_NORM_DYT) { /* as dytcl generate runs it */
        CHECK_OK(ctx, dytcl_model_fold(m, &f));
        dytcl_model_free(m);
        if (!(m = f)) return;
    }
    static const dytcl_dtype dts[] = {DYTCL_F32, DYTCL_F16, DYTCL_Q8};
    for (int d = 0; d < 3; d++) {
        char what[96];
        snprintf(what, sizeof what, "%s-%s, %d heads (%d kv), %s weights", dytcl_arch_name(arch),
                 dytcl_norm_kind_name(norm), heads, kv_heads ? kv_heads : heads, dytcl_dtype_name(dts[d]));
        CHECK_OK(ctx, dytcl_model_set_weight_dtype(m, dts[d]));
        check_model(m, what);
    }
    dytcl_model_free(m);
}

int main(void)
{
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    if (!ctx) return check_done("test_prefill");
    run_config(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_RMSNORM, 4, 2); /* head size 16, grouped-query attention */
    run_config(ctx, DYTCL_ARCH_LLAMA, DYTCL_NORM_DYT, 2, 0);     /* head size 32, folded */
    run_config(ctx, DYTCL_ARCH_GPT, DYTCL_NORM_LAYERNORM, 4, 0);
    dytcl_ctx_free(ctx);
    return check_done("test_prefill");
}
