/* test_tokfile.c -- token files (models/cli/tokfile.c) and the base64 that
 * carries a tokenizer in checkpoint metadata (models/base64.c): files
 * written here have llm.c's exact layout and read back to the same tokens
 * and batches; every malformed file is refused with a message naming it;
 * base64 matches RFC 4648's vectors and refuses what is not canonical. No
 * device needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data.h"
#include "tokenizer_internal.h"
#include "tokfile.h"

static uint8_t *slurp(const char *path, size_t *n)
{
    uint8_t *b = NULL;
    char err[512];
    CHECK(data_read_file(path, 0, &b, n, err, sizeof err) == 0, "%s", err);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n, "cannot write %s", path);
    if (f) fclose(f);
}

/* A token file at path, as dytcl tokenize encode writes it. */
static int tokfile_write(const char *path, const int32_t *t, size_t n, uint32_t vocab, char *err, size_t cap)
{
    uint8_t *buf;
    size_t len;
    if (tokfile_encode(t, n, vocab, &buf, &len, err, cap)) return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f) ok &= fclose(f) == 0;
    free(buf);
    if (!ok) snprintf(err, cap, "%s: cannot write", path);
    return ok ? 0 : -1;
}

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Writes n tokens below vocab, reads the file's bytes and the tokens back. */
static void round_trip(const char *path, size_t n, uint32_t vocab, unsigned long long seed)
{
    int32_t *t = malloc((n ? n : 1) * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = (int32_t)check_rand(&seed, 0, vocab);
    if (n) t[n - 1] = (int32_t)vocab - 1; /* the largest id */
    char err[512];
    CHECK(tokfile_write(path, t, n, vocab, err, sizeof err) == 0, "%s", err);
    size_t len;
    uint8_t *b = slurp(path, &len);
    size_t w = vocab > 65536 ? 4 : 2;
    CHECK(len == TOKFILE_HEADER_BYTES + n * w, "%s: %zu bytes for %zu tokens of width %zu", path, len, n, w);
    if (b && len >= TOKFILE_HEADER_BYTES) {
        CHECK(le32(b) == (w == 2 ? 20240520u : 20240801u), "magic %u", le32(b));
        CHECK(le32(b + 4) == (w == 2 ? 1u : 7u), "version %u", le32(b + 4));
        CHECK(le32(b + 8) == n, "count %u, wrote %zu", le32(b + 8), n);
        int zero = 1;
        for (int i = 12; i < TOKFILE_HEADER_BYTES; i++) zero &= b[i] == 0;
        CHECK(zero, "header slots 3..255 are not 0");
        for (size_t i = 0; i < n && len == TOKFILE_HEADER_BYTES + n * w; i++) {
            const uint8_t *p = b + TOKFILE_HEADER_BYTES + i * w;
            uint32_t v = w == 2 ? (uint32_t)(p[0] | p[1] << 8) : le32(p);
            if (v != (uint32_t)t[i]) {
                CHECK(0, "%s: token %zu is %u on disk, wrote %d", path, i, v, t[i]);
                break;
            }
        }
        uint32_t *back;
        size_t count;
        CHECK(tokfile_parse(b, len, path, vocab, &back, &count, err, sizeof err) == 0, "%s", err);
        CHECK(count == n, "read %zu tokens, wrote %zu", count, n);
        CHECK(count != n || !n || !memcmp(back, t, n * sizeof *t), "%s: tokens differ after reading", path);
        free(back);
        /* one id too many for the vocabulary */
        if (n) {
            CHECK(tokfile_parse(b, len, path, vocab - 1, &back, &count, err, sizeof err) != 0 && !back && !count,
                  "a token = vocab accepted");
            CHECK(strstr(err, path) && strstr(err, "outside the vocabulary"), "message: %s", err);
        }
    }
    free(b), free(t);
}

/* tokfile_parse must refuse b[0..n) with a message naming the file and containing `why`. */
static void refused(const char *what, const uint8_t *b, size_t n, uint32_t vocab, const char *why)
{
    uint32_t *t = (uint32_t *)&t;
    size_t count = 1;
    char err[512] = "";
    int rc = tokfile_parse(b, n, "bad.bin", vocab, &t, &count, err, sizeof err);
    CHECK(rc != 0 && t == NULL && count == 0, "%s: accepted", what);
    CHECK(strstr(err, "bad.bin") && strstr(err, why), "%s: message \"%s\" lacks the file or \"%s\"", what, err, why);
    free(t);
}

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24); }

