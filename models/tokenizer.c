/* tokenizer.c -- dytcl_tokenizer.h: loading each kind, the checkpoint's
 * embedded tokenizer, and what all kinds share: every id's bytes in one
 * table, from which piece and decode read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "tokenizer_internal.h"

static dytcl_status fail_err(dytcl_status s, const char *err) { return dy_fail(NULL, s, "%s", err); }

void dytcl_tokenizer_free(dytcl_tokenizer *t)
{
    if (!t) return;
    dy_sp_free(t->sp);
    dy_bpe_free(t->bpe);
    free(t->src), free(t->off), free(t->bytes), free(t->known);
    free(t);
}

/* The byte table of ids 0..V-1 from the kind's own pieces. */
static dytcl_status build_table(dytcl_tokenizer *t, const char *name)
{
    size_t V = (size_t)t->V, total = 0, len;
    t->off = calloc(V + 1, sizeof *t->off), t->known = calloc(V, 1);
    if (!t->off || !t->known) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory", name);
    char buf[DY_TOK_MAX_PIECE];
    for (size_t i = 0; i < V; i++) { /* the lengths, then the bytes */
        t->off[i] = total;
        if (t->kind == DYTCL_TOKENIZER_BYTES) t->known[i] = 1, total += 1;
        else if (!dy_sp_piece(t->sp, (int32_t)i, buf, 0, &len)) {
            if (len > DY_TOK_MAX_PIECE) return dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: token %zu is %zu bytes long", name, i, len);
            t->known[i] = 1, total += len;
        }
    }
    t->off[V] = total;
    if (!(t->bytes = malloc(total + 1))) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory", name);
    for (size_t i = 0; i < V; i++) {
        if (t->kind == DYTCL_TOKENIZER_BYTES) t->bytes[i] = (uint8_t)i;
        else if (t->known[i]) dy_sp_piece(t->sp, (int32_t)i, (char *)t->bytes + t->off[i], t->off[i + 1] - t->off[i], &len);
    }
    return DYTCL_OK;
}

dytcl_status dytcl_tokenizer_create_bytes(dytcl_tokenizer **out)
{
    if (!out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_create_bytes: out is NULL");
    *out = NULL;
    dytcl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_tokenizer_create_bytes: out of host memory");
    t->kind = DYTCL_TOKENIZER_BYTES, t->V = 256;
    t->special[0] = t->special[1] = t->special[2] = -1;
    dytcl_status s = build_table(t, "bytes");
    if (s) return dytcl_tokenizer_free(t), s;
    *out = t;
    return DYTCL_OK;
}

dytcl_status dytcl_tokenizer_load_bytes(const void *data, size_t len, const char *name, dytcl_tokenizer **out)
{
    if (!out || (!data && len)) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_load_bytes: NULL argument");
    *out = NULL;
    if (!name) name = "tokenizer";
    if (len > DY_TOK_MAX_FILE)
        return dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: %zu bytes, more than a tokenizer's %zu", name, len, DY_TOK_MAX_FILE);
    const uint8_t *d = data;
    size_t i = 0;
    while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r')) i++;
    int json = i < len && d[i] == '{';
    dytcl_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->src = malloc(len ? len : 1))) {
        free(t);
        return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory", name);
    }
    if (len) memcpy(t->src, data, len);
    t->src_len = len;
    char err[1024];
    dytcl_status s = DYTCL_OK;
    if (json) {
        t->kind = DYTCL_TOKENIZER_BPE;
        if (dy_bpe_load(t->src, len, name, &t->bpe, err, sizeof err)) s = fail_err(DYTCL_ERR_FORMAT, err);
        else {
            t->V = dy_bpe_vocab(t->bpe);
            for (int k = 0; k < 3; k++) t->special[k] = dy_bpe_special(t->bpe, k);
            const uint8_t *p;
            size_t n, total = 0;
            t->off = calloc((size_t)t->V + 1, sizeof *t->off), t->known = calloc((size_t)t->V, 1);
            for (int id = 0; t->off && t->known && id < t->V; id++)
                if (!dy_bpe_piece(t->bpe, id, &p, &n)) total += n;
            if (!t->off || !t->known || !(t->bytes = malloc(total + 1)))
                s = dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory", name);
            size_t at = 0;
            for (int id = 0; !s && id < t->V; id++) {
                t->off[id] = at;
                if (!dy_bpe_piece(t->bpe, id, &p, &n)) memcpy(t->bytes + at, p, n), at += n, t->known[id] = 1;
                t->off[id + 1] = at;
            }
        }
    } else {
        t->kind = DYTCL_TOKENIZER_SENTENCEPIECE;
        if (!dy_sp_available()) {
            dy_sp_load(NULL, 0, name, &t->sp, err, sizeof err);
            s = dy_fail(NULL, DYTCL_ERR_UNSUPPORTED, "%s: not a tokenizer.json, and %s", name, err);
        } else if (dy_sp_load(t->src, len, name, &t->sp, err, sizeof err)) {
            s = fail_err(DYTCL_ERR_FORMAT, err);
        } else if ((t->V = dy_sp_vocab(t->sp)) < 1 || t->V > DY_TOK_MAX_VOCAB) {
            s = dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: %d tokens (1 to %d)", name, t->V, DY_TOK_MAX_VOCAB);
        } else {
            for (int k = 0; k < 3; k++) t->special[k] = dy_sp_special(t->sp, k);
            s = build_table(t, name);
        }
    }
    if (s) return dytcl_tokenizer_free(t), s;
    *out = t;
    return DYTCL_OK;
}

