/* test_data.c -- byte-level text data (models/data.c): split sizes, train
 * batches as windows of the train split drawn from a deterministic RNG,
 * validation batches covering the val split in order, refusals with a
 * message; and the test Markov chain (markov.c): its entropy rate against
 * the cross-entropy of a long sample. No device needed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data.h"
#include "markov.h"

static uint8_t *random_bytes(size_t n, unsigned long long seed)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)check_rand(&seed, 0, 256);
    return b;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    CHECK(fwrite(b, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

static void test_split_sizes(void)
{
    static const struct { size_t n; double vf; int T; size_t train, val; } cases[] = {
        {1000, 0.1, 8, 900, 100}, {1001, 0.1, 8, 901, 100}, {1000, 0.5, 8, 500, 500},
        {20, 0.5, 9, 10, 10},     {999, 0.01, 8, 990, 9},
    };
    uint8_t *b = random_bytes(2000, 1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        text_data *d = NULL;
        char err[256] = "";
        int rc = text_data_from_memory(b, cases[k].n, cases[k].vf, cases[k].T, &d, err, sizeof err);
        CHECK(rc == 0 && d, "case %zu refused: %s", k, err);
        if (!d) continue;
        CHECK(text_data_size(d, 0) == cases[k].train, "case %zu: train %zu, want %zu", k, text_data_size(d, 0),
              cases[k].train);
        CHECK(text_data_size(d, 1) == cases[k].val, "case %zu: val %zu, want %zu", k, text_data_size(d, 1),
              cases[k].val);
        CHECK(text_data_size(d, 2) == 0, "split 2");
        text_data_free(d);
    }
    free(b);
}

/* The offset of the T+1 window (tokens, last target) in bytes[0..n), or -1. */
static long find_window(const uint8_t *bytes, size_t n, int T, const int32_t *tk, const int32_t *tg)
{
    for (size_t o = 0; o + (size_t)T + 1 <= n; o++) {
        int ok = 1;
        for (int t = 0; t < T && ok; t++) ok = tk[t] == bytes[o + t] && tg[t] == bytes[o + t + 1];
        if (ok) return (long)o;
    }
    return -1;
}

static void test_train_batches(void)
{
    const size_t n = 5000;
    const int B = 6, T = 16;
    uint8_t *b = random_bytes(n, 2);
    text_data *d = NULL;
    char err[256] = "";
    CHECK(text_data_from_memory(b, n, 0.2, T, &d, err, sizeof err) == 0, "%s", err);
    if (!d) {
        free(b);
        return;
    }
    size_t n_train = text_data_size(d, 0);
    int32_t tk[6 * 16], tg[6 * 16], tk2[6 * 16], tg2[6 * 16];

    /* The generator is splitmix64, pinned: the first output from state 0. */
    uint64_t s0 = 0;
    CHECK(dytcl_rng_next(&s0) == 0xE220A8397B1DCDAFULL, "splitmix64(0) differs");

    uint64_t rng = 12345, rng2 = 12345;
    text_data_train_batch(d, B, T, &rng, tk, tg);
    CHECK(rng != 12345, "the rng state did not advance");
    text_data_train_batch(d, B, T, &rng2, tk2, tg2);
    CHECK(rng == rng2, "the same state advanced differently");
    CHECK(!memcmp(tk, tk2, sizeof tk) && !memcmp(tg, tg2, sizeof tg), "the same state gave another batch");
    /* Each row is a window of the train split: targets are the tokens shifted by one. */
    for (int r = 0; r < B; r++) {
        for (int t = 0; t + 1 < T; t++)
            CHECK(tg[r * T + t] == tk[r * T + t + 1], "row %d t %d: target is not the next token", r, t);
        CHECK(find_window(b, n_train, T, tk + r * T, tg + r * T) >= 0, "row %d is not a window of the train split", r);
    }
    /* The next batch (advanced state) differs. */
    text_data_train_batch(d, B, T, &rng, tk2, tg2);
    CHECK(memcmp(tk, tk2, sizeof tk) != 0, "two consecutive batches are equal");
    text_data_free(d);
    free(b);
}