static void malformed(void)
{
    uint8_t b[TOKFILE_HEADER_BYTES + 16] = {0};
    put32(b, 20240520), put32(b + 4, 1), put32(b + 8, 8); /* 8 uint16 tokens: 16 bytes */
    for (int i = 0; i < 8; i++) b[TOKFILE_HEADER_BYTES + 2 * i] = (uint8_t)(i * 7);
    uint32_t *t;
    size_t count;
    char err[512];
    CHECK(tokfile_parse(b, sizeof b, "ok.bin", 256, &t, &count, err, sizeof err) == 0 && count == 8 && t[7] == 49,
          "a valid file refused: %s", err);
    free(t);
    refused("empty file", b, 0, 256, "shorter than the 1024-byte header");
    refused("half a header", b, 512, 256, "shorter than the 1024-byte header");
    refused("truncated tokens", b, sizeof b - 3, 256, "the header says 8 tokens");
    refused("an odd trailing byte", b, sizeof b - 1, 256, "the header says 8 tokens");
    refused("a token outside the vocabulary", b, sizeof b, 49, "token 7 is 49");
    uint8_t c[sizeof b];
    memcpy(c, b, sizeof b), put32(c + 8, 9);
    refused("count larger than the file", c, sizeof c, 256, "the header says 9 tokens");
    memcpy(c, b, sizeof b), put32(c + 8, 7);
    refused("count smaller than the file", c, sizeof c, 256, "the header says 7 tokens");
    memcpy(c, b, sizeof b), put32(c + 8, 0x80000000u);
    refused("negative count", c, sizeof c, 256, "negative token count");
    memcpy(c, b, sizeof b), put32(c, 20240521);
    refused("bad magic", c, sizeof c, 256, "bad magic 20240521");
    memcpy(c, b, sizeof b), put32(c + 4, 2);
    refused("uint16 magic, version 2", c, sizeof c, 256, "version 2");
    memcpy(c, b, sizeof b), put32(c, 20240801), put32(c + 4, 1);
    refused("uint32 magic, version 1", c, sizeof c, 256, "version 1");
    memcpy(c, b, sizeof b), put32(c, 20240801), put32(c + 4, 7), put32(c + 8, 4); /* 4 uint32 of the same 16 bytes */
    CHECK(tokfile_parse(c, sizeof c, "u32.bin", 1 << 23, &t, &count, err, sizeof err) == 0 && count == 4 &&
              t[1] == (14u | 21u << 16),
          "a uint32 file refused or misread: %s", err);
    free(t);
    CHECK(tokfile_has_magic(b, 4) && !tokfile_has_magic(b, 3) && !tokfile_has_magic((const uint8_t *)"the ", 4),
          "tokfile_has_magic");
    int32_t neg[2] = {3, -1};
    CHECK(tokfile_write("never.bin", neg, 2, 256, err, sizeof err) != 0 && access("never.bin", F_OK) != 0,
          "a negative token written");
}

