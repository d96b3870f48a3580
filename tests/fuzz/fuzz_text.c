/* fuzz_text.c -- libFuzzer target for the byte-level text data: the first
 * four bytes choose the load T, val_fraction (also outside (0, 0.5]), the
 * batch B and T; the rest is the text. A refusal hands out nothing and says
 * why; an acceptance splits the bytes exactly, its train batches are
 * windows of the train split (targets the tokens shifted by one), and its
 * val batches are the val split in order.
 * Build and run: `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

static int32_t *ints(size_t n) { return malloc(n * sizeof(int32_t)); }

/* 1 when row (T tokens, T targets) is the window train[o..o+T] for some o. */
static int in_train(const uint8_t *train, size_t n_train, int T, const int32_t *tk, const int32_t *tg)
{
    for (size_t o = 0; o + (size_t)T < n_train; o++) {
        int t = 0;
        while (t < T && tk[t] == train[o + t] && tg[t] == train[o + t + 1]) t++;
        if (t == T) return 1;
    }
    return 0;
}

static void check_train(const text_data *d, const uint8_t *train, int B, int T, uint64_t seed)
{
    int32_t *tk = ints((size_t)B * T), *tg = ints((size_t)B * T);
    uint64_t a = seed, b = seed;
    text_data_train_batch(d, B, T, &a, tk, tg);
    for (int p = 0; p < B * T; p++) {
        if (tg[p] == -1) {
            if (tk[p] != 0 || text_data_size(d, 0) >= (size_t)T + 1) __builtin_trap();
            continue;
        }
        if (tk[p] < 0 || tk[p] > 255 || tg[p] < 0 || tg[p] > 255) __builtin_trap();
        if (p % T + 1 < T && tg[p] != tk[p + 1]) __builtin_trap(); /* targets: tokens shifted */
        if (p % T == 0 && !in_train(train, text_data_size(d, 0), T, tk + p, tg + p)) __builtin_trap();
    }
    int32_t *tk2 = ints((size_t)B * T), *tg2 = ints((size_t)B * T);
    text_data_train_batch(d, B, T, &b, tk2, tg2);
    if (a != b || memcmp(tk, tk2, (size_t)B * T * 4) || memcmp(tg, tg2, (size_t)B * T * 4)) __builtin_trap();
    free(tk), free(tg), free(tk2), free(tg2);
}

/* Every val batch, concatenated, is val[0..n-2] -> val[1..n-1], then ignored positions. */
static void check_val(const text_data *d, const uint8_t *val, int B, int T)
{
    size_t n_val = text_data_size(d, 1), next = 0;
    int nb = text_data_val_batches(d, B, T);
    int32_t *tk = ints((size_t)B * T), *tg = ints((size_t)B * T);
    for (int i = -1; i <= nb; i++) {
        text_data_val_batch(d, i, B, T, tk, tg);
        int outside = i < 0 || i == nb;
        for (int p = 0; p < B * T; p++) {
            if (tg[p] == -1) {
                if (tk[p] != 0) __builtin_trap();
                continue;
            }
            if (outside || next + 1 >= n_val || tk[p] != val[next] || tg[p] != val[next + 1]) __builtin_trap();
            next++;
        }
    }
    if (next != n_val - 1) __builtin_trap();
    free(tk), free(tg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int T_load = 1 + data[0] % 32, B = 1 + data[2] % 4, T = 1 + data[3] % 40;
    double vf = data[1] / 500.0; /* 0 .. 0.51: the ends refuse */
    const uint8_t *text = data + 4;
    size_t n = size - 4;

    char err[128];
    memset(err, 'x', sizeof err);
    text_data *d = (text_data *)&d;
    if (text_data_from_memory(text, n, vf, T_load, &d, err, sizeof err) != 0) {
        if (d || !memchr(err, 0, sizeof err) || !err[0]) __builtin_trap(); /* nothing out, a message */
        return 0;
    }
    size_t n_train = text_data_size(d, 0), n_val = text_data_size(d, 1);
    if (n_train + n_val != n || n_val < (size_t)T_load + 1 || n_train < (size_t)T_load + 1) __builtin_trap();
    if (n_val > n_train) __builtin_trap(); /* val_fraction <= 0.5 */
    uint64_t seed = 0;
    memcpy(&seed, data, 4);
    check_train(d, text, B, T, seed);
    check_val(d, text + n_train, B, T);
    text_data_free(d);
    return 0;
}
