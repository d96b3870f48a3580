/* tokenizer_sp.h -- SentencePiece inside the library, behind a C interface
 * (tokenizer_sp.cc, C++ on libsentencepiece; tokenizer_sp_none.c in a build
 * without it, whose calls fail saying so). Used by tokenizer.c only.
 *
 * Errors: a non-zero return and a message in err[cap] (err may be NULL). */
#ifndef DYTCL_TOKENIZER_SP_H
#define DYTCL_TOKENIZER_SP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dy_sp dy_sp;

/* 1 when this build has SentencePiece. */
int dy_sp_available(void);
/* A lossless tokenizer of vocab tokens ("bpe" or "unigram") trained on
 * text[0..n)'s lines; the .model file into *model (malloc'd, *model_len). */
int dy_sp_train(const char *text, size_t n, int vocab, const char *type, uint8_t **model, size_t *model_len,
                char *err, size_t cap);
/* A tokenizer from a .model file's bytes; name is the file's, for messages. */
int dy_sp_load(const uint8_t *model, size_t len, const char *name, dy_sp **out, char *err, size_t cap);
void dy_sp_free(dy_sp *t);
int dy_sp_vocab(const dy_sp *t);
/* The id of bos (0), eos (1) or unk (2), or -1. */
int dy_sp_special(const dy_sp *t, int which);
/* text[0..n) as ids into *ids (malloc'd, *count); refuses text that does
 * not decode to itself (invalid UTF-8, U+2581), naming the byte offset. */
int dy_sp_encode(const dy_sp *t, const char *text, size_t n, int32_t **ids, size_t *count, char *err, size_t cap);
/* The bytes token id stands for (a byte token its byte, a control token
 * none, any other its piece with U+2581 as a space): min(*len, cap) of them
 * into buf, *len their number. -1 when the id has no text. */
int dy_sp_piece(const dy_sp *t, int32_t id, char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
