/* sample.h -- picking the next token from logits: temperature, top-k,
 * top-p (nucleus), from a seeded generator (the same picks everywhere). */
#ifndef DYTCL_SAMPLE_H
#define DYTCL_SAMPLE_H

#include <stdint.h>

typedef struct {
    float temperature;  /* 0: the most likely token (greedy) */
    int top_k;          /* 0: no limit */
    float top_p;        /* 1: no limit */
} sample_opts;

/* logits [V]; work [2V] floats of scratch. Advances *rng. */
int sample_token(const float *logits, int V, const sample_opts *o, uint64_t *rng, float *work);

#endif
