/* fuzz_tokfile.c -- libFuzzer target for the token-file reader
 * (models/cli/tokfile.c): the first three bytes choose the vocabulary
 * (1 .. 2^24), the rest is the file. A refusal hands out nothing and names
 * the file; an acceptance has a known magic with its version, a size of
 * exactly the header plus count tokens, and every token below the
 * vocabulary and equal to its little-endian bytes.
 * Build and run: `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokfile.h"

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    uint32_t vocab = 1 + (data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16);
    const uint8_t *file = data + 3;
    size_t n = size - 3;

    char err[256];
    memset(err, 'x', sizeof err);
    uint32_t *tok = (uint32_t *)&tok;
    size_t count = 12345;
    if (tokfile_parse(file, n, "fuzz.bin", vocab, &tok, &count, err, sizeof err) != 0) {
        if (tok || count || !memchr(err, 0, sizeof err) || !strstr(err, "fuzz.bin")) __builtin_trap();
        return 0;
    }
    if (!tokfile_has_magic(file, n) || n < TOKFILE_HEADER_BYTES) __builtin_trap();
    uint32_t magic = le32(file), version = le32(file + 4);
    size_t w = magic == TOKFILE_MAGIC_U16 ? 2 : 4;
    if (version != (w == 2 ? TOKFILE_VERSION_U16 : TOKFILE_VERSION_U32)) __builtin_trap();
    if (le32(file + 8) != count || n != TOKFILE_HEADER_BYTES + count * w) __builtin_trap();
    const uint8_t *p = file + TOKFILE_HEADER_BYTES;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = w == 2 ? (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) : le32(p + 4 * i);
        if (tok[i] != v || tok[i] >= vocab) __builtin_trap();
    }
    free(tok);
    return 0;
}
