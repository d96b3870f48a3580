/* tokfile.h -- token files: text already split into tokens by a tokenizer,
 * in llm.c's shard layout (its data files read here unchanged):
 *
 *   bytes 0 .. 1023   header, 256 int32, little-endian
 *                       [0] magic    20240520: uint16 tokens
 *                                    20240801: uint32 tokens
 *                       [1] version  1 with 20240520, 7 with 20240801
 *                       [2] count    tokens after the header, >= 0
 *                       [3 .. 255]   0 when written here; not read
 *   bytes 1024 ..     count tokens, little-endian, 2 or 4 bytes each
 *
 * The file is exactly 1024 + count * width bytes. Written here: uint16 when
 * the vocabulary has at most 65 536 tokens (ids 0 .. 65 535), else uint32.
 *
 * Plain C11, no OpenCL. Errors: a non-zero return and a message naming the
 * file in err[cap] (cap 0: none, and err may be NULL). */
#ifndef DYTCL_TOKFILE_H
#define DYTCL_TOKFILE_H

#include <stddef.h>
#include <stdint.h>

#define TOKFILE_HEADER_BYTES 1024
#define TOKFILE_MAGIC_U16 20240520
#define TOKFILE_MAGIC_U32 20240801
#define TOKFILE_VERSION_U16 1
#define TOKFILE_VERSION_U32 7

/* 1 when buf[0..n) starts with one of the two magics, else 0. */
int tokfile_has_magic(const uint8_t *buf, size_t n);

/* Parses a whole token file held in buf[0..n); name is the file's name for
 * messages. Refuses a short header, a bad magic, a version that is not the
 * magic's, a count that does not match the file's size, and any token >=
 * vocab (vocab >= 1). On success *tokens (malloc'd, free() it; never NULL)
 * holds *count ids; on a refusal *tokens is NULL and *count 0. */
int tokfile_parse(const uint8_t *buf, size_t n, const char *name, uint32_t vocab, uint32_t **tokens, size_t *count,
                  char *err, size_t cap);

/* The token file of tokens[0..count) (each in [0, vocab)), uint16 when
 * vocab <= 65 536, into a new buffer *out of *out_len bytes (the caller
 * writes it through outputs.h and frees it). 0, or -1 and err. */
int tokfile_encode(const int32_t *tokens, size_t count, uint32_t vocab, uint8_t **out, size_t *out_len, char *err,
                   size_t cap);

#endif