/* Offsets are uniform over [0, n_train - T - 1], never past it. */
static void test_train_offsets_uniform(void)
{
    const size_t n = 40;
    const int T = 3;
    uint8_t b[40];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)i; /* the token is its offset */
    text_data *d = NULL;
    char err[256] = "";
    CHECK(text_data_from_memory(b, n, 0.5, T, &d, err, sizeof err) == 0, "%s", err);
    if (!d) return;
    const int n_off = 20 - T; /* train split 20 bytes */
    long count[40] = {0};
    const int draws = 170000;
    uint64_t rng = 99;
    for (int k = 0; k < draws; k++) {
        int32_t tk[3], tg[3];
        text_data_train_batch(d, 1, T, &rng, tk, tg);
        CHECK(tk[0] >= 0 && tk[0] < n_off, "offset %d outside [0, %d)", tk[0], n_off);
        if (tk[0] >= 0 && tk[0] < 40) count[tk[0]]++;
    }
    double expect = (double)draws / n_off, chi2 = 0;
    for (int o = 0; o < n_off; o++) chi2 += (count[o] - expect) * (count[o] - expect) / expect;
    /* 16 degrees of freedom: P(chi2 > 50) ~ 2e-5. */
    CHECK(chi2 < 50, "offsets not uniform: chi2 %.1f over %d offsets", chi2, n_off);
    /* A T longer than the train split: nothing drawn, every target ignored. */
    int32_t tk[2 * 25], tg[2 * 25];
    uint64_t before = rng;
    text_data_train_batch(d, 2, 25, &rng, tk, tg);
    int all_ignored = 1;
    for (int i = 0; i < 50; i++) all_ignored &= tk[i] == 0 && tg[i] == -1;
    CHECK(all_ignored && rng == before, "a too-long T was not ignored");
    text_data_free(d);
}

/* The val batches, concatenated, are the val split in order. */
static void check_val_cover(size_t n, double vf, int T_load, int B, int T)
{
    uint8_t *b = random_bytes(n, n * 31 + (size_t)T);
    text_data *d = NULL;
    char err[256] = "";
    CHECK(text_data_from_memory(b, n, vf, T_load, &d, err, sizeof err) == 0, "%s", err);
    if (!d) {
        free(b);
        return;
    }
    size_t n_train = text_data_size(d, 0), n_val = text_data_size(d, 1);
    const uint8_t *val = b + n_train;
    int nb = text_data_val_batches(d, B, T);
    size_t windows = (n_val - 1 + (size_t)T - 1) / (size_t)T;
    CHECK(nb == (int)((windows + (size_t)B - 1) / (size_t)B), "n=%zu B=%d T=%d: %d batches", n, B, T, nb);
    int32_t *tk = malloc(sizeof(int32_t) * (size_t)B * T), *tg = malloc(sizeof(int32_t) * (size_t)B * T);
    size_t next = 0; /* the val byte the next valid position must hold */
    int ended = 0, in_order = 1, tail_ignored = 1;
    for (int i = 0; i < nb; i++) {
        int32_t *tk2 = malloc(sizeof(int32_t) * (size_t)B * T), *tg2 = malloc(sizeof(int32_t) * (size_t)B * T);
        text_data_val_batch(d, i, B, T, tk, tg);
        text_data_val_batch(d, i, B, T, tk2, tg2);
        CHECK(!memcmp(tk, tk2, sizeof(int32_t) * (size_t)B * T) && !memcmp(tg, tg2, sizeof(int32_t) * (size_t)B * T),
              "val batch %d not deterministic", i);
        free(tk2);
        free(tg2);
        for (int p = 0; p < B * T; p++) {
            if (tg[p] == -1) {
                ended = 1;
                tail_ignored &= tk[p] == 0;
                continue;
            }
            if (ended || next + 1 >= n_val || tk[p] != val[next] || tg[p] != val[next + 1]) in_order = 0;
            next++;
        }
    }
    CHECK(in_order && tail_ignored, "n=%zu B=%d T=%d: val batches are not the val split in order", n, B, T);
    CHECK(next == n_val - 1, "n=%zu B=%d T=%d: %zu targets, want %zu", n, B, T, next, n_val - 1);
    /* Past the end: an all-ignored batch. */
    text_data_val_batch(d, nb, B, T, tk, tg);
    int all_ignored = 1;
    for (int p = 0; p < B * T; p++) all_ignored &= tk[p] == 0 && tg[p] == -1;
    CHECK(all_ignored, "batch %d past the end is not ignored", nb);
    free(tk);
    free(tg);
    text_data_free(d);
    free(b);
}