dytcl_status dytcl_tokenizer_load_file(const char *path, dytcl_tokenizer **out)
{
    if (!path || !out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_load_file: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return dy_fail(NULL, DYTCL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dy_fail(NULL, DYTCL_ERR_IO, "%s: not a regular file", path);
    }
    if ((uintmax_t)st.st_size > DY_TOK_MAX_FILE) {
        fclose(f);
        return dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: %jd bytes, more than a tokenizer's %zu", path, (intmax_t)st.st_size,
                       DY_TOK_MAX_FILE);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return fclose(f), dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "%s: out of host memory", path);
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f) || got != n;
    fclose(f);
    if (bad) return free(buf), dy_fail(NULL, DYTCL_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    dytcl_status s = dytcl_tokenizer_load_bytes(buf, n, path, out);
    free(buf);
    return s;
}

dytcl_status dytcl_tokenizer_from_meta(const dytcl_meta *md, const char *name, dytcl_tokenizer **out)
{
    if (!md || !out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_from_meta: NULL argument");
    *out = NULL;
    if (!name) name = "checkpoint";
    const char *b64 = dytcl_meta_get(md, "tokenizer"), *v = dytcl_meta_get(md, "tokenizer_vocab");
    if (!b64) return dytcl_tokenizer_create_bytes(out);
    char who[1100];
    snprintf(who, sizeof who, "%.1000s (its tokenizer)", name);
    uint8_t *file;
    size_t n;
    if (dy_unbase64(b64, &file, &n)) return dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: metadata \"tokenizer\" is not base64", who);
    dytcl_status s = dytcl_tokenizer_load_bytes(file, n, who, out);
    free(file);
    if (s) return s;
    char want[32];
    snprintf(want, sizeof want, "%d", (*out)->V);
    if (!v || strcmp(v, want)) {
        dytcl_tokenizer_free(*out), *out = NULL;
        return dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: %s tokens, but metadata \"tokenizer_vocab\" says %.40s", who, want,
                       v ? v : "nothing");
    }
    return DYTCL_OK;
}

