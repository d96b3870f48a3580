/* tokens.c -- the tokenizer's files, its place in checkpoints, and the bytes
 * of its tokens (see tokens.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "tokens.h"

#define MAX_MODEL_BYTES ((size_t)64 << 20) /* LLaMA's tokenizer.model is 0.5 MB */

int tokens_load_file(const char *path, tokens_model *out, char *err, size_t cap)
{
    *out = (tokens_model){0};
    if (!tok_available()) return tok_load(NULL, 0, path, &out->tk, err, cap); /* says the build has none */
    if (data_read_file(path, MAX_MODEL_BYTES, &out->model, &out->model_len, err, cap)) return -1;
    if (tok_load(out->model, out->model_len, path, &out->tk, err, cap)) {
        tokens_free(out);
        return -1;
    }
    return 0;
}

int tokens_from_meta(const dytcl_meta *md, const char *ckpt, tokens_model *out, char *err, size_t cap)
{
    *out = (tokens_model){0};
    const char *b64 = dytcl_meta_get(md, "tokenizer"), *v = dytcl_meta_get(md, "tokenizer_vocab");
    if (!b64) return 0;
    char name[1200];
    snprintf(name, sizeof name, "%s (its tokenizer)", ckpt);
    if (tokens_unbase64(b64, &out->model, &out->model_len))
        return snprintf(err, cap, "%s: metadata \"tokenizer\" is not base64", name), -1;
    if (tok_load(out->model, out->model_len, name, &out->tk, err, cap)) {
        tokens_free(out);
        return -1;
    }
    if (!v || atoi(v) != tok_vocab(out->tk)) {
        int V = tok_vocab(out->tk);
        tokens_free(out);
        return snprintf(err, cap, "%s: %d tokens, but metadata \"tokenizer_vocab\" says %s", name, V, v ? v : "nothing"), -1;
    }
    return 0;
}

int tokens_to_meta(const tokens_model *t, dytcl_meta *md)
{
    char *b64 = tokens_base64(t->model, t->model_len), v[32];
    if (!b64) return -1;
    snprintf(v, sizeof v, "%d", tok_vocab(t->tk));
    int bad = dytcl_meta_set(md, "tokenizer", b64) || dytcl_meta_set(md, "tokenizer_vocab", v);
    free(b64);
    return bad ? -1 : 0;
}

void tokens_free(tokens_model *t)
{
    tok_free(t->tk);
    free(t->model);
    *t = (tokens_model){0};
}

void tokens_bytes_per_id(const tokens_model *t, int V, double *out)
{
    char buf[1024];
    for (int i = 0; i < V; i++) out[i] = t && t->tk ? (double)tok_piece(t->tk, i, buf, sizeof buf) : 1.0;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tokens_base64(const uint8_t *src, size_t n)
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

int tokens_unbase64(const char *s, uint8_t **out, size_t *n)
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
