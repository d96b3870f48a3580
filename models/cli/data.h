/* data.h -- data for training: a text file (or a memory block) read whole
 * as tokens 0..255, or a token file (tokfile.h) or a block of tokens of a
 * larger vocabulary, split into a training part and a validation part
 * (the last val_fraction of the bytes), and cut into batches of windows.
 *
 * Plain C11, no OpenCL: the one call it makes into the library is
 * dytcl_rng_next, the generator the model and sampling share. Errors come
 * back as a non-zero return and a message written into the caller's
 * err[cap] (cap 0: none, and err may be NULL).
 *
 * Sizes and offsets count tokens: bytes for text.
 *
 * A window of T+1 consecutive bytes w gives T positions: tokens[t] = w[t],
 * targets[t] = w[t+1]. Batches are B windows, row-major: [b*T + t].
 */
#ifndef DYTCL_DATA_H
#define DYTCL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl_model.h"

typedef struct text_data text_data;

/* Reads a whole file as bytes. The last floor(n * val_fraction) bytes are
 * the validation split, the rest training. val_fraction must lie in
 * (0, 0.5] and T >= 1. Refuses (non-zero return, message naming the path and
 * the sizes) a missing or unreadable path, a directory or any other file that
 * is not a regular file, a file larger than max_bytes (0 = 1 GiB), and a file
 * whose train split or val split is shorter than T+1 bytes. *out is NULL
 * after a refusal. */
int text_data_load(const char *path, double val_fraction, int T, size_t max_bytes, text_data **out, char *err,
                   size_t cap);

/* The same from n bytes in memory (copied; the caller keeps its block), with
 * the same checks: val_fraction, T, the split sizes, and n at most 1 GiB. */
int text_data_from_memory(const uint8_t *bytes, size_t n, double val_fraction, int T, text_data **out, char *err,
                          size_t cap);

/* The whole file at path, a regular file of at most max_bytes (0 = 1 GiB),
 * into *out (malloc'd, *n bytes). 0, or -1 and err naming the file. */
int data_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *n, char *err, size_t cap);

/* 1 when path is a regular file that starts with a token file's magic. */
int text_data_is_token_file(const char *path);

/* A token file (tokfile.h) whose tokens all lie in [0, vocab), split and
 * checked as text_data_load splits and checks bytes; its refusals name the
 * file and say what is wrong (magic, version, count against the file's
 * size, a token outside the vocabulary). */
int text_data_load_tokens(const char *path, int vocab, double val_fraction, int T, size_t max_bytes,
                          text_data **out, char *err, size_t cap);

/* The same from n tokens in memory (copied), each in [0, vocab). */
int text_data_from_tokens(const int32_t *tokens, size_t n, int vocab, double val_fraction, int T, text_data **out,
                          char *err, size_t cap);

void text_data_free(text_data *d);

/* Tokens (bytes of text) in a split: 0 train, 1 val (0 for any other split). */
size_t text_data_size(const text_data *d, int split);

/* B windows of T+1 bytes from the train split at offsets drawn uniformly
 * (without modulo bias) from *rng by dytcl_rng_next, which advances it: the same state gives the
 * same batch everywhere. tokens and targets hold B*T int32 each. T may
 * differ from the T the data was made with; if the train split is shorter
 * than T+1 nothing is drawn and every position is token 0, target -1.
 * B < 1 or T < 1 writes nothing. */
void text_data_train_batch(const text_data *d, int B, int T, uint64_t *rng, int32_t *tokens, int32_t *targets);

/* The validation split as consecutive windows: window k has tokens
 * val[k*T .. k*T+T-1] and targets val[k*T+1 .. k*T+T], so every val byte
 * but the first is a target exactly once, in order. The last window may be
 * partial and the last batch may have fewer than B windows: positions past
 * the end have token 0 and target -1 (ignored by the loss). To average over
 * the whole split weight each batch's mean loss by its count of targets
 * that are not -1. No RNG. */
int text_data_val_batches(const text_data *d, int B, int T);
/* Batch number i, 0 <= i < text_data_val_batches(d, B, T); any other i
 * gives an all-ignored batch (tokens 0, targets -1). */
void text_data_val_batch(const text_data *d, int i, int B, int T, int32_t *tokens, int32_t *targets);

#endif
