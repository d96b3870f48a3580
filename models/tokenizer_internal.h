/* tokenizer_internal.h -- what the tokenizer's files share (tokenizer.c,
 * tokenizer_bpe.c, tokenizer_pretok.c, base64.c). Not installed. */
#ifndef DYTCL_TOKENIZER_INTERNAL_H
#define DYTCL_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl_tokenizer.h"
#include "tokenizer_sp.h"

#define DY_TOK_MAX_FILE ((size_t)256 << 20) /* a tokenizer file; GPT-2's tokenizer.json is 1.4 MB */
#define DY_TOK_MAX_VOCAB (1 << 24)          /* ids; Gemma's 256k is far below */
#define DY_TOK_MAX_PIECE 4096               /* bytes of one token's text */

typedef struct dy_bpe dy_bpe;

struct dytcl_tokenizer {
    dytcl_tokenizer_kind kind;
    int V;
    int32_t special[3];   /* bos, eos, unk; -1: none */
    uint8_t *src;         /* the file loaded, as embedded in checkpoints */
    size_t src_len;
    /* the bytes of id i: bytes[off[i] .. off[i + 1]); known[i] 0 for an id without text */
    size_t *off;
    uint8_t *bytes, *known;
    dy_sp *sp;
    dy_bpe *bpe;
};

/* ---- byte-level BPE from a tokenizer.json (tokenizer_bpe.c) */
int dy_bpe_load(const uint8_t *json, size_t len, const char *name, dy_bpe **out, char *err, size_t cap);
void dy_bpe_free(dy_bpe *b);
int dy_bpe_vocab(const dy_bpe *b);
int32_t dy_bpe_special(const dy_bpe *b, int which);
/* The bytes of id: -1 when the vocabulary skips it. */
int dy_bpe_piece(const dy_bpe *b, int32_t id, const uint8_t **bytes, size_t *len);
/* text[0..n), valid UTF-8, as ids into *ids (malloc'd, *count). */
int dy_bpe_encode(const dy_bpe *b, const char *text, size_t n, int32_t **ids, size_t *count, char *err, size_t cap);

/* ---- UTF-8 and the GPT-2 pre-tokenizer (tokenizer_pretok.c) */
/* The code point at s[0..n) into *cp; returns its length, 0 when s does not
 * start with a valid UTF-8 sequence (overlong, surrogate, > U+10FFFF, cut). */
size_t dy_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* The offset of the first invalid byte of s[0..n), or n. */
size_t dy_utf8_check(const char *s, size_t n);
int dy_is_letter(uint32_t cp);
int dy_is_number(uint32_t cp);
int dy_is_space(uint32_t cp);
/* The length of the GPT-2 pre-token at s[0..n) (n > 0, valid UTF-8):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
size_t dy_pretok_next(const char *s, size_t n);

/* ---- base64, RFC 4648 with padding (base64.c) */
/* A new NUL-terminated string (NULL when out of memory). */
char *dy_base64(const uint8_t *src, size_t n);
/* Back, refusing anything but canonical base64: 0, or -1 with *out NULL. */
int dy_unbase64(const char *s, uint8_t **out, size_t *n);

#endif
