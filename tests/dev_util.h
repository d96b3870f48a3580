/* dev_util.h -- moving float64 test data to and from device tensors, and
 * comparing results; shared by the kernel tests. */
#ifndef DYTCL_DEV_UTIL_H
#define DYTCL_DEV_UTIL_H

#include <math.h>
#include <string.h>

#include "check.h"

/* A device buffer of n floats holding v (as float), or NaN when v is NULL:
 * poison, so that an element a kernel forgot to write fails the check. */
static inline dytcl_buf *dev_from(dytcl_ctx *ctx, const double *v, size_t n)
{
    dytcl_buf *b = NULL;
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = v ? (float)v[i] : NAN;
    CHECK_OK(ctx, dytcl_buf_create(ctx, n * sizeof *h, &b));
    if (b) CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, h, n * sizeof *h));
    free(h);
    return b;
}

/* A device buffer of gap + n + gap floats: `sentinel` in the gaps, v (or
 * NaN when v is NULL) between them, from element gap: a view there that a
 * kernel writes past shows in the gaps. */
static inline dytcl_buf *dev_from_gapped(dytcl_ctx *ctx, const double *v, size_t n, size_t gap, float sentinel)
{
    float *h = malloc((n + 2 * gap) * sizeof *h);
    for (size_t i = 0; i < n + 2 * gap; i++) h[i] = sentinel;
    for (size_t i = 0; i < n; i++) h[gap + i] = v ? (float)v[i] : NAN;
    dytcl_buf *b = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, (n + 2 * gap) * sizeof *h, &b));
    if (b) CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, h, (n + 2 * gap) * sizeof *h));
    free(h);
    return b;
}

/* A device buffer of n int32 holding v (token ids, targets): the int tensor
 * convention (4-byte elements of a dytcl_tensor). */
static inline dytcl_buf *dev_ints_from(dytcl_ctx *ctx, const double *v, size_t n)
{
    dytcl_buf *b = NULL;
    int *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (int)v[i];
    CHECK_OK(ctx, dytcl_buf_create(ctx, n * sizeof *h, &b));
    if (b) CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, h, n * sizeof *h));
    free(h);
    return b;
}

/* Reads n floats from a device buffer into doubles. */
static inline void dev_to(dytcl_ctx *ctx, const dytcl_buf *b, double *out, size_t n)
{
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    if (b) CHECK_OK(ctx, dytcl_buf_read(ctx, b, 0, h, n * sizeof *h));
    for (size_t i = 0; i < n; i++) out[i] = h[i];
    free(h);
}

/* ||got - want|| / ||want|| (absolute when want is all zeros); NaN anywhere
 * gives infinity. */
static inline double rel_err(const double *got, const double *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(want[i])) return INFINITY;
        if (isnan(want[i])) continue;
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Checks a device buffer against a float64 reference. */
#define CHECK_CLOSE(ctx, buf, want, n, tol, what, ...)                                        \
    do {                                                                                      \
        double *got_ = malloc((n) * sizeof(double));                                          \
        dev_to((ctx), (buf), got_, (n));                                                      \
        double e_ = rel_err(got_, (want), (n));                                               \
        CHECK(e_ <= (tol), "%s: relative error %.3g > %.1g (" what ")", #buf, e_, (double)(tol), \
              __VA_ARGS__);                                                                   \
        free(got_);                                                                           \
    } while (0)

/* Checks a gradient whose true value can be far smaller than the gradient
 * flowing into it (tanh saturated; a norm over one channel, where the output
 * barely depends on x): float32 cannot resolve such a value relative to
 * itself, as in any float32 implementation, so the error is measured against
 * max(||want||, 0.1 ||scale||), scale being the gradient before attenuation. */
#define CHECK_CLOSE_SCALED(ctx, buf, want, scale, n, tol, what, ...)                              \
    do {                                                                                      \
        double *got_ = malloc((n) * sizeof(double)), num_ = 0, den_ = 0, sden_ = 0;           \
        dev_to((ctx), (buf), got_, (n));                                                      \
        for (size_t i_ = 0; i_ < (size_t)(n); i_++) {                                         \
            double d_ = got_[i_] - (want)[i_];                                                \
            num_ += isnan(d_) ? INFINITY : d_ * d_;                                           \
            den_ += (want)[i_] * (want)[i_];                                                  \
            sden_ += (scale)[i_] * (scale)[i_];                                               \
        }                                                                                     \
        double e_ = sqrt(num_) / fmax(sqrt(den_), 0.1 * sqrt(sden_));                         \
        CHECK(e_ <= (tol), "%s: error %.3g > %.1g (" what ")", #buf, e_, (double)(tol), __VA_ARGS__); \
        free(got_);                                                                           \
    } while (0)

static inline void rand_fill(double *v, size_t n, unsigned long long *rng, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) v[i] = check_rand(rng, lo, hi);
}

/* Rounds through float, so that the reference sees exactly the device's inputs.
 * The store through a volatile float keeps this loop scalar: inlined after
 * rand_fill in test_decode.c, GCC 12.2 at -O3 left two elements of a
 * 9-element call unrounded (not at -O2, nor with -fno-tree-slp-vectorize). */
static inline void round_float(double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        volatile float f = (float)v[i];
        v[i] = f;
    }
}

#endif
