/* sample.c -- temperature / top-k / top-p sampling over one
 * logits row, and generation: a prompt, then one sampled token at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct {
    float p;
    int id;
} prob;

/* Descending probability; ties: the lower id first. */
static int by_prob(const void *a, const void *b)
{
    const prob *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

/* The pick, with q [V] of scratch. */
static int pick(const float *logits, int V, const dytcl_sampling *o, uint64_t *rng, prob *q)
{
    if (o->temperature <= 0) return argmax(logits, V);
    float mx = logits[argmax(logits, V)];
    for (int i = 0; i < V; i++) q[i].p = expf((logits[i] - mx) / o->temperature), q[i].id = i;
    qsort(q, (size_t)V, sizeof *q, by_prob);
    /* keep the top k, then the smallest prefix whose mass reaches top_p */
    int keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    double total = 0, mass = 0;
    for (int i = 0; i < V; i++) total += q[i].p;
    for (int i = 0; i < keep; i++) {
        mass += q[i].p / total;
        if (o->top_p > 0 && o->top_p < 1 && mass >= o->top_p) {
            keep = i + 1;
            break;
        }
    }
    mass = 0;
    for (int i = 0; i < keep; i++) mass += q[i].p;
    double u = (double)(dytcl_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) * mass;
    for (int i = 0; i < keep; i++) {
        u -= q[i].p;
        if (u < 0) return q[i].id;
    }
    return q[keep - 1].id;
}

dytcl_status dytcl_sample(const float *logits, int V, const dytcl_sampling *s, uint64_t *rng, int32_t *token)
{
    if (!logits || V < 1 || !rng || !token)
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_sample: needs logits, V >= 1, rng and token");
    dytcl_status st = dy_gate_sampling(NULL, __func__, s);
    if (st) return st;
    prob *q = malloc((size_t)V * sizeof *q);
    if (!q) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_sample: out of host memory (V = %d)", V);
    *token = pick(logits, V, s, rng, q);
    free(q);
    return DYTCL_OK;
}

/* ------------------------------------------------------------ generation */

/* The next token's logits [V] after seq[0..len): through the cache (only
 * the tokens not yet in it) or by a full forward pass. */
static dytcl_status next_logits(dytcl_model *m, int use_cache, const int32_t *seq, int len, int *cached, float *logits)
{
    if (use_cache) {
        dytcl_status s = dytcl_model_decode(m, seq + *cached, len - *cached, *cached, logits);
        if (!s) *cached = len;
        return s;
    }
    const int V = m->c.vocab;
    float *all = malloc((size_t)len * V * sizeof(float));
    if (!all) return dy_model_fail(m, DYTCL_ERR_HOST_MEMORY, "dytcl_model_generate: out of host memory");
    dytcl_status s = dytcl_model_set_batch(m, 1, len);
    if (!s) s = dytcl_model_forward(m, seq, NULL);
    if (!s) s = dytcl_model_read_logits(m, all);
    if (!s) memcpy(logits, all + (size_t)(len - 1) * V, (size_t)V * sizeof(float));
    free(all);
    return s;
}

dytcl_status dytcl_model_generate(dytcl_model *m, const int32_t *prompt, int n_prompt, int n_new,
                                  const dytcl_sampling *s, int use_cache, dytcl_token_fn fn, void *user)
{
    dytcl_status st = dy_gate(m, __func__, DY_NEED_LM);
    if (!st) st = dy_gate_ptr(m, __func__, prompt, "prompt");
    if (!st) st = dy_gate_sampling(m->ctx, __func__, s);
    if (st) return st;
    const int max = m->c.max_seq, V = m->c.vocab;
    if (n_prompt < 1 || n_prompt > max || n_new < 0)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG,
                             "dytcl_model_generate: the prompt has %d tokens (1 to max_seq %d fit), n_new %d (>= 0)",
                             n_prompt, max, n_new);
    /* generate runs its own decoding session (or full passes, which decoding refuses) */
    if ((st = dy_gate(m, __func__, DY_NEED_IDLE)) || (st = dy_gate_ids(m, __func__, "prompt", prompt, (size_t)n_prompt, 0)))
        return st;
    int32_t *seq = malloc((size_t)max * sizeof *seq);
    float *logits = malloc((size_t)V * sizeof *logits);
    prob *q = malloc((size_t)V * sizeof *q);
    st = DYTCL_ERR_HOST_MEMORY;
    if (!seq || !logits || !q) {
        dy_model_fail(m, st, "dytcl_model_generate: out of host memory");
        goto done;
    }
    memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    if (use_cache && (st = dytcl_model_decode_begin(m))) goto done;
    uint64_t rng = s->seed;
    int len = n_prompt, cached = 0;
    st = DYTCL_OK;
    for (int i = 0; i < n_new && !st; i++) {
        if (len == max) { /* slide: keep the last half as the new context, read it again */
            int keep = max / 2;
            memmove(seq, seq + len - keep, (size_t)keep * sizeof *seq);
            len = keep, cached = 0;
        }
        if ((st = next_logits(m, use_cache, seq, len, &cached, logits))) break;
        int32_t tok = pick(logits, V, s, &rng, q);
        seq[len++] = tok;
        if (fn && fn(tok, user)) break;
    }
    if (use_cache) dytcl_model_decode_end(m);
done:
    free(seq), free(logits), free(q);
    return st;
}
