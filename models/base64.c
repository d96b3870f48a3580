/* base64.c -- RFC 4648 base64 with padding, for tokenizers carried in
 * checkpoint metadata (tokenizer_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *dy_base64(const uint8_t *src, size_t n)
{
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3) return NULL;
    char *s = malloc((n + 2) / 3 * 4 + 1), *p = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0) | (i + 2 < n ? src[i + 2] : 0);
        *p++ = B64[w >> 18], *p++ = B64[w >> 12 & 63];
        *p++ = i + 1 < n ? B64[w >> 6 & 63] : '=';
        *p++ = i + 2 < n ? B64[w & 63] : '=';
    }
    *p = '\0';
    return s;
}

int dy_unbase64(const char *s, uint8_t **out, size_t *n)
{
    *out = NULL, *n = 0;
    size_t len = strlen(s);
    if (len % 4) return -1;
    size_t pad = len && s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    uint8_t *b = malloc(len / 4 * 3 + 1);
    if (!b) return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w = 0;
        for (int j = 0; j < 4; j++) {
            const char *c = strchr(B64, s[i + j]);
            int last = i + 4 == len, is_pad = last && j >= 4 - (int)pad;
            if (!is_pad && (!s[i + j] || !c)) return free(b), -1;
            w = w << 6 | (is_pad ? 0 : (uint32_t)(c - B64));
        }
        if ((pad == 1 && i + 4 == len && (w & 0xFF)) || (pad == 2 && i + 4 == len && (w & 0xFFFF)))
            return free(b), -1; /* bits set under the padding: not canonical */
        b[k++] = (uint8_t)(w >> 16);
        if (!(i + 4 == len && pad == 2)) b[k++] = (uint8_t)(w >> 8);
        if (!(i + 4 == len && pad >= 1)) b[k++] = (uint8_t)w;
    }
    *out = b, *n = k;
    return 0;
}
