/* test_idx.c -- the IDX reader's acceptances and refusals (each message
 * names the file and the fault), gzip through zlib, the seeded shuffle and
 * batches, and the augmentations. Host only. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkfifo, alarm */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "idx.h"

/* An IDX block of unsigned bytes: magic, dims, values (n bytes). */
static size_t make_idx(uint8_t *out, int ndim, const uint32_t *dims, const uint8_t *vals, size_t n)
{
    out[0] = out[1] = 0, out[2] = 8, out[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        for (int j = 0; j < 4; j++) out[4 + 4 * i + j] = (uint8_t)(dims[i] >> (24 - 8 * j));
    memcpy(out + 4 + 4 * ndim, vals, n);
    return 4 + 4 * (size_t)ndim + n;
}

static void write_gz(const char *path, const uint8_t *b, size_t n, size_t keep)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.full", path);
    gzFile g = gzopen(tmp, "wb");
    gzwrite(g, b, (unsigned)n);
    gzclose(g);
    FILE *f = fopen(tmp, "rb"), *o = fopen(path, "wb");
    uint8_t buf[4096];
    size_t got = fread(buf, 1, sizeof buf, f);
    fwrite(buf, 1, keep && keep < got ? keep : got, o);
    fclose(f), fclose(o), remove(tmp);
}

/* The parse is refused with a message containing both words. */
static void refused(const uint8_t *img, size_t ni, const uint8_t *lab, size_t nl, const char *w1, const char *w2)
{
    image_set s;
    char err[256] = "";
    int rc = dy_image_set_parse(img, ni, "img.idx", lab, nl, "lab.idx", 0, &s, err, sizeof err);
    CHECK(rc != 0 && !s.pixels && strstr(err, w1) && strstr(err, w2), "refusal expected with \"%s\", \"%s\": rc %d, %s",
          w1, w2, rc, err);
}

static void check_parse(void)
{
    uint8_t img[64], lab[32], pix[12], labels[2] = {3, 7};
    for (int i = 0; i < 12; i++) pix[i] = (uint8_t)(i * 20);
    size_t ni = make_idx(img, 3, (uint32_t[]){2, 2, 3}, pix, 12), nl = make_idx(lab, 1, (uint32_t[]){2}, labels, 2);
    image_set s;
    char err[256] = "";
    CHECK(dy_image_set_parse(img, ni, "img", lab, nl, "lab", 0, &s, err, sizeof err) == 0, "a valid pair refused: %s",
          err);
    CHECK(s.n == 2 && s.H == 2 && s.W == 3 && s.classes == 8 && !memcmp(s.pixels, pix, 12) && s.labels[1] == 7,
          "parsed n %d H %d W %d classes %d", s.n, s.H, s.W, s.classes);
    dy_image_set_free(&s);
    CHECK(dy_image_set_parse(img, ni, "img", lab, nl, "lab", 1, &s, err, sizeof err) == 0 && s.n == 1, "limit 1: n %d",
          s.n);
    dy_image_set_free(&s);
    refused(img, 3, lab, nl, "img.idx", "truncated");
    refused(img, ni - 1, lab, nl, "img.idx", "truncated");
    refused(img, 10, lab, nl, "img.idx", "header");
    refused(lab, nl, lab, nl, "img.idx", "dimensions");  /* labels where images belong */
    refused(img, ni, img, ni, "lab.idx", "dimensions");  /* and the other way */
    uint8_t bad[64];
    memcpy(bad, img, ni), bad[1] = 1;
    refused(bad, ni, lab, nl, "img.idx", "magic");
    memcpy(bad, img, ni), bad[2] = 0x0d;
    refused(bad, ni, lab, nl, "img.idx", "type");
    memcpy(bad, img, ni), bad[ni] = 0;
    refused(bad, ni + 1, lab, nl, "img.idx", "trailing");
    size_t n3 = make_idx(bad, 1, (uint32_t[]){3}, (uint8_t[]){1, 2, 3}, 3);
    refused(img, ni, bad, n3, "2 images", "3 labels");
    n3 = make_idx(bad, 3, (uint32_t[]){0, 2, 3}, pix, 0);
    refused(bad, n3, lab, nl, "img.idx", "is 0");
}

