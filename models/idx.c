/* idx.c -- IDX image and label files, batches and augmentations (see idx.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fdopen-style gzdopen on an fd, fstat */
#endif
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dytcl_model.h" /* dytcl_rng_next: the project's one RNG */
#include "idx.h"

#define DEFAULT_MAX_BYTES ((size_t)1 << 30)
#define MAX_SIDE 4096

/* ------------------------------------------------------------ parsing */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the header of an IDX block of n bytes with `ndim` dimensions and
 * fills dims; the values start at byte 4 + 4 ndim. */
static int parse_header(const uint8_t *b, size_t n, const char *name, int ndim, uint32_t *dims, char *err, size_t cap)
{
    if (n < 4) return (snprintf(err, cap, "%s: truncated: %zu bytes, shorter than the 4-byte IDX magic", name, n), -1);
    if (b[0] || b[1])
        return (snprintf(err, cap, "%s: wrong magic %02x %02x %02x %02x: not an IDX file", name, b[0], b[1], b[2], b[3]), -1);
    if (b[2] != 0x08) return (snprintf(err, cap, "%s: IDX type 0x%02x, only 0x08 (unsigned bytes) is read", name, b[2]), -1);
    if (b[3] != ndim)
        return (snprintf(err, cap, "%s: %d dimensions, expected %d (%s)", name, b[3], ndim,
                    ndim == 3 ? "images: count, rows, columns" : "labels: count"), -1);
    const size_t head = 4 + 4 * (size_t)ndim;
    if (n < head) return (snprintf(err, cap, "%s: truncated: %zu bytes, shorter than its %zu-byte header", name, n, head), -1);
    uint64_t want = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0) return (snprintf(err, cap, "%s: dimension %d is 0", name, i), -1);
        if (dims[i] > INT_MAX) return (snprintf(err, cap, "%s: dimension %d is %u, too large", name, i, dims[i]), -1);
        if (i > 0 && dims[i] > MAX_SIDE)
            return (snprintf(err, cap, "%s: images of side %u, more than %d", name, dims[i], MAX_SIDE), -1);
        want *= dims[i];
        if (want > (uint64_t)DEFAULT_MAX_BYTES)
            return (snprintf(err, cap, "%s: dimensions give more than %zu values", name, DEFAULT_MAX_BYTES), -1);
    }
    if (n - head != want)
        return (snprintf(err, cap, "%s: %s: %zu bytes of values, the dimensions give %llu", name,
                    n - head < want ? "truncated" : "trailing bytes", n - head, (unsigned long long)want), -1);
    return 0;
}

int dy_image_set_parse(const uint8_t *img, size_t img_n, const char *img_name, const uint8_t *lab, size_t lab_n,
                    const char *lab_name, int limit, image_set *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    uint32_t di[3], dl[1];
    if (parse_header(img, img_n, img_name, 3, di, err, cap) || parse_header(lab, lab_n, lab_name, 1, dl, err, cap))
        return -1;
    if (di[0] != dl[0])
        return (snprintf(err, cap, "%s has %u images but %s has %u labels", img_name, di[0], lab_name, dl[0]), -1);
    int n = (int)di[0];
    if (limit > 0 && limit < n) n = limit;
    const size_t per = (size_t)di[1] * di[2];
    out->pixels = malloc((size_t)n * per);
    out->labels = malloc((size_t)n);
    if (!out->pixels || !out->labels) {
        dy_image_set_free(out);
        return (snprintf(err, cap, "%s: out of memory for %d images", img_name, n), -1);
    }
    memcpy(out->pixels, img + 16, (size_t)n * per);
    memcpy(out->labels, lab + 8, (size_t)n);
    out->n = n, out->H = (int)di[1], out->W = (int)di[2];
    for (int i = 0; i < n; i++)
        if (out->labels[i] + 1 > out->classes) out->classes = out->labels[i] + 1;
    return 0;
}

/* Reads a whole file through zlib (which passes plain files through) into
 * *out (malloc'ed), at most max bytes: the buffer may grow to max + 1, and
 * holding max + 1 bytes means the file is too large. */
