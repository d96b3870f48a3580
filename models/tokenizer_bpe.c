/* tokenizer_bpe.c -- a Hugging Face tokenizer.json with a GPT-2-style
 * byte-level BPE model: load, encode, and the bytes of each token.
 *
 * Encoding text[0..n):
 *   1. added tokens are found first (leftmost, then longest) and emitted as
 *      their ids; the text between them is encoded as follows
 *   2. (add_prefix_space: a space before a segment that does not start with one)
 *   3. the GPT-2 pre-tokenizer splits the segment (tokenizer_pretok.c)
 *   4. each piece's bytes become the vocabulary's one-character tokens of
 *      the byte-to-unicode map, then the adjacent pair of lowest merge rank
 *      (leftmost among equals) is merged until none is in the merges
 *      (ignore_merges: a piece that is itself a token is taken whole)
 * Decoding maps a token's characters back through the byte-to-unicode map;
 * an added token stands for its content.
 *
 * Accepted: normalizer null; pre_tokenizer ByteLevel (use_regex true);
 * decoder ByteLevel or null; model BPE without dropout, subword prefix or
 * word suffix; added tokens without lstrip, rstrip or single_word. Anything
 * else is refused, naming the field. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* The loaders' and the encoder's failure: the message into err[cap], -1. */
#define bpe_err(err, cap, ...) (snprintf((err), (cap), __VA_ARGS__), -1)

typedef struct {
    const char *content;
    size_t len;
    int32_t id;
} added_token;

struct dy_bpe {
    int V;
    int add_prefix_space, ignore_merges;
    int32_t special[3];
    int32_t byte_id[256];   /* the token of each byte's character, -1 if none */
    /* vocabulary: token string -> id, open addressing */
    char **str;             /* [n_str] the vocabulary's strings */
    int32_t *str_id;        /* [n_str] */
    int n_str;
    int32_t *vmap;          /* [vmap_cap] index into str, -1 empty */
    size_t vmap_cap;
    /* merges: (left, right) -> rank and result, open addressing */
    uint64_t *mkey;         /* [mmap_cap] (left << 32 | right) + 1, 0 empty */
    int32_t *mrank, *mout;
    size_t mmap_cap;
    /* the bytes of each id */
    size_t *off;            /* [V + 1] */
    uint8_t *bytes, *known;
    added_token *added;
    int n_added;
    uint8_t added_first[256]; /* 1 when some added token starts with this byte */
};

/* ------------------------------------------------------------ the byte map */

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves,
 * the other 68 for U+0100 onwards, in byte order. */
static void byte_map(uint32_t cp_of[256], int16_t byte_of[324])
{
    for (int i = 0; i < 324; i++) byte_of[i] = -1;
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp_of[b] = keep ? (uint32_t)b : next++;
        byte_of[cp_of[b]] = (int16_t)b;
    }
}

static size_t utf8_put(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) return out[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return out[0] = (uint8_t)(0xC0 | cp >> 6), out[1] = (uint8_t)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return out[0] = (uint8_t)(0xE0 | cp >> 12), out[1] = (uint8_t)(0x80 | (cp >> 6 & 63)),
               out[2] = (uint8_t)(0x80 | (cp & 63)), 3;
    return out[0] = (uint8_t)(0xF0 | cp >> 18), out[1] = (uint8_t)(0x80 | (cp >> 12 & 63)),
           out[2] = (uint8_t)(0x80 | (cp >> 6 & 63)), out[3] = (uint8_t)(0x80 | (cp & 63)), 4;
}

/* ------------------------------------------------------------ hash maps */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static size_t pow2_above(size_t n)
{
    size_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
}

/* The id of token string s[0..n), or -1. */
static int32_t vocab_find(const dy_bpe *b, const char *s, size_t n)
{
    for (size_t h = hash_bytes(s, n) & (b->vmap_cap - 1);; h = (h + 1) & (b->vmap_cap - 1)) {
        int32_t k = b->vmap[h];
        if (k < 0) return -1;
        if (strlen(b->str[k]) == n && !memcmp(b->str[k], s, n)) return b->str_id[k];
    }
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;
    return x;
}

/* The slot of pair (l, r): its own, or the empty one where it would go. */
static size_t merge_slot(const dy_bpe *b, int32_t l, int32_t r)
{
    uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
    size_t h = mix(key) & (b->mmap_cap - 1);
    while (b->mkey[h] && b->mkey[h] != key) h = (h + 1) & (b->mmap_cap - 1);
    return h;
}

