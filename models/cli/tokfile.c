/* tokfile.c -- token files in llm.c's layout (see tokfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokfile.h"

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24); }

int tokfile_has_magic(const uint8_t *buf, size_t n)
{
    if (!buf || n < 4) return 0;
    uint32_t m = le32(buf);
    return m == TOKFILE_MAGIC_U16 || m == TOKFILE_MAGIC_U32;
}

int tokfile_parse(const uint8_t *buf, size_t n, const char *name, uint32_t vocab, uint32_t **tokens, size_t *count,
                  char *err, size_t cap)
{
    *tokens = NULL, *count = 0;
    if (!name) name = "<token file>";
    if (vocab < 1) return (snprintf(err, cap, "%s: vocabulary size 0", name), -1);
    if (!buf || n < TOKFILE_HEADER_BYTES)
        return (snprintf(err, cap, "%s: %zu bytes, shorter than the %d-byte header of a token file", name, n,
                    TOKFILE_HEADER_BYTES), -1);
    uint32_t magic = le32(buf), version = le32(buf + 4), cnt = le32(buf + 8);
    size_t width;
    if (magic == TOKFILE_MAGIC_U16) {
        width = 2;
        if (version != TOKFILE_VERSION_U16)
            return (snprintf(err, cap, "%s: version %u with magic %u (uint16 tokens): only version %d is known", name,
                        version, magic, TOKFILE_VERSION_U16), -1);
    } else if (magic == TOKFILE_MAGIC_U32) {
        width = 4;
        if (version != TOKFILE_VERSION_U32)
            return (snprintf(err, cap, "%s: version %u with magic %u (uint32 tokens): only version %d is known", name,
                        version, magic, TOKFILE_VERSION_U32), -1);
    } else {
        return (snprintf(err, cap, "%s: bad magic %u: not a token file (expected %d for uint16 or %d for uint32 tokens)",
                    name, magic, TOKFILE_MAGIC_U16, TOKFILE_MAGIC_U32), -1);
    }
    if (cnt > INT32_MAX) return (snprintf(err, cap, "%s: negative token count %d in the header", name, (int32_t)cnt), -1);
    size_t body = n - TOKFILE_HEADER_BYTES;
    if (body % width || body / width != cnt)
        return (snprintf(err, cap, "%s: the header says %u tokens (%zu bytes) but %zu bytes follow it%s", name, cnt,
                    (size_t)cnt * width, body, body / width < cnt ? " (truncated?)" : ""), -1);
    uint32_t *t = malloc(cnt ? (size_t)cnt * sizeof *t : 1);
    if (!t) return (snprintf(err, cap, "%s: out of memory for %u tokens", name, cnt), -1);
    const uint8_t *p = buf + TOKFILE_HEADER_BYTES;
    for (size_t i = 0; i < cnt; i++) {
        t[i] = width == 2 ? (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) : le32(p + 4 * i);
        if (t[i] >= vocab) {
            uint32_t bad = t[i];
            free(t);
            return (snprintf(err, cap, "%s: token %zu is %u, outside the vocabulary of %u", name, i, bad, vocab), -1);
        }
    }
    *tokens = t, *count = cnt;
    return 0;
}

int tokfile_encode(const int32_t *tokens, size_t count, uint32_t vocab, uint8_t **out, size_t *out_len, char *err,
                   size_t cap)
{
    const char *path = "the token file";
    *out = NULL, *out_len = 0;
    if (count > INT32_MAX) return (snprintf(err, cap, "%s: %zu tokens, more than a token file holds (2^31 - 1)", path, count), -1);
    for (size_t i = 0; i < count; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab)
            return (snprintf(err, cap, "%s: token %zu is %d, outside the vocabulary of %u", path, i, tokens[i], vocab), -1);
    int wide = vocab > 65536;
    size_t w = wide ? 4 : 2, n = TOKFILE_HEADER_BYTES + count * w;
    uint8_t *buf = calloc(n, 1), *p = buf + TOKFILE_HEADER_BYTES;
    if (!buf) return (snprintf(err, cap, "%s: out of memory for %zu bytes", path, n), -1);
    put32(buf, wide ? TOKFILE_MAGIC_U32 : TOKFILE_MAGIC_U16);
    put32(buf + 4, wide ? TOKFILE_VERSION_U32 : TOKFILE_VERSION_U16);
    put32(buf + 8, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        uint32_t v = (uint32_t)tokens[i];
        if (wide) put32(p + 4 * i, v);
        else p[2 * i] = (uint8_t)v, p[2 * i + 1] = (uint8_t)(v >> 8);
    }
    *out = buf, *out_len = n;
    return 0;
}
