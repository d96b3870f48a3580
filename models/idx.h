/* idx.h -- labelled images from IDX files (the format of MNIST and
 * Fashion-MNIST), gzip-compressed or not, and the batches a vision model
 * trains on: a seeded shuffle, seeded augmentations, normalised floats.
 *
 * Plain C11 and zlib, no OpenCL. Errors come back as a non-zero return and a
 * message naming the file and what is wrong, written into err[cap] (cap 0:
 * none, and err may be NULL).
 *
 * An IDX file is: two zero bytes, a type byte (0x08: unsigned bytes, the
 * only one read here), the number of dimensions, each dimension as a
 * big-endian uint32, then the values. Images are [n, rows, cols], labels [n].
 */
#ifndef DYTCL_IDX_H
#define DYTCL_IDX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n, H, W;       /* n images of H x W bytes */
    int classes;       /* the largest label + 1 */
    uint8_t *pixels;   /* [n, H, W] */
    uint8_t *labels;   /* [n] */
} image_set;

/* Reads an image file and its label file (each .gz or plain). Refuses a
 * missing or unreadable file, a truncated or corrupt gzip stream, a wrong
 * magic or type, an image file that is not 3-D or a label file that is not
 * 1-D, a size that does not match the dimensions (short or trailing bytes),
 * image and label counts that differ, a zero dimension, images above 4096 x
 * 4096 and a file that inflates past max_bytes (0 = 1 GiB). limit > 0 keeps
 * only the first `limit` images. */
int dy_image_set_load(const char *images_path, const char *labels_path, int limit, size_t max_bytes, image_set *out,
                   char *err, size_t cap);

/* The same from two decoded IDX blocks in memory (copied); the names label
 * the messages. */
int dy_image_set_parse(const uint8_t *img, size_t img_n, const char *img_name, const uint8_t *lab, size_t lab_n,
                    const char *lab_name, int limit, image_set *out, char *err, size_t cap);

void dy_image_set_free(image_set *s);

/* The order of one epoch: order[0..n) a permutation of 0..n-1 drawn from
 * *rng (Fisher-Yates with unbiased draws; the same state gives the same
 * order on every machine); *rng advances. */
void dy_image_set_shuffle(uint32_t *order, int n, uint64_t *rng);

/* Augmentations, drawn per image from the batch's rng: a random crop of the
 * image padded by `pad` pixels on each side (pad 0: none), a horizontal flip
 * with probability 1/2 when flip is set. Pixels become (p/255 - mean) / std. */
typedef struct {
    int pad, flip;
    float mean, std;
} image_aug;

/* B images order[start .. start+B) as x [B, 1, H, W] floats and y [B] int32
 * labels. Past the end of order the rows are zero images with label -1 (the
 * loss ignores them). aug NULL: no augmentation, mean 0, std 1. */
void dy_image_set_batch(const image_set *s, const uint32_t *order, int start, int B, const image_aug *aug,
                     uint64_t *rng, float *x, int32_t *y);

#endif