/* ------------------------------------------------------------ loading */

void dy_bpe_free(dy_bpe *b)
{
    if (!b) return;
    for (int i = 0; i < b->n_str; i++) free(b->str[i]);
    for (int i = 0; i < b->n_added; i++) free((char *)b->added[i].content);
    free(b->str), free(b->str_id), free(b->vmap);
    free(b->mkey), free(b->mrank), free(b->mout);
    free(b->off), free(b->bytes), free(b->known), free(b->added);
    free(b);
}

int dy_bpe_vocab(const dy_bpe *b) { return b->V; }
int32_t dy_bpe_special(const dy_bpe *b, int which) { return b->special[which]; }

int dy_bpe_piece(const dy_bpe *b, int32_t id, const uint8_t **bytes, size_t *len)
{
    if (id < 0 || id >= b->V || !b->known[id]) return *bytes = NULL, *len = 0, -1;
    *bytes = b->bytes + b->off[id], *len = b->off[id + 1] - b->off[id];
    return 0;
}

/* 1 when field key of o is absent, null, false or "" (a feature not used). */
static int unused(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return !v || json_is_null(v) || json_is_false(v) || (json_is_string(v) && !json_string_length(v));
}

static int type_is(const json_t *o, const char *type)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t && !strcmp(t, type);
}

/* The model's vocabulary: its strings, the map, V. */
static int load_vocab(dy_bpe *b, const json_t *vocab, const char *name, char *err, size_t cap)
{
    size_t n = json_object_size(vocab);
    if (!n || n > DY_TOK_MAX_VOCAB) return bpe_err(err, cap, "%s: model.vocab has %zu tokens (1 to %d)", name, n, DY_TOK_MAX_VOCAB);
    b->str = calloc(n, sizeof *b->str), b->str_id = malloc(n * sizeof *b->str_id);
    b->vmap_cap = pow2_above(n);
    b->vmap = malloc(b->vmap_cap * sizeof *b->vmap);
    if (!b->str || !b->str_id || !b->vmap) return bpe_err(err, cap, "%s: out of memory for %zu tokens", name, n);
    memset(b->vmap, 0xFF, b->vmap_cap * sizeof *b->vmap);
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)vocab, key, klen, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= DY_TOK_MAX_VOCAB)
            return bpe_err(err, cap, "%s: model.vocab[\"%.64s\"] is not an id from 0 to %d", name, key, DY_TOK_MAX_VOCAB - 1);
        if (!klen || klen > DY_TOK_MAX_PIECE || memchr(key, 0, klen))
            return bpe_err(err, cap, "%s: model.vocab has a token of %zu bytes (1 to %d, no NUL)", name, klen, DY_TOK_MAX_PIECE);
        size_t h = hash_bytes(key, klen) & (b->vmap_cap - 1);
        while (b->vmap[h] >= 0) h = (h + 1) & (b->vmap_cap - 1); /* keys of a JSON object are distinct */
        if (!(b->str[b->n_str] = malloc(klen + 1))) return bpe_err(err, cap, "%s: out of memory", name);
        memcpy(b->str[b->n_str], key, klen + 1);
        b->str_id[b->n_str] = (int32_t)id;
        b->vmap[h] = b->n_str++;
        if (id + 1 > b->V) b->V = (int)id + 1;
    }
    return 0;
}

/* One merge "a b" or ["a", "b"] as the ids of a, b and a+b. */
static int parse_merge(const dy_bpe *b, const json_t *m, size_t i, const char *name, int32_t ids[3], char *err,
                       size_t cap)
{
    char both[2 * DY_TOK_MAX_PIECE + 1];
    const char *l = NULL, *r = NULL;
    size_t ll = 0, rl = 0;
    if (json_is_string(m)) {
        const char *s = json_string_value(m), *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ')) return bpe_err(err, cap, "%s: model.merges[%zu] \"%.64s\" is not two tokens", name, i, s);
        l = s, ll = (size_t)(sp - s), r = sp + 1, rl = strlen(r);
    } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
               json_is_string(json_array_get(m, 1))) {
        l = json_string_value(json_array_get(m, 0)), ll = json_string_length(json_array_get(m, 0));
        r = json_string_value(json_array_get(m, 1)), rl = json_string_length(json_array_get(m, 1));
    } else {
        return bpe_err(err, cap, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", name, i);
    }
    if (ll > DY_TOK_MAX_PIECE || rl > DY_TOK_MAX_PIECE) return bpe_err(err, cap, "%s: model.merges[%zu] is too long", name, i);
    memcpy(both, l, ll), memcpy(both + ll, r, rl);
    ids[0] = vocab_find(b, l, ll), ids[1] = vocab_find(b, r, rl), ids[2] = vocab_find(b, both, ll + rl);
    if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0)
        return bpe_err(err, cap, "%s: model.merges[%zu] (\"%.*s\" + \"%.*s\") names a token not in model.vocab", name, i,
                      (int)(ll < 64 ? ll : 64), l, (int)(rl < 64 ? rl : 64), r);
    return 0;
}

