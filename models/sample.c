/* sample.c -- temperature, top-k and top-p sampling over one logits row. */
#include <math.h>
#include <stdlib.h>

#include "data.h"
#include "sample.h"

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

int sample_token(const float *logits, int V, const sample_opts *o, uint64_t *rng, float *work)
{
    if (o->temperature <= 0) return argmax(logits, V);
    prob *q = (prob *)work; /* 2V floats hold V pairs */
    float mx = logits[argmax(logits, V)];
    for (int i = 0; i < V; i++) q[i].p = expf((logits[i] - mx) / o->temperature), q[i].id = i;
    qsort(q, (size_t)V, sizeof *q, by_prob);
    /* keep the top k, then the smallest prefix whose mass reaches top_p */
    int keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    double total = 0, mass = 0;
    for (int i = 0; i < V; i++) total += q[i].p;
    for (int i = 0; i < keep; i++) {
        mass += q[i].p / total;
        if (o->top_p < 1 && mass >= o->top_p) {
            keep = i + 1;
            break;
        }
    }
    mass = 0;
    for (int i = 0; i < keep; i++) mass += q[i].p;
    double u = (double)(text_data_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) * mass;
    for (int i = 0; i < keep; i++) {
        u -= q[i].p;
        if (u < 0) return q[i].id;
    }
    return q[keep - 1].id;
}