static int inflate_file(const char *path, size_t max, uint8_t **out, size_t *n, char *err, size_t cap)
{
    *out = NULL, *n = 0;
    /* O_NONBLOCK: a FIFO would block open() until a writer came; only a
     * regular file is read (then blocking again, for zlib's reads) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return (snprintf(err, cap, "%s: cannot open", path), -1);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return (snprintf(err, cap, "%s is not a regular file (a directory, FIFO or device): refused", path), -1);
    }
    int fl = fcntl(fd, F_GETFL);
    gzFile g = fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ? NULL : gzdopen(fd, "rb");
    if (!g) {
        close(fd);
        return (snprintf(err, cap, "%s: cannot open", path), -1);
    }
    size_t have = 0, room = max < (1 << 20) ? max + 1 : (1 << 20);
    uint8_t *buf = malloc(room);
    int code = Z_OK;
    const char *msg = NULL;
    while (buf) {
        if (have > max) {
            free(buf), gzclose(g);
            return (snprintf(err, cap, "%s: inflates past the limit of %zu bytes", path, max), -1);
        }
        if (have == room) {
            room = room > max / 2 ? max + 1 : room * 2;
            uint8_t *more = realloc(buf, room);
            if (!more) break;
            buf = more;
        }
        size_t want = room - have;
        int got = gzread(g, buf + have, want > INT_MAX ? INT_MAX : (unsigned)want);
        if (got <= 0) {
            msg = gzerror(g, &code);
            if (got < 0 || code != Z_OK) { /* msg lives in g: the message first, then the close */
                snprintf(err, cap, "%s: truncated or corrupt gzip stream (%s)", path, msg);
                free(buf), gzclose(g);
                return -1;
            }
            gzclose(g);
            *out = buf, *n = have;
            return 0;
        }
        have += (size_t)got;
    }
    free(buf), gzclose(g);
    return (snprintf(err, cap, "%s: out of memory", path), -1);
}

int dy_image_set_load(const char *images_path, const char *labels_path, int limit, size_t max_bytes, image_set *out,
                   char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!max_bytes) max_bytes = DEFAULT_MAX_BYTES;
    uint8_t *img = NULL, *lab = NULL;
    size_t ni = 0, nl = 0;
    int rc = inflate_file(images_path, max_bytes, &img, &ni, err, cap);
    if (!rc) rc = inflate_file(labels_path, max_bytes, &lab, &nl, err, cap);
    if (!rc) rc = dy_image_set_parse(img, ni, images_path, lab, nl, labels_path, limit, out, err, cap);
    free(img), free(lab);
    return rc;
}

void dy_image_set_free(image_set *s)
{
    if (!s) return;
    free(s->pixels), free(s->labels);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ batches */

/* A uniform draw from [0, n) without modulo bias. */
static uint32_t draw(uint64_t *rng, uint32_t n)
{
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = dytcl_rng_next(rng);
    while (r >= limit);
    return (uint32_t)(r % n);
}

void dy_image_set_shuffle(uint32_t *order, int n, uint64_t *rng)
{
    for (int i = 0; i < n; i++) order[i] = (uint32_t)i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = draw(rng, (uint32_t)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

void dy_image_set_batch(const image_set *s, const uint32_t *order, int start, int B, const image_aug *aug,
                     uint64_t *rng, float *x, int32_t *y)
{
    const int H = s->H, W = s->W, pad = aug ? aug->pad : 0;
    const float mean = aug ? aug->mean : 0.0f, inv = aug ? 1.0f / aug->std : 1.0f;
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)b * H * W;
        if (start + b >= s->n || start + b < 0) {
            memset(xb, 0, (size_t)H * W * sizeof *xb);
            y[b] = -1;
            continue;
        }
        const uint32_t idx = order ? order[start + b] : (uint32_t)(start + b);
        const uint8_t *src = s->pixels + (size_t)idx * H * W;
        /* the crop's offset in the padded image, and the flip */
        int dy = 0, dx = 0, flip = 0;
        if (pad > 0) dy = (int)draw(rng, 2 * pad + 1) - pad, dx = (int)draw(rng, 2 * pad + 1) - pad;
        if (aug && aug->flip) flip = (int)draw(rng, 2);
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                const int sr = r + dy, sc = (flip ? W - 1 - c : c) + dx;
                const float p = sr >= 0 && sr < H && sc >= 0 && sc < W ? src[sr * W + sc] / 255.0f : 0.0f;
                xb[r * W + c] = (p - mean) * inv;
            }
        y[b] = s->labels[idx];
    }
}