static void test_val_batches(void)
{
    check_val_cover(1000, 0.1, 8, 4, 8);   /* 99 targets: 13 windows, 4 batches, partial tail */
    check_val_cover(1000, 0.2, 8, 5, 8);   /* 199 targets: 25 windows, exactly 5 batches */
    check_val_cover(1001, 0.2, 4, 1, 4);   /* 199 targets, B = 1 */
    check_val_cover(300, 0.5, 149, 3, 149); /* 149 targets: one full window */
    check_val_cover(300, 0.5, 100, 2, 64); /* another T than at load */
}

/* A refusal: non-zero, *out NULL, a message holding every needle. */
static void expect_refused(int rc, text_data *d, const char *err, const char *what, const char *n1, const char *n2)
{
    CHECK(rc != 0, "%s: accepted", what);
    CHECK(d == NULL, "%s: a text_data came back", what);
    CHECK(err[0] != '\0', "%s: no message", what);
    CHECK(!n1 || strstr(err, n1), "%s: message '%s' lacks '%s'", what, err, n1);
    CHECK(!n2 || strstr(err, n2), "%s: message '%s' lacks '%s'", what, err, n2);
}

/* Runs a call that must refuse, with d and err reset first (the call sets them). */
#define REFUSED(call, what, n1, n2)                 \
    do {                                            \
        d = (text_data *)&d;                        \
        err[0] = 0;                                 \
        int rc_ = (call);                           \
        expect_refused(rc_, d, err, what, n1, n2);  \
    } while (0)

static void test_refusals(const char *dir)
{
    char path[512], missing[512], err[512];
    text_data *d = (text_data *)&d; /* must come back NULL */
    uint8_t *b = random_bytes(1000, 3);
    snprintf(path, sizeof path, "%s/text.bin", dir);
    snprintf(missing, sizeof missing, "%s/missing.txt", dir);
    write_file(path, b, 1000);

    /* A good file loads, the same as from memory. */
    err[0] = 0;
    CHECK(text_data_load(path, 0.1, 8, 0, &d, err, sizeof err) == 0 && d, "%s", err);
    if (d) {
        CHECK(text_data_size(d, 0) == 900 && text_data_size(d, 1) == 100, "file split sizes");
        int32_t tk[8], tg[8];
        text_data_val_batch(d, 0, 1, 8, tk, tg);
        int same = 1;
        for (int t = 0; t < 8; t++) same &= tk[t] == b[900 + t] && tg[t] == b[901 + t];
        CHECK(same, "the file's val split differs from its bytes");
        text_data_free(d);
    }
    CHECK(text_data_load(path, 0.1, 8, 1000, &d, err, sizeof err) == 0, "exactly max_bytes refused: %s", err);
    text_data_free(d);

    REFUSED(text_data_load(missing, 0.1, 8, 0, &d, err, sizeof err), "missing file", missing, NULL);
    REFUSED(text_data_load(dir, 0.1, 8, 0, &d, err, sizeof err), "directory", dir, "directory");
    REFUSED(text_data_load(path, 0.1, 8, 999, &d, err, sizeof err), "over max_bytes", path, "999");
    /* val split 100 bytes < T+1 = 101; train split 500 < 501 at val_fraction 0.5. */
    REFUSED(text_data_load(path, 0.1, 100, 0, &d, err, sizeof err), "short val split", path, "101");
    CHECK(strstr(err, "100") && strstr(err, "900"), "short val: sizes missing in '%s'", err);
    REFUSED(text_data_load(path, 0.5, 500, 0, &d, err, sizeof err), "short train split", path,
                   "501");
    /* Unreadable (not checkable as root, who reads anyway). */
    if (geteuid() != 0 && chmod(path, 0) == 0) {
        REFUSED(text_data_load(path, 0.1, 8, 0, &d, err, sizeof err), "unreadable file", path, NULL);
        chmod(path, 0644);
    }
    /* Bad arguments. */
    const double bad_vf[] = {0.0, -0.1, 0.51, 1.0, NAN};
    for (int k = 0; k < 5; k++) {
        REFUSED(text_data_load(path, bad_vf[k], 8, 0, &d, err, sizeof err), "bad val_fraction", path,
                       "val_fraction");
    }
    REFUSED(text_data_load(path, 0.1, 0, 0, &d, err, sizeof err), "T = 0", path, NULL);
    /* From memory: the same split checks. */
    REFUSED(text_data_from_memory(b, 1000, 0.1, 100, &d, err, sizeof err), "memory short val",
                   "100", "101");
    REFUSED(text_data_from_memory(b, 0, 0.1, 1, &d, err, sizeof err), "memory empty", NULL, NULL);
    REFUSED(text_data_from_memory(b, 1000, 0.7, 8, &d, err, sizeof err), "memory bad val_fraction",
                   "val_fraction", NULL);
    /* No message buffer: still refused, nothing written. */
    d = (text_data *)&d;
    CHECK(text_data_load(missing, 0.1, 8, 0, &d, NULL, 0) != 0 && d == NULL, "refusal without a message buffer");
    /* A tiny buffer: truncated, terminated. */
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(text_data_load(missing, 0.1, 8, 0, &d, small, sizeof small) != 0 && memchr(small, 0, sizeof small),
          "a small message buffer was not terminated");
    remove(path);
    free(b);
}

