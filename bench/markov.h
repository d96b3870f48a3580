/* markov.h -- a random first-order Markov chain over a few byte symbols,
 * for tests that train on text whose best possible loss is known: the
 * chain's entropy rate (nats per byte) is the cross-entropy a perfect
 * next-byte model reaches. Float64 throughout, deterministic from seeds. */
#ifndef DYTCL_MARKOV_H
#define DYTCL_MARKOV_H

#include <stddef.h>
#include <stdint.h>

#define MARKOV_MAX_STATES 26

/* State i is the byte 'a' + i. P[i][j] = P(next = j | current = i). */
typedef struct {
    int n;
    double P[MARKOV_MAX_STATES][MARKOV_MAX_STATES];
    double pi[MARKOV_MAX_STATES]; /* the stationary distribution */
} markov_chain;

/* A chain of n_states (2..MARKOV_MAX_STATES) states from seed: each row
 * keeps the edge to the next state (i+1 mod n, so the chain is irreducible)
 * and each other edge with probability 1/2, with weights u^3 (u uniform in
 * (0,1]) normalised, so rows are sparse and skewed. Solves for pi.
 * Returns 0, or -1 for a bad n_states. */
int markov_init(markov_chain *m, int n_states, uint64_t seed);

/* The byte of state i, and the state of a byte (-1 if none). */
uint8_t markov_byte(int state);
int markov_state(const markov_chain *m, uint8_t byte);

/* N bytes from seed: the first state drawn from pi, then the chain. */
void markov_sample(const markov_chain *m, uint64_t seed, size_t N, uint8_t *out);

/* H = -sum_i pi_i sum_j P_ij log P_ij, nats per byte. */
double markov_entropy_rate(const markov_chain *m);

/* max_j |sum_i pi_i P_ij - pi_j|: how stationary pi is (~1e-16). */
double markov_stationary_residual(const markov_chain *m);

/* -1/(N-1) sum_t log P(bytes[t+1] | bytes[t]): the empirical conditional
 * cross-entropy of a sequence under the chain (+inf for a byte outside the
 * alphabet or an impossible transition; 0 when N < 2). */
double markov_cross_entropy(const markov_chain *m, const uint8_t *bytes, size_t N);

#endif
