/* test_tokenizer.c -- the tokenizer API (dytcl_tokenizer.h).
 *
 * Byte-level BPE from a tokenizer.json: encoding hundreds of texts (scripts,
 * accents, CJK, emoji, digits, whitespace runs, contractions, the added
 * token) gives exactly the ids of Hugging Face's `tokenizers`
 * (tests/reference/bpe-expected.json, made by make_tokenizer_fixture.py),
 * and decoding gives the text back. Also: the GPT-2 split on chosen
 * strings, the byte-level tokenizer, special ids, pieces, a tokenizer
 * through checkpoint metadata and back, invalid UTF-8 and ids refused, and
 * malformed tokenizer.json files refused with a message naming the fault. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dytcl_tokenizer.h"
#include "tokenizer_internal.h"

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) free(b), b = NULL;
    fclose(f);
    if (b) b[len] = '\0', *n = (size_t)len;
    return b;
}

static void against_reference(const dytcl_tokenizer *t)
{
    json_error_t je;
    json_t *cases = json_load_file(REF_DIR "/bpe-expected.json", 0, &je);
    CHECK(json_is_array(cases) && json_array_size(cases) > 200, "bpe-expected.json: %s", je.text);
    size_t i, tokens = 0, mismatched = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_array_get(c, 0));
        size_t n = json_string_length(json_array_get(c, 0));
        json_t *want = json_array_get(c, 1);
        int32_t *ids = NULL;
        size_t count = 0;
        dytcl_status s = dytcl_tokenizer_encode(t, text, n, &ids, &count);
        int same = !s && count == json_array_size(want);
        for (size_t k = 0; same && k < count; k++) same = ids[k] == json_integer_value(json_array_get(want, k));
        if (!same && mismatched++ < 5) {
            fprintf(stderr, "case %zu \"%.80s\": %zu ids (want %zu):", i, text, count, json_array_size(want));
            for (size_t k = 0; k < count && k < 24; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n  want:");
            for (size_t k = 0; k < json_array_size(want) && k < 24; k++)
                fprintf(stderr, " %d", (int)json_integer_value(json_array_get(want, k)));
            fputc('\n', stderr);
        }
        char *back = NULL;
        size_t len = 0;
        CHECK(!s && !dytcl_tokenizer_decode(t, ids, count, &back, &len) && len == n && !memcmp(back, text, n),
              "case %zu: decode(encode(x)) != x", i);
        tokens += count;
        free(ids), free(back);
    }
    CHECK(!mismatched, "%zu of %zu cases encode differently from the reference", mismatched, json_array_size(cases));
    printf("reference: %zu texts, %zu tokens, %zu differ\n", json_array_size(cases), tokens, mismatched);
    json_decref(cases);
}

/* The GPT-2 split of s, as pieces joined by '|'. */
static void split_is(const char *s, const char *want)
{
    char got[512] = "";
    size_t n = strlen(s), at = 0, g = 0;
    while (at < n && g + 40 < sizeof got) {
        size_t k = dy_pretok_next(s + at, n - at);
        if (g) got[g++] = '|';
        memcpy(got + g, s + at, k), g += k, at += k;
        got[g] = '\0';
    }
    CHECK(!strcmp(got, want), "split of \"%s\": \"%s\", want \"%s\"", s, got, want);
}

static void pretokenizer(void)
{
    split_is("Hello world", "Hello| world");
    split_is("don't", "don|'t");
    split_is("we'll they're I'VE", "we|'ll| they|'re| I|'|VE");
    split_is("a   b", "a|  | b");
    split_is("a\n\nb", "a|\n|\n|b");
    split_is("x  ", "x|  ");
    split_is("12abc 345", "12|abc| 345");
    split_is("caf\xc3\xa9!!", "caf\xc3\xa9|!!");
    split_is(" \xe6\x97\xa5\xe6\x9c\xac", " \xe6\x97\xa5\xe6\x9c\xac");
    split_is("hi \xf0\x9f\x99\x82\xf0\x9f\x99\x82", "hi| \xf0\x9f\x99\x82\xf0\x9f\x99\x82");
    CHECK(dy_is_letter(0x4E2D) && dy_is_letter(0xE9) && !dy_is_letter('1') && dy_is_number(0x0663) &&
              dy_is_number(0xBD) && !dy_is_number('a') && dy_is_space(0x3000) && !dy_is_space(0x200B),
          "Unicode classes");
}

