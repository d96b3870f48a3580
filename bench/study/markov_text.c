/* markov_text.c -- writes text from a random first-order Markov chain
 * (bench/markov.h) for training runs whose best loss is known, and prints
 * that loss: the chain's entropy rate, nats per byte.
 *
 *   study_markov_text OUT BYTES STATES SEED     e.g. markov.txt 204800 20 1
 *
 * The file is the chain's bytes ('a' + state); a model that learnt the
 * chain exactly reaches the entropy rate (plus the sampling noise of the
 * validation split, which the program also prints: the chain's own
 * cross-entropy on the last 10% of the file, dytcl train's default split). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "markov.h"

static int number(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s || errno || v < lo || v > hi) return -1;
    return *out = v, 0;
}

int main(int argc, char **argv)
{
    long long n, states, seed;
    if (argc != 5 || number(argv[2], 16, 1LL << 30, &n) || number(argv[3], 2, MARKOV_MAX_STATES, &states) ||
        number(argv[4], 0, 1LL << 62, &seed)) {
        fprintf(stderr, "usage: study_markov_text OUT BYTES(16..2^30) STATES(2..%d) SEED\n", MARKOV_MAX_STATES);
        return 2;
    }
    markov_chain m;
    uint8_t *buf = malloc((size_t)n);
    if (!buf || markov_init(&m, (int)states, (uint64_t)seed)) {
        fprintf(stderr, "study_markov_text: out of memory or bad chain\n");
        free(buf);
        return 1;
    }
    markov_sample(&m, (uint64_t)seed + 1, (size_t)n, buf);
    FILE *f = fopen(argv[1], "wb");
    int bad = !f || fwrite(buf, 1, (size_t)n, f) != (size_t)n;
    if (f && fclose(f)) bad = 1;
    if (bad) {
        fprintf(stderr, "study_markov_text: cannot write %s\n", argv[1]);
        free(buf);
        return 1;
    }
    size_t val = (size_t)(n / 10);
    printf("entropy_rate %.6f\nval_cross_entropy %.6f\n", markov_entropy_rate(&m),
           markov_cross_entropy(&m, buf + n - val, val));
    free(buf);
    return 0;
}
