/* fuzz_idx.c -- libFuzzer target for the IDX reader: the first two bytes
 * (big-endian) say where the image block ends and the label block begins,
 * the third is the limit; the rest is the two blocks. A refusal hands out
 * nothing and says why; an acceptance gives images and labels that match the
 * blocks byte for byte, a shuffle that is a permutation, and batches whose
 * labels are the images' labels, at any augmentation.
 * Build and run: `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    size_t split = (size_t)data[0] << 8 | data[1];
    const int limit = data[2] % 8;
    data += 3, size -= 3;
    if (split > size) split = size;
    image_set s;
    char err[256] = "";
    if (dy_image_set_parse(data, split, "images", data + split, size - split, "labels", limit, &s, err, sizeof err)) {
        if (s.pixels || s.labels || s.n || !err[0]) abort(); /* a refusal hands out nothing and says why */
        return 0;
    }
    const size_t per = (size_t)s.H * s.W;
    if (s.n < 1 || (limit && s.n > limit) || memcmp(s.pixels, data + 16, (size_t)s.n * per) ||
        memcmp(s.labels, data + split + 8, (size_t)s.n))
        abort();
    uint32_t *order = malloc((size_t)s.n * sizeof *order);
    unsigned char *seen = calloc((size_t)s.n, 1);
    uint64_t rng = split;
    dy_image_set_shuffle(order, s.n, &rng);
    for (int i = 0; i < s.n; i++) {
        if (order[i] >= (uint32_t)s.n || seen[order[i]]) abort();
        seen[order[i]] = 1;
    }
    const int B = 3;
    float *x = malloc((size_t)B * per * sizeof *x);
    int32_t y[3];
    image_aug aug = {data[0] % 5, data[1] & 1, 0.5f, 0.25f};
    for (int start = 0; start < s.n; start += B) {
        dy_image_set_batch(&s, order, start, B, &aug, &rng, x, y);
        for (int b = 0; b < B; b++)
            if (y[b] != (start + b < s.n ? s.labels[order[start + b]] : -1)) abort();
    }
    free(x), free(order), free(seen);
    dy_image_set_free(&s);
    return 0;
}
