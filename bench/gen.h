/* gen.h -- the random inputs of the benchmarks and the op tests: a
 * deterministic uniform draw (xorshift64*) and the generators an op case
 * names for each input (tests/op_harness.h). Header-only and here, below
 * the tests, so that the benchmarks (built into the dytcl program) and the
 * tests draw their inputs the same way. */
#ifndef DYTCL_GEN_H
#define DYTCL_GEN_H

#include <stddef.h>

/* Uniform in [lo, hi), advancing *state (never 0). */
static inline double op_rand(unsigned long long *state, double lo, double hi)
{
    unsigned long long x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return lo + (hi - lo) * ((x * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* How an input's elements are drawn. */
typedef enum {
    OP_UNIFORM, /* uniform in [lo, hi) */
    OP_EDGES,   /* uniform, with every 8th element in turn 0, -0, lo and hi (saturated ends) */
    OP_CONST,   /* every element lo */
    OP_TINY,    /* uniform, the first three 0, -0 and 1e-8 (zeros and a tiny value) */
} op_gen;

/* n values drawn by gen from [lo, hi), each rounded through float, so that
 * a float64 reference sees exactly what the device sees. */
static inline void op_fill(double *v, size_t n, op_gen gen, double lo, double hi, unsigned long long *rng)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = gen == OP_CONST ? lo : op_rand(rng, lo, hi);
        if (gen == OP_EDGES && i % 8 == 7) {
            const double edge[4] = {0.0, -0.0, lo, hi};
            v[i] = edge[(i / 8) % 4];
        }
        if (gen == OP_TINY && i < 3 && n > 3) v[i] = i == 0 ? 0.0 : i == 1 ? -0.0 : 1e-8;
        v[i] = (float)v[i];
    }
}

#endif
