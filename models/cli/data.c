/* data.c -- training data: text as bytes or a token file as tokens; load,
 * split, batches (see data.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#endif
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "tokfile.h"

#define DEFAULT_MAX_BYTES ((size_t)1 << 30)

struct text_data {
    uint8_t *bytes; /* train split, then val split: bytes of text, */
    uint32_t *tok;  /* or tokens (bytes NULL) */
    size_t n_train; /* in bytes or tokens */
    size_t n_val;
};

/* Token i of the data (train split, then val split). */
static int32_t at(const text_data *d, size_t i) { return d->tok ? (int32_t)d->tok[i] : d->bytes[i]; }

/* Checks the arguments and the split sizes of n bytes; 0 when usable. */
static int check_split(const char *name, size_t n, double val_fraction, int T, size_t *n_val, char *err,
                       size_t cap)
{
    if (!(val_fraction > 0.0 && val_fraction <= 0.5))
        return (snprintf(err, cap, "%s: val_fraction %g is outside (0, 0.5]", name, val_fraction), -1);
    if (T < 1) return (snprintf(err, cap, "%s: T = %d, needs T >= 1", name, T), -1);
    size_t v = (size_t)floor((double)n * val_fraction);
    size_t need = (size_t)T + 1;
    if (n - v < need || v < need)
        return (snprintf(err, cap,
                    "%s: %zu bytes give a train split of %zu and a val split of %zu bytes "
                    "(val_fraction %g); each needs at least T+1 = %zu",
                    name, n, n - v, v, val_fraction, need), -1);
    *n_val = v;
    return 0;
}

static text_data *make(uint8_t *bytes, size_t n, size_t n_val)
{
    text_data *d = malloc(sizeof *d);
    if (!d) return NULL;
    d->bytes = bytes;
    d->tok = NULL;
    d->n_train = n - n_val;
    d->n_val = n_val;
    return d;
}

int text_data_from_memory(const uint8_t *bytes, size_t n, double val_fraction, int T, text_data **out, char *err,
                          size_t cap)
{
    const char *name = "<memory>";
    *out = NULL;
    if (n > DEFAULT_MAX_BYTES)
        return (snprintf(err, cap, "%s: %zu bytes, more than the limit of %zu (1 GiB)", name, n, DEFAULT_MAX_BYTES), -1);
    if (!bytes && n) return (snprintf(err, cap, "%s: NULL bytes with n = %zu", name, n), -1);
    size_t n_val = 0;
    if (check_split(name, n, val_fraction, T, &n_val, err, cap)) return -1;
    uint8_t *copy = malloc(n);
    if (!copy) return (snprintf(err, cap, "%s: out of memory for %zu bytes", name, n), -1);
    memcpy(copy, bytes, n);
    text_data *d = make(copy, n, n_val);
    if (!d) {
        free(copy);
        return (snprintf(err, cap, "%s: out of memory", name), -1);
    }
    *out = d;
    return 0;
}

/* Reads exactly n bytes of f into a new block; NULL on a short read or no memory. */
static uint8_t *read_all(FILE *f, size_t n)
{
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return NULL;
    if (fread(buf, 1, n, f) != n || fgetc(f) != EOF) {
        free(buf);
        return NULL;
    }
    return buf;
}

int data_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *n, char *err, size_t cap)
{
    *out = NULL, *n = 0;
    if (!path) return (snprintf(err, cap, "text data: NULL path"), -1);
    if (max_bytes == 0) max_bytes = DEFAULT_MAX_BYTES;
    struct stat st; /* a FIFO would block open() until a writer came: refused before opening */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return (snprintf(err, cap, "%s: %s, not a regular file", path,
                    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : "a special file"), -1);
    FILE *f = fopen(path, "rb");
    if (!f) return (snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno)), -1);
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return (snprintf(err, cap, "%s: cannot stat: %s", path, strerror(e)), -1);
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return (snprintf(err, cap, "%s: %s, not a regular file", path,
                    S_ISDIR(st.st_mode) ? "a directory" : "a special file"), -1);
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > max_bytes) {
        fclose(f);
        return (snprintf(err, cap, "%s: %jd bytes, more than max_bytes = %zu", path, (intmax_t)st.st_size, max_bytes), -1);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *bytes = read_all(f, len);
    int read_err = ferror(f);
    fclose(f);
    if (!bytes)
        return (snprintf(err, cap, "%s: cannot read %zu bytes%s", path, len,
                    read_err ? " (read error)" : " (out of memory, or the file changed size)"), -1);
    *out = bytes, *n = len;
    return 0;
}

int text_data_load(const char *path, double val_fraction, int T, size_t max_bytes, text_data **out, char *err,
                   size_t cap)
{
    *out = NULL;
    uint8_t *bytes;
    size_t n, n_val = 0;
    if (data_read_file(path, max_bytes, &bytes, &n, err, cap)) return -1;
    if (check_split(path, n, val_fraction, T, &n_val, err, cap)) {
        free(bytes);
        return -1;
    }
    text_data *d = make(bytes, n, n_val);
    if (!d) {
        free(bytes);
        return (snprintf(err, cap, "%s: out of memory", path), -1);
    }
    *out = d;
    return 0;
}

int text_data_is_token_file(const char *path)
{
    uint8_t head[4];
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return tokfile_has_magic(head, got);
}