static int load_merges(dy_bpe *b, const json_t *merges, const char *name, char *err, size_t cap)
{
    size_t n = json_array_size(merges);
    if (n > DY_TOK_MAX_VOCAB) return bpe_err(err, cap, "%s: %zu merges, more than %d", name, n, DY_TOK_MAX_VOCAB);
    b->mmap_cap = pow2_above(n);
    b->mkey = calloc(b->mmap_cap, sizeof *b->mkey);
    b->mrank = malloc(b->mmap_cap * sizeof *b->mrank), b->mout = malloc(b->mmap_cap * sizeof *b->mout);
    if (!b->mkey || !b->mrank || !b->mout) return bpe_err(err, cap, "%s: out of memory for %zu merges", name, n);
    for (size_t i = 0; i < n; i++) {
        int32_t ids[3];
        if (parse_merge(b, json_array_get(merges, i), i, name, ids, err, cap)) return -1;
        size_t h = merge_slot(b, ids[0], ids[1]);
        if (b->mkey[h]) continue; /* a repeated pair keeps its first (lowest) rank */
        b->mkey[h] = ((uint64_t)(uint32_t)ids[0] << 32 | (uint32_t)ids[1]) + 1;
        b->mrank[h] = (int32_t)i, b->mout[h] = ids[2];
    }
    return 0;
}

static int load_added(dy_bpe *b, const json_t *added, const char *name, char *err, size_t cap)
{
    size_t n = json_array_size(added);
    if (n > DY_TOK_MAX_VOCAB) return bpe_err(err, cap, "%s: %zu added tokens", name, n);
    if (n && !(b->added = calloc(n, sizeof *b->added))) return bpe_err(err, cap, "%s: out of memory", name);
    static const char *const bos[] = {"<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>", "<|endoftext|>"};
    static const char *const eos[] = {"</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>"};
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(added, i), *content = json_object_get(a, "content");
        const json_t *idv = json_object_get(a, "id");
        json_int_t id = json_is_integer(idv) ? json_integer_value(idv) : -1;
        size_t len = json_string_length(content);
        if (!json_is_object(a) || !json_is_string(content) || !len || len > DY_TOK_MAX_PIECE || id < 0 ||
            id >= DY_TOK_MAX_VOCAB)
            return bpe_err(err, cap, "%s: added_tokens[%zu] needs an \"id\" (0 to %d) and a \"content\" of 1 to %d bytes",
                          name, i, DY_TOK_MAX_VOCAB - 1, DY_TOK_MAX_PIECE);
        const char *s = json_string_value(content);
        if (!unused(a, "lstrip") || !unused(a, "rstrip") || !unused(a, "single_word") || memchr(s, 0, len))
            return bpe_err(err, cap, "%s: added_tokens[%zu] \"%.64s\": lstrip, rstrip and single_word are not supported",
                          name, i, s);
        char *copy = malloc(len + 1);
        if (!copy) return bpe_err(err, cap, "%s: out of memory", name);
        memcpy(copy, s, len + 1);
        b->added[b->n_added++] = (added_token){copy, len, (int32_t)id};
        b->added_first[(uint8_t)s[0]] = 1;
        if (id + 1 > b->V) b->V = (int)id + 1;
        if (json_is_true(json_object_get(a, "special"))) {
            for (int j = 0; j < 5; j++)
                if (b->special[DYTCL_TOKEN_BOS] < 0 && !strcmp(s, bos[j])) b->special[DYTCL_TOKEN_BOS] = (int32_t)id;
            for (int j = 0; j < 4; j++)
                if (b->special[DYTCL_TOKEN_EOS] < 0 && !strcmp(s, eos[j])) b->special[DYTCL_TOKEN_EOS] = (int32_t)id;
        }
    }
    return 0;
}

