/* tokenizer.h -- a subword tokenizer for the `dytcl` program: SentencePiece
 * (BPE or unigram) behind a small C interface, so the rest of the program
 * stays C11. The implementation is tokenizer.cc (C++, linked with
 * libsentencepiece) or, in a build without SentencePiece, tokenizer_none.c,
 * whose calls all fail saying so.
 *
 * Tokenizers trained here are lossless on UTF-8 text: no normalisation, no
 * added or removed spaces, and bytes outside the vocabulary fall back to
 * one token per byte, so decode(encode(text)) is the text itself. (Not so
 * for invalid UTF-8, which SentencePiece replaces, nor U+2581, its own mark
 * for a space: tok_encode refuses both, naming the offset.)
 *
 * Errors: a non-zero return and a message in err[cap] (err may be NULL). */
#ifndef DYTCL_TOKENIZER_H
#define DYTCL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tokenizer tokenizer;

/* 1 when this build has SentencePiece. */
int tok_available(void);

/* Trains a tokenizer of `vocab` tokens on text[0..n) (its lines are the
 * training sentences) and writes the model (a SentencePiece .model,
 * serialised protobuf) into *model (malloc'd, *model_len bytes). type is
 * "bpe" or "unigram". Deterministic: one thread, every sentence used. */
int tok_train(const char *text, size_t n, int vocab, const char *type, uint8_t **model, size_t *model_len,
              char *err, size_t cap);

/* A tokenizer from a .model file's bytes; name is the file's name for messages. */
int tok_load(const uint8_t *model, size_t len, const char *name, tokenizer **out, char *err, size_t cap);
void tok_free(tokenizer *t);

/* The number of token ids, V. */
int tok_vocab(const tokenizer *t);

/* text[0..n) as ids into *ids (malloc'd, *count of them). */
int tok_encode(const tokenizer *t, const char *text, size_t n, int32_t **ids, size_t *count, char *err, size_t cap);

/* ids[0..count) as text into *text (malloc'd and NUL-terminated, *len
 * bytes): the concatenation of their tok_piece bytes (byte tokens stay raw
 * bytes, valid UTF-8 or not). */
int tok_decode(const tokenizer *t, const int32_t *ids, size_t count, char **text, size_t *len, char *err, size_t cap);

/* The bytes token `id` stands for in decoded text, into buf[cap] (not
 * terminated); returns how many (0 for control tokens and ids out of
 * range; a byte-fallback token is its one byte). */
size_t tok_piece(const tokenizer *t, int32_t id, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
