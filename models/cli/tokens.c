/* tokens.c -- the tokenizer's files, its place in checkpoints, and the bytes
 * of its tokens (see tokens.h), on the library's dytcl_tokenizer.h. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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

int tokens_for_model(const char *path, const dytcl_meta *md, int vocab, tokens_model *out, char *err, size_t cap)
{
    *out = (tokens_model){0};
    struct stat st;
    char file[4200];
    snprintf(file, sizeof file, "%s/tokenizer.json", path);
    if (dytcl_meta_get(md, "tokenizer")) {
        if (tokens_from_meta(md, path, out, err, cap)) return -1;
    } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && lstat(file, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return snprintf(err, cap, "%s is not a regular file: refused", file), -1;
        if (dytcl_tokenizer_load_file(file, &out->tk))
            return snprintf(err, cap, "%s (a Hugging Face tokenizer.json must be GPT-2-style byte-level BPE)",
                            dytcl_last_error(NULL)), -1; /* the message names the file and the field */
        if (dytcl_tokenizer_get_kind(out->tk) != DYTCL_TOKENIZER_BPE) {
            tokens_free(out);
            return snprintf(err, cap, "%s: not a byte-level BPE tokenizer (dytcl reads GPT-2-style byte-level BPE "
                            "only)", file), -1;
        }
    }
    const int tv = out->tk ? dytcl_tokenizer_vocab(out->tk) : 256;
    if (out->tk && tv > vocab) {
        tokens_free(out);
        return snprintf(err, cap, "the tokenizer of %s has %d ids, more than the model's vocabulary of %d", path, tv,
                        vocab), -1;
    }
    return 0;
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