/* A token file as training data: its splits and batches are its tokens. */
static void as_data(const char *path)
{
    enum { N = 1000, V = 5000 };
    int32_t t[N];
    unsigned long long seed = 9;
    for (int i = 0; i < N; i++) t[i] = (int32_t)check_rand(&seed, 0, V);
    t[N / 2] = V - 1; /* the largest id, in the train split */
    char err[512];
    CHECK(tokfile_write(path, t, N, V, err, sizeof err) == 0, "%s", err);
    CHECK(text_data_is_token_file(path), "%s not seen as a token file", path);
    text_data *d = NULL;
    CHECK(text_data_load_tokens(path, V, 0.1, 16, 0, &d, err, sizeof err) == 0, "%s", err);
    if (!d) return;
    CHECK(text_data_size(d, 0) == 900 && text_data_size(d, 1) == 100, "splits %zu / %zu", text_data_size(d, 0),
          text_data_size(d, 1));
    int32_t tk[4 * 16], tg[4 * 16];
    text_data_val_batch(d, 0, 4, 16, tk, tg);
    int same = 1;
    for (int p = 0; p < 4 * 16; p++) same &= tk[p] == t[900 + p] && tg[p] == t[901 + p];
    CHECK(same, "the first val batch is not the val split's tokens in order");
    uint64_t rng = 5;
    text_data_train_batch(d, 4, 16, &rng, tk, tg);
    for (int b = 0; b < 4; b++) {
        int found = 0;
        for (int o = 0; o + 16 < 900 && !found; o++)
            found = !memcmp(tk + b * 16, t + o, 16 * sizeof *t) && !memcmp(tg + b * 16, t + o + 1, 16 * sizeof *t);
        CHECK(found, "train row %d is not a window of the train split", b);
    }
    text_data_free(d);
    CHECK(text_data_load_tokens(path, V - 1, 0.1, 16, 0, &d, err, sizeof err) != 0, "a token = vocab accepted");
    text_data_free(d);
    CHECK(text_data_load_tokens(path, V, 0.1, 600, 0, &d, err, sizeof err) != 0 && strstr(err, path),
          "a split shorter than T+1 accepted (%s)", err);
    size_t len;
    uint8_t *b = slurp(path, &len);
    if (b) spit("trunc.bin", b, len - 3);
    free(b);
    CHECK(text_data_load_tokens("trunc.bin", V, 0.1, 16, 0, &d, err, sizeof err) != 0 && !d && strstr(err, "trunc.bin"),
          "a truncated token file accepted (%s)", err);
    unlink("trunc.bin");
    CHECK(!text_data_is_token_file("no-such-file") && !text_data_is_token_file("."), "is_token_file");
}

static void base64(void)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *s = dy_base64((const uint8_t *)plain[i], strlen(plain[i]));
        CHECK(s && !strcmp(s, coded[i]), "base64(\"%s\") = \"%s\", RFC 4648 says \"%s\"", plain[i], s, coded[i]);
        uint8_t *b;
        size_t n;
        CHECK(dy_unbase64(coded[i], &b, &n) == 0 && n == strlen(plain[i]) && !memcmp(b, plain[i], n),
              "unbase64(\"%s\")", coded[i]);
        free(s), free(b);
    }
    static const char *bad[] = {"Zg=", "Zh==", "Zm9=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg=", "Zm 9v", "Zm9vYmFy\n"};
    for (int i = 0; i < 9; i++) {
        uint8_t *b = (uint8_t *)1;
        size_t n = 1;
        CHECK(dy_unbase64(bad[i], &b, &n) != 0 && !b && !n, "unbase64 accepted \"%s\"", bad[i]);
    }
    unsigned long long seed = 3;
    for (int len = 0; len < 300; len += 7) {
        uint8_t src[300];
        for (int i = 0; i < len; i++) src[i] = (uint8_t)check_rand(&seed, 0, 256);
        char *s = dy_base64(src, (size_t)len);
        uint8_t *b = NULL;
        size_t n = 0;
        CHECK(s && dy_unbase64(s, &b, &n) == 0 && n == (size_t)len && (!len || !memcmp(b, src, n)),
              "base64 round trip of %d bytes", len);
        free(s), free(b);
    }
}

int main(void)
{
    char dir[] = "/tmp/test_tokfile.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) return fprintf(stderr, "cannot make a work directory\n"), 1;
    round_trip("u16.bin", 0, 256, 1);
    round_trip("u16.bin", 1, 2, 2);
    round_trip("u16.bin", 5000, 65536, 3);
    round_trip("u32.bin", 5000, 65537, 4);
    round_trip("u32.bin", 777, 200000, 5);
    malformed();
    as_data("data.bin");
    base64();
    unlink("u16.bin"), unlink("u32.bin"), unlink("data.bin");
    if (chdir("/") == 0) rmdir(dir);
    return check_done("test_tokfile");
}