static void bytes_tokenizer(void)
{
    dytcl_tokenizer *t = NULL;
    CHECK_OK(NULL, dytcl_tokenizer_create_bytes(&t));
    if (!t) return;
    const char text[] = "a\xff\x00z";
    int32_t *ids = NULL;
    size_t n = 0;
    char *back = NULL, c;
    size_t len = 0;
    CHECK(!dytcl_tokenizer_encode(t, text, 4, &ids, &n) && n == 4 && ids[1] == 255 && ids[2] == 0, "bytes encode");
    CHECK(!dytcl_tokenizer_decode(t, ids, n, &back, &len) && len == 4 && !memcmp(back, text, 4), "bytes decode");
    CHECK(dytcl_tokenizer_vocab(t) == 256 && dytcl_tokenizer_special(t, DYTCL_TOKEN_EOS) == -1 &&
              dytcl_tokenizer_piece(t, 200, &c, 1) == 1 && (uint8_t)c == 200 && !dytcl_tokenizer_piece(t, 256, &c, 1),
          "bytes: V, specials, pieces");
    dytcl_meta md = {0};
    CHECK(!dytcl_tokenizer_to_meta(t, &md) && md.n == 0, "a byte-level tokenizer writes no metadata");
    dytcl_tokenizer *u = NULL;
    CHECK(!dytcl_tokenizer_from_meta(&md, "x", &u) && dytcl_tokenizer_get_kind(u) == DYTCL_TOKENIZER_BYTES,
          "metadata without a tokenizer: bytes");
    free(ids), free(back);
    dytcl_tokenizer_free(u), dytcl_tokenizer_free(t);
}

static void bpe_details(const dytcl_tokenizer *t)
{
    CHECK(dytcl_tokenizer_get_kind(t) == DYTCL_TOKENIZER_BPE && dytcl_tokenizer_vocab(t) == 657, "kind and V = %d",
          dytcl_tokenizer_vocab(t));
    CHECK(dytcl_tokenizer_special(t, DYTCL_TOKEN_EOS) == 0 && dytcl_tokenizer_special(t, DYTCL_TOKEN_BOS) == 0 &&
              dytcl_tokenizer_special(t, DYTCL_TOKEN_UNK) == -1,
          "<|endoftext|> is bos and eos, no unk");
    char buf[64];
    size_t k = dytcl_tokenizer_piece(t, 0, buf, sizeof buf);
    CHECK(k == 13 && !memcmp(buf, "<|endoftext|>", 13), "the added token's piece is its content");
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(dytcl_tokenizer_encode(t, "ok \xc3(", 5, &ids, &n) == DYTCL_ERR_INVALID_ARG &&
              strstr(dytcl_last_error(NULL), "byte 3"),
          "invalid UTF-8 refused naming the offset: %s", dytcl_last_error(NULL));
    int32_t bad[] = {5, 657};
    char *text = NULL;
    size_t len = 0;
    CHECK(dytcl_tokenizer_decode(t, bad, 2, &text, &len) == DYTCL_ERR_INVALID_ARG && !text &&
              strstr(dytcl_last_error(NULL), "657"),
          "an id out of range refused: %s", dytcl_last_error(NULL));
    /* through checkpoint metadata and back */
    dytcl_meta md = {0};
    dytcl_tokenizer *u = NULL;
    CHECK(!dytcl_tokenizer_to_meta(t, &md) && !dytcl_tokenizer_from_meta(&md, "ckpt", &u) &&
              dytcl_tokenizer_vocab(u) == 657,
          "metadata round trip: %s", dytcl_last_error(NULL));
    const char s[] = "The tokenizer travels in the checkpoint's metadata.";
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(u && !dytcl_tokenizer_encode(t, s, sizeof s - 1, &a, &na) && !dytcl_tokenizer_encode(u, s, sizeof s - 1, &b, &nb) &&
              na == nb && !memcmp(a, b, na * sizeof *a) && na < sizeof s - 1,
          "the same ids after the round trip (%zu tokens for %zu bytes)", na, sizeof s - 1);
    dytcl_meta_set(&md, "tokenizer_vocab", "656");
    dytcl_tokenizer *w = NULL;
    CHECK(dytcl_tokenizer_from_meta(&md, "ckpt", &w) == DYTCL_ERR_FORMAT && !w && strstr(dytcl_last_error(NULL), "656"),
          "a wrong tokenizer_vocab refused: %s", dytcl_last_error(NULL));
    dytcl_meta_set(&md, "tokenizer", "not base64!");
    CHECK(dytcl_tokenizer_from_meta(&md, "ckpt", &w) == DYTCL_ERR_FORMAT && strstr(dytcl_last_error(NULL), "base64"),
          "bad base64 refused: %s", dytcl_last_error(NULL));
    free(ids), free(a), free(b);
    dytcl_meta_clear(&md);
    dytcl_tokenizer_free(u);
}