/* Data of n tokens (taken over) split as text_data_load splits bytes. */
static int from_tokens(const char *name, uint32_t *tok, size_t n, double val_fraction, int T, text_data **out,
                       char *err, size_t cap)
{
    size_t n_val = 0;
    if (check_split(name, n, val_fraction, T, &n_val, err, cap)) {
        free(tok);
        return -1;
    }
    text_data *d = make(NULL, n, n_val);
    if (!d) {
        free(tok);
        return (snprintf(err, cap, "%s: out of memory", name), -1);
    }
    d->tok = tok;
    *out = d;
    return 0;
}

int text_data_load_tokens(const char *path, int vocab, double val_fraction, int T, size_t max_bytes,
                          text_data **out, char *err, size_t cap)
{
    *out = NULL;
    uint8_t *bytes;
    size_t n, count;
    uint32_t *tok;
    if (vocab < 1) return (snprintf(err, cap, "%s: vocabulary size %d", path ? path : "(null)", vocab), -1);
    if (data_read_file(path, max_bytes, &bytes, &n, err, cap)) return -1;
    int bad = tokfile_parse(bytes, n, path, (uint32_t)vocab, &tok, &count, err, cap);
    free(bytes);
    if (bad) return -1;
    return from_tokens(path, tok, count, val_fraction, T, out, err, cap);
}

int text_data_from_tokens(const int32_t *tokens, size_t n, int vocab, double val_fraction, int T, text_data **out,
                          char *err, size_t cap)
{
    const char *name = "<tokens>";
    *out = NULL;
    if (n > DEFAULT_MAX_BYTES) return (snprintf(err, cap, "%s: %zu tokens, more than the limit of %zu", name, n, DEFAULT_MAX_BYTES), -1);
    uint32_t *tok = malloc(n ? n * sizeof *tok : 1);
    if (!tok) return (snprintf(err, cap, "%s: out of memory for %zu tokens", name, n), -1);
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= vocab) {
            free(tok);
            return (snprintf(err, cap, "%s: token %zu is %d, outside the vocabulary of %d", name, i, tokens[i], vocab), -1);
        }
        tok[i] = (uint32_t)tokens[i];
    }
    return from_tokens(name, tok, n, val_fraction, T, out, err, cap);
}

void text_data_free(text_data *d)
{
    if (!d) return;
    free(d->bytes);
    free(d->tok);
    free(d);
}

size_t text_data_size(const text_data *d, int split)
{
    if (!d) return 0;
    return split == 0 ? d->n_train : split == 1 ? d->n_val : 0;
}

/* Uniform in [0, n), n >= 1: rejects the top partial range, so no modulo bias. */
static uint64_t rng_below(uint64_t *state, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* a multiple of n: [0, limit) maps evenly */
    uint64_t x;
    do x = dytcl_rng_next(state);
    while (x >= limit);
    return x % n;
}

/* One row of a batch: tokens of the data from src to src+len-1, targets
 * src+1 .. src+len, and the positions from len to T-1 ignored. len <= T;
 * the data has len+1 tokens from src. */
static void fill_row(const text_data *d, size_t src, size_t len, int T, int32_t *tokens, int32_t *targets)
{
    for (size_t t = 0; t < (size_t)T; t++) {
        tokens[t] = t < len ? at(d, src + t) : 0;
        targets[t] = t < len ? at(d, src + t + 1) : -1;
    }
}

void text_data_train_batch(const text_data *d, int B, int T, uint64_t *rng, int32_t *tokens, int32_t *targets)
{
    if (B < 1 || T < 1) return;
    for (int b = 0; b < B; b++) {
        int32_t *tk = tokens + (size_t)b * T, *tg = targets + (size_t)b * T;
        if (d->n_train < (size_t)T + 1) {
            fill_row(d, 0, 0, T, tk, tg);
            continue;
        }
        uint64_t off = rng_below(rng, (uint64_t)(d->n_train - (size_t)T));
        fill_row(d, (size_t)off, (size_t)T, T, tk, tg);
    }
}

/* Windows in the val split: one per T targets, the last maybe partial. */
static size_t val_windows(const text_data *d, int T)
{
    if (d->n_val < 2 || T < 1) return 0;
    return (d->n_val - 1 + (size_t)T - 1) / (size_t)T;
}

int text_data_val_batches(const text_data *d, int B, int T)
{
    if (B < 1 || T < 1) return 0;
    size_t n = (val_windows(d, T) + (size_t)B - 1) / (size_t)B;
    return n > (size_t)INT_MAX ? INT_MAX : (int)n;
}

void text_data_val_batch(const text_data *d, int i, int B, int T, int32_t *tokens, int32_t *targets)
{
    if (B < 1 || T < 1) return;
    size_t windows = val_windows(d, T), n_targets = d->n_val ? d->n_val - 1 : 0;
    int valid_i = i >= 0 && i < text_data_val_batches(d, B, T);
    for (int b = 0; b < B; b++) {
        int32_t *tk = tokens + (size_t)b * T, *tg = targets + (size_t)b * T;
        size_t w = (size_t)i * (size_t)B + (size_t)b;
        if (!valid_i || w >= windows) {
            fill_row(d, 0, 0, T, tk, tg);
            continue;
        }
        size_t start = w * (size_t)T, len = n_targets - start;
        fill_row(d, d->n_train + start, len < (size_t)T ? len : (size_t)T, T, tk, tg);
    }
}