static void check_files(void)
{
    uint8_t img[64], lab[32], pix[12] = {0}, labels[2] = {1, 0};
    size_t ni = make_idx(img, 3, (uint32_t[]){2, 2, 3}, pix, 12), nl = make_idx(lab, 1, (uint32_t[]){2}, labels, 2);
    const char *gi = "test-idx-images.gz", *gl = "test-idx-labels.gz", *cut = "test-idx-cut.gz";
    write_gz(gi, img, ni, 0), write_gz(gl, lab, nl, 0), write_gz(cut, img, ni, 20);
    image_set s;
    char err[256] = "";
    CHECK(dy_image_set_load(gi, gl, 0, 0, &s, err, sizeof err) == 0 && s.n == 2, "gzip pair refused: %s", err);
    dy_image_set_free(&s);
    CHECK(dy_image_set_load(cut, gl, 0, 0, &s, err, sizeof err) != 0 && strstr(err, cut) && strstr(err, "gzip"),
          "a truncated gzip stream accepted or unnamed: %s", err);
    CHECK(dy_image_set_load("no-such-file.gz", gl, 0, 0, &s, err, sizeof err) != 0 && strstr(err, "no-such-file.gz"),
          "a missing file accepted or unnamed: %s", err);
    CHECK(dy_image_set_load(gi, gl, 0, 20, &s, err, sizeof err) != 0 && strstr(err, "limit"),
          "a file past max_bytes accepted: %s", err);
    /* a FIFO would block open() until a writer came (the alarm fails the
     * test instead of hanging it), a directory is no file */
    const char *fifo = "test-idx-fifo";
    remove(fifo);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo failed");
    alarm(20);
    CHECK(dy_image_set_load(fifo, gl, 0, 0, &s, err, sizeof err) != 0 && strstr(err, fifo) &&
              strstr(err, "regular file"), "a FIFO of images accepted or unnamed: %s", err);
    CHECK(dy_image_set_load(gi, fifo, 0, 0, &s, err, sizeof err) != 0 && strstr(err, fifo) &&
              strstr(err, "regular file"), "a FIFO of labels accepted or unnamed: %s", err);
    CHECK(dy_image_set_load(".", gl, 0, 0, &s, err, sizeof err) != 0 && strstr(err, "regular file"),
          "a directory accepted: %s", err);
    alarm(0);
    remove(fifo);
    remove(gi), remove(gl), remove(cut);
    /* the real data set, when installed */
    const char *fi = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *fl = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    FILE *f = fopen(fi, "rb");
    if (!f) return;
    fclose(f);
    CHECK(dy_image_set_load(fi, fl, 0, 0, &s, err, sizeof err) == 0, "Fashion-MNIST test set refused: %s", err);
    CHECK(s.n == 10000 && s.H == 28 && s.W == 28 && s.classes == 10, "Fashion-MNIST: n %d, %d x %d, %d classes",
          s.n, s.H, s.W, s.classes);
    int count[10] = {0};
    for (int i = 0; i < s.n; i++) count[s.labels[i] % 10]++;
    CHECK(count[0] == 1000 && count[9] == 1000, "Fashion-MNIST test classes: %d and %d of 1000", count[0], count[9]);
    dy_image_set_free(&s);
}

static void check_batches(void)
{
    enum { N = 50, H = 4, W = 5, B = 8 };
    image_set s = {N, H, W, 10, malloc(N * H * W), malloc(N)};
    for (int i = 0; i < N * H * W; i++) s.pixels[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < N; i++) s.labels[i] = (uint8_t)(i % 10);
    uint32_t a[N], o2[N];
    uint64_t r1 = 99, r2 = 99, r3 = 100;
    dy_image_set_shuffle(a, N, &r1), dy_image_set_shuffle(o2, N, &r2);
    CHECK(!memcmp(a, o2, sizeof a) && r1 == r2, "the same seed gave different orders");
    int seen[N] = {0}, moved = 0;
    for (int i = 0; i < N; i++) seen[a[i]]++, moved += a[i] != (uint32_t)i;
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1, "order is not a permutation at %d", i);
    CHECK(moved > N / 2, "the shuffle left %d of %d in place", N - moved, N);
    dy_image_set_shuffle(o2, N, &r3);
    CHECK(memcmp(a, o2, sizeof a), "two seeds gave the same order");
    /* no augmentation: the pixels scaled; past the end: label -1, zeros */
    float x[B * H * W], x2[B * H * W];
    int32_t y[B], y2[B];
    dy_image_set_batch(&s, a, N - 3, B, NULL, &r1, x, y);
    CHECK(y[0] == s.labels[a[N - 3]] && y[3] == -1 && y[7] == -1 && x[3 * H * W] == 0.0f, "batch tail: %d %d", y[0],
          y[3]);
    CHECK(x[1] == s.pixels[a[N - 3] * H * W + 1] / 255.0f, "pixel %g", (double)x[1]);
    /* a flip-only augmentation gives each image or its mirror; the same seed, the same batch */
    image_aug flip = {0, 1, 0.0f, 1.0f}, crop = {2, 1, 0.25f, 0.5f};
    uint64_t q1 = 5, q2 = 5;
    dy_image_set_batch(&s, a, 0, B, &flip, &q1, x, y);
    dy_image_set_batch(&s, a, 0, B, &flip, &q2, x2, y2);
    CHECK(!memcmp(x, x2, sizeof x) && !memcmp(y, y2, sizeof y), "the same seed gave different augmented batches");
    int flipped = 0;
    for (int b = 0; b < B; b++) {
        const uint8_t *src = s.pixels + (size_t)a[b] * H * W;
        int same = 1, mirror = 1;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                same &= x[(b * H + r) * W + c] == src[r * W + c] / 255.0f;
                mirror &= x[(b * H + r) * W + c] == src[r * W + W - 1 - c] / 255.0f;
            }
        CHECK(same || mirror, "image %d is neither itself nor its mirror", b);
        flipped += mirror && !same;
    }
    CHECK(flipped > 0 && flipped < B, "%d of %d images flipped", flipped, B);
    /* crops: every value is a shifted pixel or the padding, normalised */
    dy_image_set_batch(&s, a, 0, B, &crop, &q1, x, y);
    int pads = 0;
    for (int i = 0; i < B * H * W; i++) {
        double p = x[i] * 0.5 + 0.25;
        CHECK(p > -1e-6 && p < 1 + 1e-6, "crop value %g is no pixel", p);
        pads += fabs(p) < 1e-6;
    }
    CHECK(pads > 0, "crops with padding 2 showed no padding");
    dy_image_set_free(&s);
}

int main(void)
{
    check_parse();
    check_files();
    check_batches();
    return check_done("test_idx");
}
