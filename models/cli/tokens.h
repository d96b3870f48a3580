/* tokens.h -- the tokenizer as the program's commands use it (the library's
 * dytcl_tokenizer.h): read from its file, carried inside a checkpoint, and
 * the bytes each token stands for (bits per byte).
 *
 * A checkpoint trained on tokens carries its tokenizer whole (metadata
 * "tokenizer": the .model or tokenizer.json in base64, "tokenizer_vocab"
 * its size; dytcl_tokenizer.h). Whole rather than a path and a hash: a
 * checkpoint copied to another machine still generates text, and a
 * tokenizer is small (a 4096-token SentencePiece model: about 60 KB). A
 * checkpoint without "tokenizer" is byte-level (V = 256, token = byte). */
#ifndef DYTCL_CLI_TOKENS_H
#define DYTCL_CLI_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl_model.h"
#include "dytcl_tokenizer.h"

/* A subword tokenizer, or tk NULL: bytes. */
typedef struct {
    dytcl_tokenizer *tk;
} tokens_model;

/* Reads the tokenizer file at path (.model or tokenizer.json). 0, or -1 and
 * err naming the file. */
int tokens_load_file(const char *path, tokens_model *out, char *err, size_t cap);
/* From a checkpoint's metadata (ckpt: its name for messages): out->tk NULL
 * when it has none (byte-level). 0, or -1 and err. */
int tokens_from_meta(const dytcl_meta *md, const char *ckpt, tokens_model *out, char *err, size_t cap);
/* Into md as "tokenizer" and "tokenizer_vocab". 0, or -1 when out of memory. */
int tokens_to_meta(const tokens_model *t, dytcl_meta *md);
void tokens_free(tokens_model *t);
/* The tokenizer of the model at path for a model of `vocab` ids: the
 * checkpoint's (md), else, when path is a Hugging Face directory holding
 * tokenizer.json, that file (GPT-2-style byte-level BPE only: any other kind
 * is refused, naming what it is), else none (bytes). A tokenizer with more
 * ids than the model is refused, naming both. 0, or -1 and err. */
int tokens_for_model(const char *path, const dytcl_meta *md, int vocab, tokens_model *out, char *err, size_t cap);

/* The bytes of text each token id 0..V-1 stands for, into out[V]: all 1
 * for byte-level (t NULL or t->tk NULL). */
void tokens_bytes_per_id(const tokens_model *t, int V, double *out);

#endif
