/* half_util.h -- f16 and bf16 on the host: encoding, decoding and rounding
 * doubles, and moving half-width test data to and from device tensors. */
#ifndef DYTCL_HALF_UTIL_H
#define DYTCL_HALF_UTIL_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dev_util.h"

/* The unit roundoff u of each storage dtype: rounding a value v in range to
 * nearest gives v (1 + d) with |d| <= u. f32 2^-24, f16 2^-11, bf16 2^-8. */
static inline double unit_roundoff(dytcl_dtype dt)
{
    return dt == DYTCL_F16 ? 0x1p-11 : dt == DYTCL_BF16 ? 0x1p-8 : 0x1p-24;
}

/* The magnitude from which a value rounds to infinity: the largest finite
 * value plus half its ulp (f16: 65504 + 16; bf16: (2 - 2^-8) 2^127). */
static inline double overflow_at(dytcl_dtype dt)
{
    return dt == DYTCL_F16 ? 65520.0 : dt == DYTCL_BF16 ? 0x1.ffp127 : 0x1.ffffffp127;
}

/* f16 bits nearest to v, ties to even, straight from the double (no
 * double rounding); NaN gives a quiet NaN. */
static inline uint16_t f16_bits(double v)
{
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    if (isnan(v)) return sign | 0x7e00;
    if (a >= 65520.0) return sign | 0x7c00;
    if (a < 0x1p-14) return sign | (uint16_t)nearbyint(a * 0x1p24); /* subnormal (1024: the smallest normal) */
    int e;
    frexp(a, &e); /* a = f 2^e, f in [0.5, 1): the leading bit is 2^(e-1) */
    double m = nearbyint(ldexp(a, 11 - e)); /* 1024 .. 2048 */
    if (m == 2048.0) m = 1024.0, e++;
    if (e - 1 + 15 >= 31) return sign | 0x7c00;
    return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((int)m - 1024);
}

static inline double f16_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double a = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -a : a;
}

/* bf16 bits of a float, ties to even, NaN kept a (quiet) NaN: the device's
 * rule (cl/common.cl). */
static inline uint16_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline double bf16_value(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* v as stored in dt and read back. bf16 from a double rounds through float
 * first: inputs only, whose exact values the tests then use. */
static inline double round_to(dytcl_dtype dt, double v)
{
    return dt == DYTCL_F16 ? f16_value(f16_bits(v)) : dt == DYTCL_BF16 ? bf16_value(bf16_bits((float)v)) : (float)v;
}

static inline void round_dt(double *v, size_t n, dytcl_dtype dt)
{
    for (size_t i = 0; i < n; i++) v[i] = round_to(dt, v[i]);
}

/* Device tensors of test data: the view starts at element HALF_OFF, an odd
 * offset (no alignment beyond the element's own may be assumed), and the
 * elements before it are NaN poison that must survive. */
enum { HALF_OFF = 3 };

typedef struct {
    dytcl_buf *buf;
    dytcl_tensor t;     /* [rows, cols] in dt, at HALF_OFF */
    size_t n;
} htensor;

/* v (rounded to dt) or, when v is NULL, NaN everywhere. */
static inline htensor hdev(dytcl_ctx *ctx, dytcl_dtype dt, const double *v, int64_t rows, int64_t cols)
{
    htensor h = {NULL, {0}, (size_t)(rows * cols)};
    const size_t total = h.n + HALF_OFF, es = dytcl_dtype_size(dt);
    unsigned char *bytes = malloc(total * es);
    for (size_t i = 0; i < total; i++) {
        double x = (v && i >= HALF_OFF) ? v[i - HALF_OFF] : NAN;
        if (dt == DYTCL_F32) {
            float f = (float)x;
            memcpy(bytes + 4 * i, &f, 4);
        } else {
            uint16_t b = dt == DYTCL_F16 ? f16_bits(x) : bf16_bits((float)x);
            memcpy(bytes + 2 * i, &b, 2);
        }
    }
    CHECK_OK(ctx, dytcl_buf_create(ctx, total * es, &h.buf));
    if (h.buf) CHECK_OK(ctx, dytcl_buf_write(ctx, h.buf, 0, bytes, total * es));
    free(bytes);
    h.t = dytcl_tensor_as(dytcl_tensor_2d(h.buf, HALF_OFF, rows, cols), dt);
    return h;
}

/* Reads the view into doubles; the poison before it must be intact. */
static inline void hread(dytcl_ctx *ctx, const htensor *h, double *out)
{
    const dytcl_dtype dt = h->t.dtype;
    const size_t total = h->n + HALF_OFF, es = dytcl_dtype_size(dt);
    unsigned char *bytes = calloc(total, es);
    if (h->buf) CHECK_OK(ctx, dytcl_buf_read(ctx, h->buf, 0, bytes, total * es));
    for (size_t i = 0; i < total; i++) {
        double x;
        if (dt == DYTCL_F32) {
            float f;
            memcpy(&f, bytes + 4 * i, 4);
            x = f;
        } else {
            uint16_t b;
            memcpy(&b, bytes + 2 * i, 2);
            x = dt == DYTCL_F16 ? f16_value(b) : bf16_value(b);
        }
        if (i < HALF_OFF) CHECK(isnan(x), "element %zu before the view was written (%g)", i, x);
        else out[i - HALF_OFF] = x;
    }
    free(bytes);
}

static inline void hfree(htensor *h)
{
    dytcl_buf_free(h->buf);
    h->buf = NULL;
}

#endif
