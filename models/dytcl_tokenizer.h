/* dytcl_tokenizer.h -- text to token ids and back, for the models of
 * dytcl_model.h. Installed with dytcl.h and dytcl_model.h, part of the same
 * library (libdytcl, pkg-config "dytcl", CMake dytcl::dytcl).
 *
 * Conventions (those of dytcl.h): an opaque handle with load/free, a status
 * on every call that can fail, out-parameters last, the message of a failed
 * call in dytcl_last_error(NULL); nothing is printed and nothing aborts.
 *
 *   dytcl_tokenizer *tk;  int32_t *ids;  size_t n;
 *   dytcl_tokenizer_load_checkpoint("model.safetensors", &tk);
 *   dytcl_tokenizer_encode(tk, "Hello", 5, &ids, &n);
 *   ... dytcl_tokenizer_piece(tk, id, buf, sizeof buf) for each sampled id ...
 *   free(ids);  dytcl_tokenizer_free(tk);
 *
 * Three kinds:
 *   bytes          V = 256, token = byte (a checkpoint without a tokenizer)
 *   sentencepiece  a SentencePiece .model (BPE or unigram), in a build with
 *                  libsentencepiece (dytcl_tokenizer_has_sentencepiece)
 *   bpe            a Hugging Face tokenizer.json with a GPT-2-style
 *                  byte-level BPE model: the GPT-2 pre-tokenizer split,
 *                  merges by rank, added tokens matched in the text first
 *
 * A checkpoint carries its tokenizer whole: metadata "tokenizer" is the
 * tokenizer's file (the .model or the tokenizer.json) in base64 (RFC 4648,
 * padded) and "tokenizer_vocab" its vocabulary size; without "tokenizer" a
 * checkpoint is byte-level.
 *
 * Buffers returned (ids, text, file bytes) are malloc'd: free() them. */
#ifndef DYTCL_TOKENIZER_H
#define DYTCL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl.h"
#include "dytcl_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dytcl_tokenizer dytcl_tokenizer;

typedef enum { DYTCL_TOKENIZER_BYTES = 0, DYTCL_TOKENIZER_SENTENCEPIECE, DYTCL_TOKENIZER_BPE } dytcl_tokenizer_kind;
typedef enum { DYTCL_TOKEN_BOS = 0, DYTCL_TOKEN_EOS, DYTCL_TOKEN_UNK } dytcl_special_token;

/* ------------------------------------------------------------ loading */

/* The byte-level tokenizer (V = 256). */
DYTCL_API dytcl_status dytcl_tokenizer_create_bytes(dytcl_tokenizer **out);
/* A tokenizer file's bytes: a tokenizer.json (its first non-blank byte is
 * '{') or a SentencePiece .model; name is the file's name for messages. */
DYTCL_API dytcl_status dytcl_tokenizer_load_bytes(const void *data, size_t len, const char *name,
                                                  dytcl_tokenizer **out);
/* A tokenizer file (at most 256 MiB), as dytcl_tokenizer_load_bytes. */
DYTCL_API dytcl_status dytcl_tokenizer_load_file(const char *path, dytcl_tokenizer **out);
/* The tokenizer a checkpoint's metadata carries, or bytes when it has none;
 * name (the checkpoint, for messages) may be NULL. */
DYTCL_API dytcl_status dytcl_tokenizer_from_meta(const dytcl_meta *md, const char *name, dytcl_tokenizer **out);
/* The tokenizer of the checkpoint at path (its metadata only is read). */
DYTCL_API dytcl_status dytcl_tokenizer_load_checkpoint(const char *path, dytcl_tokenizer **out);
/* Writes t into md as "tokenizer" and "tokenizer_vocab" (a byte-level t:
 * removes nothing and writes nothing). */
DYTCL_API dytcl_status dytcl_tokenizer_to_meta(const dytcl_tokenizer *t, dytcl_meta *md);
DYTCL_API void dytcl_tokenizer_free(dytcl_tokenizer *t);

/* ------------------------------------------------------------ queries */

DYTCL_API dytcl_tokenizer_kind dytcl_tokenizer_get_kind(const dytcl_tokenizer *t);
/* The number of token ids, V (ids are 0..V-1). */
DYTCL_API int dytcl_tokenizer_vocab(const dytcl_tokenizer *t);
/* The id of a special token, or -1 when the tokenizer has none. bpe: unk is
 * the model's unk_token; bos and eos are the special added tokens named
 * <s>/<bos>/<|begin_of_text|>/<|startoftext|> and
 * </s>/<eos>/<|end_of_text|>/<|endoftext|> (GPT-2's <|endoftext|> is both). */
DYTCL_API int32_t dytcl_tokenizer_special(const dytcl_tokenizer *t, dytcl_special_token which);
/* The bytes token id stands for in decoded text, into buf[cap] (not
 * terminated); returns their number (at most cap; 0 for an id out of range,
 * a SentencePiece control token or an id the vocabulary skips). An added
 * token is its content; a byte token its byte. */
DYTCL_API size_t dytcl_tokenizer_piece(const dytcl_tokenizer *t, int32_t id, char *buf, size_t cap);
/* The file t was loaded from (NULL and 0 for bytes): what to_meta embeds. */
DYTCL_API void dytcl_tokenizer_source(const dytcl_tokenizer *t, const uint8_t **data, size_t *len);

/* ------------------------------------------------------------ encoding */

/* text[0..n) (UTF-8; invalid UTF-8 is refused naming the offset, except by
 * bytes) as ids into *ids (malloc'd, *count of them). No BOS or EOS is
 * added. sentencepiece: refuses text that would not decode to itself. */
DYTCL_API dytcl_status dytcl_tokenizer_encode(const dytcl_tokenizer *t, const char *text, size_t n, int32_t **ids,
                                              size_t *count);
/* ids[0..count) as text into *text (malloc'd, NUL-terminated, *len bytes):
 * the concatenation of their pieces. An id out of range is refused. */
DYTCL_API dytcl_status dytcl_tokenizer_decode(const dytcl_tokenizer *t, const int32_t *ids, size_t count, char **text,
                                              size_t *len);

/* ------------------------------------------------------------ training */

/* 1 when this build has SentencePiece. */
DYTCL_API int dytcl_tokenizer_has_sentencepiece(void);
/* Trains a lossless SentencePiece tokenizer ("bpe" or "unigram") of vocab
 * tokens on text[0..n)'s lines: no normalisation, spaces kept, bytes outside
 * the vocabulary as byte tokens, no BOS/EOS; deterministic. The .model file
 * into *model (malloc'd, *len bytes). DYTCL_ERR_UNSUPPORTED without
 * SentencePiece. */
DYTCL_API dytcl_status dytcl_tokenizer_train(const char *text, size_t n, int vocab, const char *type,
                                             uint8_t **model, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