/* Every id's bytes: vocabulary strings through the inverse byte map (a
 * character outside it stays as its UTF-8), added tokens as their content. */
static int build_pieces(dy_bpe *b, const char *name, char *err, size_t cap)
{
    uint32_t cp_of[256];
    int16_t byte_of[324];
    byte_map(cp_of, byte_of);
    size_t total = 0;
    for (int i = 0; i < b->n_str; i++) total += strlen(b->str[i]);
    for (int i = 0; i < b->n_added; i++) total += b->added[i].len;
    b->off = calloc((size_t)b->V + 1, sizeof *b->off), b->known = calloc((size_t)b->V, 1);
    b->bytes = malloc(total + 1);
    const char **src = calloc((size_t)b->V, sizeof *src); /* the string each id decodes from */
    uint8_t *raw = calloc((size_t)b->V, 1);                /* 1: an added token's content, taken as it is */
    if (!b->off || !b->known || !b->bytes || !src || !raw) {
        free(src), free(raw);
        return bpe_err(err, cap, "%s: out of memory for %d tokens", name, b->V);
    }
    for (int i = 0; i < b->n_str; i++) {
        int32_t id = b->str_id[i];
        if (src[id]) {
            free(src), free(raw);
            return bpe_err(err, cap, "%s: model.vocab gives id %d to two tokens", name, id);
        }
        src[id] = b->str[i];
    }
    for (int i = 0; i < b->n_added; i++) src[b->added[i].id] = b->added[i].content, raw[b->added[i].id] = 1;
    size_t at = 0;
    for (int id = 0; id < b->V; id++) {
        b->off[id] = at;
        if (!src[id]) continue;
        b->known[id] = 1;
        const uint8_t *s = (const uint8_t *)src[id];
        size_t n = strlen(src[id]);
        if (raw[id]) {
            memcpy(b->bytes + at, s, n), at += n;
            continue;
        }
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t k = dy_utf8_next(s + i, n - i, &cp);
            if (!k) {
                free(src), free(raw);
                return bpe_err(err, cap, "%s: token %d is not UTF-8", name, id);
            }
            if (cp < 324 && byte_of[cp] >= 0) b->bytes[at++] = (uint8_t)byte_of[cp];
            else memcpy(b->bytes + at, s + i, k), at += k;
            i += k;
        }
    }
    b->off[b->V] = at;
    for (int by = 0; by < 256; by++) {
        uint8_t u[4];
        b->byte_id[by] = vocab_find(b, (const char *)u, utf8_put(cp_of[by], u));
    }
    free(src), free(raw);
    return 0;
}

static int check_structure(const json_t *root, const char *name, char *err, size_t cap)
{
    const json_t *model = json_object_get(root, "model"), *pre = json_object_get(root, "pre_tokenizer");
    const json_t *dec = json_object_get(root, "decoder"), *norm = json_object_get(root, "normalizer");
    if (!json_is_object(root)) return bpe_err(err, cap, "%s: not a JSON object", name);
    if (!json_is_object(model) || !type_is(model, "BPE"))
        return bpe_err(err, cap, "%s: model.type is not \"BPE\" (only byte-level BPE tokenizer.json is supported)", name);
    if (!json_is_object(json_object_get(model, "vocab")) || !json_is_array(json_object_get(model, "merges")))
        return bpe_err(err, cap, "%s: model.vocab must be an object and model.merges an array", name);
    if (!unused(model, "dropout") || !unused(model, "continuing_subword_prefix") || !unused(model, "end_of_word_suffix"))
        return bpe_err(err, cap, "%s: model.dropout, continuing_subword_prefix and end_of_word_suffix are not supported", name);
    if (norm && !json_is_null(norm)) return bpe_err(err, cap, "%s: a normalizer is not supported (only null)", name);
    if (!json_is_object(pre) || !type_is(pre, "ByteLevel"))
        return bpe_err(err, cap, "%s: pre_tokenizer is not ByteLevel (only GPT-2-style byte-level BPE is supported)", name);
    const json_t *re = json_object_get(pre, "use_regex");
    if (re && !json_is_true(re)) return bpe_err(err, cap, "%s: pre_tokenizer.use_regex false is not supported", name);
    if (dec && !json_is_null(dec) && !type_is(dec, "ByteLevel"))
        return bpe_err(err, cap, "%s: decoder is not ByteLevel (or null)", name);
    const json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) return bpe_err(err, cap, "%s: added_tokens is not an array", name);
    return 0;
}