/* The fixture with `from` replaced by `to` (once) must be refused with a message containing `says`. */
static void refused(const char *json, const char *from, const char *to, const char *says)
{
    const char *at = strstr(json, from);
    CHECK(at, "the fixture has no \"%s\"", from);
    if (!at) return;
    size_t n = strlen(json), a = (size_t)(at - json), fl = strlen(from), tl = strlen(to);
    char *s = malloc(n - fl + tl + 1);
    memcpy(s, json, a), memcpy(s + a, to, tl), memcpy(s + a + tl, at + fl, n - a - fl + 1);
    dytcl_tokenizer *t = (dytcl_tokenizer *)1;
    dytcl_status st = dytcl_tokenizer_load_bytes(s, strlen(s), "bad.json", &t);
    CHECK(st == DYTCL_ERR_FORMAT && !t && strstr(dytcl_last_error(NULL), "bad.json") &&
              strstr(dytcl_last_error(NULL), says),
          "\"%s\" -> \"%s\": %s, \"%s\"", from, to, dytcl_status_name(st), dytcl_last_error(NULL));
    free(s);
}

static void malformed(const char *json, size_t n)
{
    dytcl_tokenizer *t = NULL;
    for (size_t cut = 1; cut < n; cut += n / 7) {
        CHECK(dytcl_tokenizer_load_bytes(json, cut, "cut.json", &t) == DYTCL_ERR_FORMAT && !t &&
                  strstr(dytcl_last_error(NULL), "not valid JSON"),
              "truncated at %zu: %s", cut, dytcl_last_error(NULL));
    }
    refused(json, "\"type\": \"BPE\"", "\"type\": \"WordPiece\"", "model.type");
    refused(json, "\"type\": \"ByteLevel\"", "\"type\": \"Whitespace\"", "pre_tokenizer");
    refused(json, "\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}", "normalizer");
    refused(json, "\"dropout\": null", "\"dropout\": 0.1", "dropout");
    refused(json, "\"lstrip\": false", "\"lstrip\": true", "lstrip");
    refused(json, "\"merges\": [", "\"merges\": [\"no_such_token x\", ", "merges[0]");
    refused(json, "\"merges\": [", "\"merges\": [[\"a\"], ", "merges[0]");
    refused(json, "\"merges\": [", "\"merges\": [\"a b c\", ", "merges[0]");
    refused(json, "\"vocab\": {", "\"vocab\": {\"neg\": -4, ", "model.vocab");
    refused(json, "\"vocab\": {", "\"vocab\": {\"big\": 99999999, ", "model.vocab");
    refused(json, "\"vocab\": {", "\"vocab\": {\"twin\": 5, ", "id 5");
    refused(json, "\"vocab\": {", "\"vocab\": [], \"x\": {", "model.vocab");
    refused(json, "\"content\": \"<|endoftext|>\"", "\"content\": 7", "added_tokens[0]");
    CHECK(dytcl_tokenizer_load_bytes("{}", 2, "empty.json", &t) == DYTCL_ERR_FORMAT && strstr(dytcl_last_error(NULL), "model.type"),
          "{} refused: %s", dytcl_last_error(NULL));
    CHECK(dytcl_tokenizer_load_file("/nonexistent/tok.json", &t) == DYTCL_ERR_IO && strstr(dytcl_last_error(NULL), "/nonexistent"),
          "a missing file: %s", dytcl_last_error(NULL));
    CHECK(dytcl_tokenizer_load_file("/", &t) == DYTCL_ERR_IO, "a directory: %s", dytcl_last_error(NULL));
    CHECK(dytcl_tokenizer_encode(NULL, "x", 1, NULL, NULL) == DYTCL_ERR_INVALID_ARG, "NULL arguments");
}

int main(void)
{
    pretokenizer();
    bytes_tokenizer();
    dytcl_tokenizer *t = NULL;
    CHECK_OK(NULL, dytcl_tokenizer_load_file(REF_DIR "/bpe-tokenizer.json", &t));
    if (t) {
        bpe_details(t);
        against_reference(t);
    }
    dytcl_tokenizer_free(t);
    size_t n = 0;
    char *json = read_all(REF_DIR "/bpe-tokenizer.json", &n);
    CHECK(json, "reading the fixture");
    if (json) malformed(json, n);
    free(json);
    return check_done("test_tokenizer");
}
