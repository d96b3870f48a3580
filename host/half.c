/* half.c -- float32 to and from the two half-width storage formats, on the
 * host (checkpoints, references). The device does the same with vload_half /
 * vstore_half (f16) and 16-bit shifts (bf16).
 *
 *   bf16: the top 16 bits of a float32 (8-bit exponent, 7-bit mantissa): the
 *         float range, 2^-8 relative precision (unit roundoff 2^-9 = 1.95e-3).
 *   f16:  IEEE binary16 (5-bit exponent, 10-bit mantissa): normal numbers
 *         from 2^-14 to 65504, subnormals down to 2^-24, unit roundoff 2^-11
 *         (4.9e-4). Past 65504 rounding gives +-inf.
 *
 * Float to half rounds to nearest, ties to even; NaN stays NaN (quiet).
 * Also here: each dtype's size and name (no OpenCL needed, so that the
 * checkpoint reader links on its own). */
#include <string.h>

#include "internal.h"

size_t dytcl_dtype_size(dytcl_dtype dt)
{
    switch (dt) {
    case DYTCL_F32: return 4;
    case DYTCL_F16:
    case DYTCL_BF16: return 2;
    case DYTCL_Q8: return 1;
    }
    return 0;
}

const char *dytcl_dtype_name(dytcl_dtype dt)
{
    switch (dt) {
    case DYTCL_F32: return "f32";
    case DYTCL_F16: return "f16";
    case DYTCL_BF16: return "bf16";
    case DYTCL_Q8: return "q8";
    }
    return "unknown";
}

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint16_t bf16_from_float(float x)
{
    uint32_t u = bits_of(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN, kept quiet */
    u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow carries into inf, as it should */
    return (uint16_t)(u >> 16);
}

static uint16_t f16_from_float(float x)
{
    const uint32_t u = bits_of(x), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (65504 + half an ulp) and inf: inf */
    if (a < 0x38800000u) { /* below 2^-14: a subnormal (or zero) of f16, in units of 2^-24 */
        if (a < 0x33000000u) return (uint16_t)sign;  /* <= 2^-25: rounds to zero (2^-25 itself: a tie, to even 0) */
        const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u; /* value m * 2^(e - 150) */
        const uint32_t shift = 126 - e;              /* 14..24: m >> shift is the count of 2^-24 */
        const uint32_t q = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        return (uint16_t)(sign | (q + (rest > half || (rest == half && (q & 1u)))));
    }
    /* normal: rebias the exponent (127 -> 15) and round 13 mantissa bits off;
     * a carry into the exponent is the right result, up to 65504 */
    const uint32_t r = a - 0x38000000u;
    return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
}

static float f16_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return float_of(sign | 0x7f800000u | (m << 13)); /* inf, NaN */
    if (e) return float_of(sign | ((e + 112) << 23) | (m << 13));
    return float_of(sign | bits_of((float)m * 0x1p-24f)); /* zero and subnormals: exact in float */
}

uint16_t dytcl_half_from_float(float x, dytcl_dtype dt)
{
    return dt == DYTCL_BF16 ? bf16_from_float(x) : dt == DYTCL_F16 ? f16_from_float(x) : 0;
}

float dytcl_half_to_float(uint16_t h, dytcl_dtype dt)
{
    return dt == DYTCL_BF16 ? float_of((uint32_t)h << 16) : dt == DYTCL_F16 ? f16_to_float(h) : 0.0f;
}