int dy_bpe_load(const uint8_t *data, size_t len, const char *name, dy_bpe **out, char *err, size_t cap)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return bpe_err(err, cap, "%s: not valid JSON (line %d, column %d: %s)", name, je.line, je.column, je.text);
    dy_bpe *b = calloc(1, sizeof *b);
    if (!b) return json_decref(root), bpe_err(err, cap, "%s: out of memory", name);
    b->special[0] = b->special[1] = b->special[2] = -1;
    const json_t *model = json_object_get(root, "model");
    int bad = check_structure(root, name, err, cap) || load_vocab(b, json_object_get(model, "vocab"), name, err, cap) ||
              load_merges(b, json_object_get(model, "merges"), name, err, cap) ||
              load_added(b, json_object_get(root, "added_tokens"), name, err, cap) ||
              build_pieces(b, name, err, cap);
    if (!bad) {
        b->add_prefix_space = json_is_true(json_object_get(json_object_get(root, "pre_tokenizer"), "add_prefix_space"));
        b->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
        const char *unk = json_string_value(json_object_get(model, "unk_token"));
        if (unk && (b->special[DYTCL_TOKEN_UNK] = vocab_find(b, unk, strlen(unk))) < 0)
            for (int i = 0; i < b->n_added; i++)
                if (!strcmp(b->added[i].content, unk)) b->special[DYTCL_TOKEN_UNK] = b->added[i].id;
    }
    json_decref(root);
    if (bad) return dy_bpe_free(b), -1;
    *out = b;
    return 0;
}

/* ------------------------------------------------------------ encoding */

typedef struct {
    int32_t *v;
    size_t n, cap;
} id_list;

static int push(id_list *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 256;
        if (c > SIZE_MAX / sizeof *l->v) return -1;
        int32_t *v = realloc(l->v, c * sizeof *v);
        if (!v) return -1;
        l->v = v, l->cap = c;
    }
    l->v[l->n++] = id;
    return 0;
}

/* The scratch of one word's merges: symbols as a linked list, candidate
 * merges in a min-heap by (rank, position), stale ones skipped when popped. */
typedef struct {
    int32_t *id, *prev, *next;
    struct cand { int32_t rank, pos, left, right; } *heap;
    size_t cap, hn;
} word_work;

static int work_reserve(word_work *w, size_t n)
{
    if (n <= w->cap) return 0;
    if (n > (size_t)INT32_MAX / 3) return -1;
    int32_t *a = realloc(w->id, n * sizeof *a), *p, *q;
    if (!a) return -1;
    w->id = a;
    if (!(p = realloc(w->prev, n * sizeof *p))) return -1;
    w->prev = p;
    if (!(q = realloc(w->next, n * sizeof *q))) return -1;
    w->next = q;
    struct cand *h = realloc(w->heap, 3 * n * sizeof *h);
    if (!h) return -1;
    w->heap = h, w->cap = n;
    return 0;
}

static int cand_less(const struct cand *a, const struct cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(word_work *w, struct cand c)
{
    size_t i = w->hn++;
    while (i && cand_less(&c, &w->heap[(i - 1) / 2])) w->heap[i] = w->heap[(i - 1) / 2], i = (i - 1) / 2;
    w->heap[i] = c;
}

static struct cand heap_pop(word_work *w)
{
    struct cand top = w->heap[0], last = w->heap[--w->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->hn) break;
        if (c + 1 < w->hn && cand_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!cand_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c], i = c;
    }
    if (w->hn) w->heap[i] = last;
    return top;
}

/* A candidate merge of the symbols at pos and next[pos], when there is one. */
static void consider(const dy_bpe *b, word_work *w, int32_t pos)
{
    int32_t nx = pos >= 0 ? w->next[pos] : -1;
    if (nx < 0) return;
    size_t h = merge_slot(b, w->id[pos], w->id[nx]);
    if (b->mkey[h]) heap_push(w, (struct cand){b->mrank[h], pos, w->id[pos], w->id[nx]});
}