static void test_markov(void)
{
    markov_chain m;
    CHECK(markov_init(&m, 1, 1) != 0 && markov_init(&m, MARKOV_MAX_STATES + 1, 1) != 0, "bad n_states accepted");
    const int n_states = 16;
    const uint64_t seed = 2024;
    CHECK(markov_init(&m, n_states, seed) == 0, "markov_init");
    double sum = 0, min_pi = 1;
    int nonzero = 0;
    for (int i = 0; i < n_states; i++) {
        double row = 0;
        for (int j = 0; j < n_states; j++) row += m.P[i][j], nonzero += m.P[i][j] > 0;
        CHECK(fabs(row - 1) < 1e-12, "row %d sums to %.17g", i, row);
        sum += m.pi[i];
        if (m.pi[i] < min_pi) min_pi = m.pi[i];
    }
    CHECK(fabs(sum - 1) < 1e-12, "pi sums to %.17g", sum);
    CHECK(min_pi > 0, "pi has a non-positive entry %g", min_pi);
    double resid = markov_stationary_residual(&m);
    CHECK(resid < 1e-14, "pi P - pi = %g", resid);
    double H = markov_entropy_rate(&m);
    CHECK(H > 0.2 && H < 0.75 * log(n_states), "entropy rate %.4f not well below log(%d) = %.4f", H, n_states,
          log(n_states));

    const size_t N = 2000000;
    uint8_t *s = malloc(N), *s2 = malloc(N);
    markov_sample(&m, 7, N, s);
    markov_sample(&m, 7, 1000, s2);
    CHECK(!memcmp(s, s2, 1000), "the same seed gave another sample");
    double ce = markov_cross_entropy(&m, s, N);
    CHECK(fabs(ce - H) < 0.01 * H, "cross-entropy of the sample %.5f vs entropy rate %.5f", ce, H);
    /* The sample's state frequencies follow pi. */
    double freq_err = 0;
    long cnt[MARKOV_MAX_STATES] = {0};
    for (size_t t = 0; t < N; t++) cnt[markov_state(&m, s[t])]++;
    for (int i = 0; i < n_states; i++) freq_err = fmax(freq_err, fabs((double)cnt[i] / N - m.pi[i]));
    CHECK(freq_err < 0.005, "state frequencies differ from pi by %g", freq_err);
    uint8_t bad[3] = {'a', 'z', 'a'};
    CHECK(isinf(markov_cross_entropy(&m, bad, 3)), "a byte outside the alphabet has finite cross-entropy");

    /* Through text_data: the val split of a sample scores the entropy rate too. */
    text_data *d = NULL;
    char err[256] = "";
    CHECK(text_data_from_memory(s, N, 0.1, 64, &d, err, sizeof err) == 0, "%s", err);
    if (d) {
        size_t nv = text_data_size(d, 1);
        double ce_val = markov_cross_entropy(&m, s + text_data_size(d, 0), nv);
        CHECK(fabs(ce_val - H) < 0.02 * H, "val split cross-entropy %.5f vs %.5f", ce_val, H);
        text_data_free(d);
    }
    printf("markov: %d states, seed %llu, %d of %d edges, entropy rate %.6f nats (log %d = %.6f), "
           "sample cross-entropy %.6f over %zu bytes, |pi P - pi| %.1e\n",
           n_states, (unsigned long long)seed, nonzero, n_states * n_states, H, n_states, log(n_states), ce, N, resid);
    free(s);
    free(s2);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/dytcl-data-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp %s", dir);

    test_split_sizes();
    test_train_batches();
    test_train_offsets_uniform();
    test_val_batches();
    test_refusals(dir);
    test_markov();

    rmdir(dir);
    return check_done("test_data");
}
