/* markov.c -- a random Markov chain whose entropy rate is known (see markov.h); the tests and the training study use it. */
#include <math.h>
#include <string.h>

#include "dytcl_model.h"
#include "markov.h"

/* Uniform doubles in (0, 1] from the data generator (splitmix64). */
static double mk_unit(uint64_t *s) { return ((dytcl_rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0); }

/* Index drawn from the n probabilities p (summing to ~1). */
static int mk_draw(const double *p, int n, uint64_t *s)
{
    double u = mk_unit(s), acc = 0;
    for (int j = 0; j < n; j++) {
        acc += p[j];
        if (u <= acc && p[j] > 0) return j;
    }
    for (int j = n - 1; j > 0; j--) /* rounding: the last possible state */
        if (p[j] > 0) return j;
    return 0;
}

static void random_row(double *row, int n, int i, uint64_t *s)
{
    double sum = 0;
    for (int j = 0; j < n; j++) {
        double u = mk_unit(s), keep = mk_unit(s);
        row[j] = (j == (i + 1) % n || keep <= 0.5) ? u * u * u : 0.0;
        sum += row[j];
    }
    for (int j = 0; j < n; j++) row[j] /= sum;
}

/* Solves pi (P - I) = 0 with sum pi = 1: the transposed system with its last
 * equation replaced by the sum, Gaussian elimination with partial pivoting. */
static void solve_stationary(markov_chain *m)
{
    int n = m->n;
    double A[MARKOV_MAX_STATES][MARKOV_MAX_STATES + 1];
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < n; c++) A[r][c] = r == n - 1 ? 1.0 : m->P[c][r] - (r == c);
        A[r][n] = r == n - 1 ? 1.0 : 0.0;
    }
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int r = k + 1; r < n; r++)
            if (fabs(A[r][k]) > fabs(A[p][k])) p = r;
        for (int c = 0; c <= n; c++) {
            double t = A[k][c];
            A[k][c] = A[p][c];
            A[p][c] = t;
        }
        for (int r = k + 1; r < n; r++) {
            double f = A[r][k] / A[k][k];
            for (int c = k; c <= n; c++) A[r][c] -= f * A[k][c];
        }
    }
    for (int k = n - 1; k >= 0; k--) {
        double x = A[k][n];
        for (int c = k + 1; c < n; c++) x -= A[k][c] * m->pi[c];
        m->pi[k] = x / A[k][k];
    }
}

int markov_init(markov_chain *m, int n_states, uint64_t seed)
{
    if (n_states < 2 || n_states > MARKOV_MAX_STATES) return -1;
    memset(m, 0, sizeof *m);
    m->n = n_states;
    uint64_t s = seed;
    for (int i = 0; i < n_states; i++) random_row(m->P[i], n_states, i, &s);
    solve_stationary(m);
    return 0;
}

uint8_t markov_byte(int state) { return (uint8_t)('a' + state); }

int markov_state(const markov_chain *m, uint8_t byte)
{
    int i = (int)byte - 'a';
    return i >= 0 && i < m->n ? i : -1;
}

void markov_sample(const markov_chain *m, uint64_t seed, size_t N, uint8_t *out)
{
    uint64_t s = seed;
    if (N == 0) return;
    int x = mk_draw(m->pi, m->n, &s);
    out[0] = markov_byte(x);
    for (size_t t = 1; t < N; t++) {
        x = mk_draw(m->P[x], m->n, &s);
        out[t] = markov_byte(x);
    }
}

double markov_entropy_rate(const markov_chain *m)
{
    double h = 0;
    for (int i = 0; i < m->n; i++) {
        double hi = 0;
        for (int j = 0; j < m->n; j++)
            if (m->P[i][j] > 0) hi -= m->P[i][j] * log(m->P[i][j]);
        h += m->pi[i] * hi;
    }
    return h;
}

double markov_stationary_residual(const markov_chain *m)
{
    double worst = 0;
    for (int j = 0; j < m->n; j++) {
        double x = -m->pi[j];
        for (int i = 0; i < m->n; i++) x += m->pi[i] * m->P[i][j];
        if (fabs(x) > worst) worst = fabs(x);
    }
    return worst;
}

double markov_cross_entropy(const markov_chain *m, const uint8_t *bytes, size_t N)
{
    if (N < 2) return 0;
    double sum = 0;
    for (size_t t = 0; t + 1 < N; t++) {
        int a = markov_state(m, bytes[t]), b = markov_state(m, bytes[t + 1]);
        if (a < 0 || b < 0 || m->P[a][b] <= 0) return INFINITY;
        sum -= log(m->P[a][b]);
    }
    return sum / (double)(N - 1);
}
