/* rng.c -- splitmix64, the one generator behind initialisation, sampling
 * and the program's data order: the same numbers on every machine. Plain C
 * (the data loader's fuzz target builds it alone). */
#include "dytcl_model.h"

uint64_t dytcl_rng_next(uint64_t *state)
{
    if (!state) return 0;
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
