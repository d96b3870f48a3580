/* tokens.c -- the tokenizer's files, its place in checkpoints, and the bytes
 * of its tokens (see tokens.h), on the library's dytcl_tokenizer.h. */
#include <stdio.h>
#include <stdlib.h>

#include "tokens.h"

int tokens_load_file(const char *path, tokens_model *out, char *err, size_t cap)
{
    *out = (tokens_model){0};
    if (dytcl_tokenizer_load_file(path, &out->tk)) return snprintf(err, cap, "%s", dytcl_last_error(NULL)), -1;
    return 0;
}

int tokens_from_meta(const dytcl_meta *md, const char *ckpt, tokens_model *out, char *err, size_t cap)
{
    *out = (tokens_model){0};
    if (!dytcl_meta_get(md, "tokenizer")) return 0;
    if (dytcl_tokenizer_from_meta(md, ckpt, &out->tk)) return snprintf(err, cap, "%s", dytcl_last_error(NULL)), -1;
    return 0;
}

int tokens_to_meta(const tokens_model *t, dytcl_meta *md)
{
    return t->tk && dytcl_tokenizer_to_meta(t->tk, md) ? -1 : 0;
}

void tokens_free(tokens_model *t)
{
    dytcl_tokenizer_free(t->tk);
    *t = (tokens_model){0};
}

void tokens_bytes_per_id(const tokens_model *t, int V, double *out)
{
    char buf[4096];
    for (int i = 0; i < V; i++) out[i] = t && t->tk ? (double)dytcl_tokenizer_piece(t->tk, i, buf, sizeof buf) : 1.0;
}