dytcl_status dytcl_tokenizer_load_checkpoint(const char *path, dytcl_tokenizer **out)
{
    if (!path || !out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_load_checkpoint: NULL argument");
    *out = NULL;
    dytcl_model_config c;
    dytcl_meta md = {0};
    dytcl_status s = dytcl_model_read_config(path, &c, &md);
    if (!s) s = dytcl_tokenizer_from_meta(&md, path, out);
    if (!s && (*out)->V != c.vocab) {
        s = dy_fail(NULL, DYTCL_ERR_FORMAT, "%s: the model's vocabulary is %d, its tokenizer's %d", path, c.vocab, (*out)->V);
        dytcl_tokenizer_free(*out), *out = NULL;
    }
    dytcl_meta_clear(&md);
    return s;
}

dytcl_status dytcl_tokenizer_to_meta(const dytcl_tokenizer *t, dytcl_meta *md)
{
    if (!t || !md) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_to_meta: NULL argument");
    if (t->kind == DYTCL_TOKENIZER_BYTES) return DYTCL_OK;
    char *b64 = dy_base64(t->src, t->src_len), v[32];
    if (!b64) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_tokenizer_to_meta: out of host memory");
    snprintf(v, sizeof v, "%d", t->V);
    dytcl_status s = dytcl_meta_set(md, "tokenizer", b64);
    if (!s) s = dytcl_meta_set(md, "tokenizer_vocab", v);
    free(b64);
    return s;
}

dytcl_tokenizer_kind dytcl_tokenizer_get_kind(const dytcl_tokenizer *t) { return t ? t->kind : DYTCL_TOKENIZER_BYTES; }
int dytcl_tokenizer_vocab(const dytcl_tokenizer *t) { return t ? t->V : 0; }

int32_t dytcl_tokenizer_special(const dytcl_tokenizer *t, dytcl_special_token which)
{
    return t && which >= DYTCL_TOKEN_BOS && which <= DYTCL_TOKEN_UNK ? t->special[which] : -1;
}

void dytcl_tokenizer_source(const dytcl_tokenizer *t, const uint8_t **data, size_t *len)
{
    if (data) *data = t && t->kind != DYTCL_TOKENIZER_BYTES ? t->src : NULL;
    if (len) *len = t && t->kind != DYTCL_TOKENIZER_BYTES ? t->src_len : 0;
}

size_t dytcl_tokenizer_piece(const dytcl_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (!t || id < 0 || id >= t->V || !t->known[id] || !buf) return 0;
    size_t n = t->off[id + 1] - t->off[id];
    if (n > cap) n = cap;
    memcpy(buf, t->bytes + t->off[id], n);
    return n;
}

dytcl_status dytcl_tokenizer_encode(const dytcl_tokenizer *t, const char *text, size_t n, int32_t **ids, size_t *count)
{
    if (!t || (!text && n) || !ids || !count) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_encode: NULL argument");
    *ids = NULL, *count = 0;
    if (n > SIZE_MAX / sizeof **ids - 1)
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_encode: %zu bytes of text is too many", n);
    char err[1024];
    if (t->kind == DYTCL_TOKENIZER_BYTES) {
        if (!(*ids = malloc((n ? n : 1) * sizeof **ids)))
            return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "encoding: out of host memory for %zu tokens", n);
        for (size_t i = 0; i < n; i++) (*ids)[i] = (uint8_t)text[i];
        *count = n;
        return DYTCL_OK;
    }
    size_t bad = dy_utf8_check(text, n);
    if (bad < n) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "the text is not UTF-8 at byte %zu", bad);
    int rc = t->kind == DYTCL_TOKENIZER_BPE ? dy_bpe_encode(t->bpe, text ? text : "", n, ids, count, err, sizeof err)
                                            : dy_sp_encode(t->sp, text ? text : "", n, ids, count, err, sizeof err);
    return rc ? fail_err(DYTCL_ERR_INVALID_ARG, err) : DYTCL_OK;
}

dytcl_status dytcl_tokenizer_decode(const dytcl_tokenizer *t, const int32_t *ids, size_t count, char **text, size_t *len)
{
    if (!t || (!ids && count) || !text || !len) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_decode: NULL argument");
    *text = NULL, *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] >= t->V)
            return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "token %zu is %d, outside the vocabulary of %d", i, ids[i], t->V);
        if (!t->known[ids[i]]) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "token %zu (%d) has no text", i, ids[i]);
        size_t k = t->off[ids[i] + 1] - t->off[ids[i]];
        if (total > SIZE_MAX - 1 - k) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "decoding: the text is too long");
        total += k;
    }
    char *s = malloc(total + 1);
    if (!s) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "decoding: out of host memory for %zu bytes", total);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t k = t->off[ids[i] + 1] - t->off[ids[i]];
        memcpy(s + at, t->bytes + t->off[ids[i]], k), at += k;
    }
    s[at] = '\0';
    *text = s, *len = at;
    return DYTCL_OK;
}

int dytcl_tokenizer_has_sentencepiece(void) { return dy_sp_available(); }

dytcl_status dytcl_tokenizer_train(const char *text, size_t n, int vocab, const char *type, uint8_t **model, size_t *len)
{
    if (!text || !type || !model || !len) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_tokenizer_train: NULL argument");
    *model = NULL, *len = 0;
    if (vocab < 1 || vocab > DY_TOK_MAX_VOCAB) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "vocabulary size %d (1 to %d)", vocab, DY_TOK_MAX_VOCAB);
    char err[1024];
    if (dy_sp_train(text, n, vocab, type, model, len, err, sizeof err))
        return fail_err(dy_sp_available() ? DYTCL_ERR_INVALID_ARG : DYTCL_ERR_UNSUPPORTED, err);
    return DYTCL_OK;
}