/* One pre-token s[0..n) as ids appended to out. */
static int encode_word(const dy_bpe *b, const uint8_t *s, size_t n, word_work *w, id_list *out, char *err, size_t cap)
{
    if (b->ignore_merges && n <= DY_TOK_MAX_PIECE / 4) {
        uint32_t cp_of[256];
        int16_t byte_of[324];
        byte_map(cp_of, byte_of);
        char mapped[DY_TOK_MAX_PIECE];
        size_t m = 0;
        mapped[0] = '\0';
        for (size_t i = 0; i < n; i++) m += utf8_put(cp_of[s[i]], (uint8_t *)mapped + m);
        int32_t whole = vocab_find(b, mapped, m);
        if (whole >= 0) return push(out, whole) ? bpe_err(err, cap, "out of memory") : 0;
    }
    if (work_reserve(w, n)) return bpe_err(err, cap, "out of memory for a piece of %zu bytes", n);
    for (size_t i = 0; i < n; i++) {
        int32_t id = b->byte_id[s[i]];
        if (id < 0) id = b->special[DYTCL_TOKEN_UNK];
        if (id < 0) return bpe_err(err, cap, "byte 0x%02X has no token and the tokenizer has no unk_token", s[i]);
        w->id[i] = id, w->prev[i] = (int32_t)i - 1, w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    w->hn = 0;
    for (size_t i = 0; i + 1 < n; i++) consider(b, w, (int32_t)i);
    while (w->hn) {
        struct cand c = heap_pop(w);
        int32_t nx = w->next[c.pos];
        if (w->id[c.pos] != c.left || nx < 0 || w->id[nx] != c.right || w->prev[c.pos] == -2) continue; /* stale */
        size_t h = merge_slot(b, c.left, c.right);
        w->id[c.pos] = b->mout[h];
        w->next[c.pos] = w->next[nx];
        if (w->next[nx] >= 0) w->prev[w->next[nx]] = c.pos;
        w->prev[nx] = -2, w->id[nx] = -1; /* removed */
        consider(b, w, w->prev[c.pos]);
        consider(b, w, c.pos);
    }
    for (int32_t i = 0; i >= 0; i = w->next[i])
        if (push(out, w->id[i])) return bpe_err(err, cap, "out of memory");
    return 0;
}

/* A segment without added tokens: (a prefix space,) pre-tokens, their merges. */
static int encode_segment(const dy_bpe *b, const char *s, size_t n, word_work *w, id_list *out, char *err, size_t cap)
{
    char *prefixed = NULL;
    if (b->add_prefix_space && n && s[0] != ' ') {
        if (n == SIZE_MAX || !(prefixed = malloc(n + 1))) return bpe_err(err, cap, "out of memory");
        prefixed[0] = ' ', memcpy(prefixed + 1, s, n);
        s = prefixed, n++;
    }
    int rc = 0;
    for (size_t at = 0; at < n && !rc;) {
        size_t k = dy_pretok_next(s + at, n - at);
        rc = encode_word(b, (const uint8_t *)s + at, k, w, out, err, cap);
        at += k;
    }
    free(prefixed);
    return rc;
}

/* The longest added token at s[0..n): its index, or -1. */
static int added_at(const dy_bpe *b, const char *s, size_t n)
{
    if (!b->added_first[(uint8_t)s[0]]) return -1;
    int best = -1;
    for (int i = 0; i < b->n_added; i++)
        if (b->added[i].len <= n && !memcmp(b->added[i].content, s, b->added[i].len) &&
            (best < 0 || b->added[i].len > b->added[best].len))
            best = i;
    return best;
}

int dy_bpe_encode(const dy_bpe *b, const char *text, size_t n, int32_t **ids, size_t *count, char *err, size_t cap)
{
    *ids = NULL, *count = 0;
    id_list out = {0};
    word_work w = {0};
    int rc = 0;
    size_t seg = 0;
    for (size_t at = 0; at <= n && !rc;) {
        int a = at < n ? added_at(b, text + at, n - at) : -1;
        if (a < 0 && at < n) {
            at++;
            continue;
        }
        rc = encode_segment(b, text + seg, at - seg, &w, &out, err, cap);
        if (a < 0) break;
        if (!rc && push(&out, b->added[a].id)) rc = bpe_err(err, cap, "out of memory");
        at += b->added[a].len, seg = at;
    }
    free(w.id), free(w.prev), free(w.next), free(w.heap);
    if (rc) return free(out.v), -1;
    if (!out.v && !(out.v = malloc(sizeof *out.v))) return bpe_err(err, cap, "out of memory");
    *ids = out.v, *count = out.n;
    return 0;
}
