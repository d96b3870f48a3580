/* common.cl -- functions and kernels every program shares. The build
 * prepends this file to each of the other cl/ files.
 *
 * Conventions for all kernels: tensors are a __global pointer plus an
 * element offset (`x, x_off`); sizes are int (the host guarantees fewer
 * than 2^31 elements); the host rounds each global size up to a multiple of
 * the local size, so every kernel guards its tail; reductions run in a fixed
 * order, so results are bit-identical from run to run on a device. */

/* Storage dtypes. Tensors of activations may be stored as f32, f16 or
 * bf16; the math is float32 either way, and a value is rounded once, when
 * it is stored. A program is built once per storage dtype, selected by
 * -DDY_DT=0 (f32, the default), 1 (f16) or 2 (bf16); DY_DT_OUT (default
 * DY_DT) is the dtype written by the kernels that convert (cl/copy.cl).
 * Kernels name the storage type DT (DT_OUT) and go through
 *   LOAD(p, i)        p[i] as a float
 *   STORE(p, i, v)    p[i] = v, rounded to nearest even
 *   LOAD8, STORE8     the same for the float8 (LOAD4, STORE4: float4) at
 *                     p + i (no alignment beyond the element's own is assumed)
 *   ROUND(v), ROUND8  v rounded to DT's values, as a store and a load would
 *                     give it (for a value both stored and used further)
 * f16 uses the core vload_half / vstore_half_rte functions, so no device
 * needs cl_khr_fp16: a value past 65504 (after rounding) is stored as +-inf,
 * NaN stays NaN. bf16 is the top half of a float, kept as a ushort: loading
 * shifts it up; storing rounds to nearest even, keeping NaN a (quiet) NaN. */
#ifndef DY_DT
#define DY_DT 0
#endif
#ifndef DY_DT_OUT
#define DY_DT_OUT DY_DT
#endif
#define DY_CAT_(a, b) a##b
#define DY_CAT(a, b) DY_CAT_(a, b)

/* Float bits u (uint or uintN) rounded to bf16 in their top half (the low
 * half is left over): to nearest even, and a NaN (nan: f != f for the float
 * f, one compare; PoCL's isnan is three integer ops) kept NaN, made quiet,
 * so that no payload rounds it into an infinity. */
#define BF16_HI(u, nan) select((u) + 0x7fffu + (((u) >> 16) & 1u), (u) | 0x400000u, nan)
inline ushort bf16_round(const float f) { return (ushort)(BF16_HI(as_uint(f), f != f) >> 16); }
inline ushort4 bf16_round4(const float4 f) { return convert_ushort4(BF16_HI(as_uint4(f), f != f) >> 16); }
inline ushort8 bf16_round8(const float8 f) { return convert_ushort8(BF16_HI(as_uint8(f), f != f) >> 16); }

/* p[0..8) = f rounded to bf16 (p[0..4) for the float4). Element by element,
 * not vstore8: PoCL's library vstore8/vstore4 of ushort splits into 16-bit
 * stores its vectoriser cannot merge (8 scalar stores per vector, 1.4-1.8x
 * the f32 time), while these consecutive stores merge into one. */
inline void bf16_store8(__global ushort *p, const float8 f)
{
    const ushort8 u = bf16_round8(f);
    p[0] = u.s0, p[1] = u.s1, p[2] = u.s2, p[3] = u.s3, p[4] = u.s4, p[5] = u.s5, p[6] = u.s6, p[7] = u.s7;
}
inline void bf16_store4(__global ushort *p, const float4 f)
{
    const ushort4 u = bf16_round4(f);
    p[0] = u.s0, p[1] = u.s1, p[2] = u.s2, p[3] = u.s3;
}

/* v rounded to f16 and back (through private memory: declaring a half
 * variable needs cl_khr_fp16, a pointer to one does not). */
inline float f16_round(const float v)
{
    ushort h;
    vstore_half_rte(v, 0, (__private half *)&h);
    return vload_half(0, (__private const half *)&h);
}
inline float8 f16_round8(const float8 v)
{
    ushort8 h;
    vstore_half8_rte(v, 0, (__private half *)&h);
    return vload_half8(0, (__private const half *)&h);
}

#define DT_0 float
#define RD_0(v) (v)
#define RD8_0(v) (v)
#define LD_0(p, i) ((p)[i])
#define ST_0(p, i, v) ((p)[i] = (v))
#define LD8_0(p, i) vload8(0, (p) + (i))
#define ST8_0(p, i, v) vstore8((v), 0, (p) + (i))
#define LD4_0(p, i) vload4(0, (p) + (i))
#define ST4_0(p, i, v) vstore4((v), 0, (p) + (i))
#define DT_1 half
#define RD_1(v) f16_round(v)
#define RD8_1(v) f16_round8(v)
#define LD_1(p, i) vload_half((i), (p))
#define ST_1(p, i, v) vstore_half_rte((v), (i), (p))
#define LD8_1(p, i) vload_half8(0, (p) + (i))
#define ST8_1(p, i, v) vstore_half8_rte((v), 0, (p) + (i))
#define LD4_1(p, i) vload_half4(0, (p) + (i))
#define ST4_1(p, i, v) vstore_half4_rte((v), 0, (p) + (i))
#define DT_2 ushort
#define RD_2(v) as_float(BF16_HI(as_uint(v), (v) != (v)) & 0xffff0000u)
#define RD8_2(v) as_float8(BF16_HI(as_uint8(v), (v) != (v)) & 0xffff0000u)
#define LD_2(p, i) as_float((uint)(p)[i] << 16)
#define ST_2(p, i, v) ((p)[i] = bf16_round(v))
#define LD8_2(p, i) as_float8(convert_uint8(vload8(0, (p) + (i))) << 16)
#define ST8_2(p, i, v) bf16_store8((p) + (i), (v))
#define LD4_2(p, i) as_float4(convert_uint4(vload4(0, (p) + (i))) << 16)
#define ST4_2(p, i, v) bf16_store4((p) + (i), (v))

#define DT DY_CAT(DT_, DY_DT)
#define LOAD(p, i) DY_CAT(LD_, DY_DT)(p, i)
#define STORE(p, i, v) DY_CAT(ST_, DY_DT)(p, i, v)
#define LOAD8(p, i) DY_CAT(LD8_, DY_DT)(p, i)
#define STORE8(p, i, v) DY_CAT(ST8_, DY_DT)(p, i, v)
#define ROUND(v) DY_CAT(RD_, DY_DT)(v)
#define ROUND8(v) DY_CAT(RD8_, DY_DT)(v)
#define LOAD4(p, i) DY_CAT(LD4_, DY_DT)(p, i)
#define STORE4(p, i, v) DY_CAT(ST4_, DY_DT)(p, i, v)
#define DT_OUT DY_CAT(DT_, DY_DT_OUT)
#define STORE_OUT(p, i, v) DY_CAT(ST_, DY_DT_OUT)(p, i, v)
#define STORE4_OUT(p, i, v) DY_CAT(ST4_, DY_DT_OUT)(p, i, v)

/* A clamp to [-hi, hi] written as selects in the operand order of an x86
 * max and min (MAXPS(a, b) = a > b ? a : b, MINPS(a, b) = a < b ? a : b),
 * so that each is one instruction there and a NaN falls through unchanged;
 * for every other value, -0 included, it is clamp(v, -hi, hi). The second
 * select must test the first one's result, not v: testing v made it a
 * compare and a blend (PoCL, x86), one vector op more per element. */
#define DY_MAX_NEG(v, hi) select((v), -(hi), -(hi) > (v))
#define DY_MIN_POS(v, hi) select((v), (hi), (hi) < (v))

/* tanh for every float: a rational minimax fit x*P(x^2)/Q(x^2) on [0, 9],
 * evaluated on x clamped to +-Z1 = +-8.01942158, the smallest float where
 * it reaches exactly 1 (it stays below 1 under it, in float arithmetic), so
 * that no clamp of the result is needed. No exp, no branch: it vectorises
 * where the builtin does not (PoCL). Per element: 2 min/max, 2 multiplies,
 * 8 FMAs, 1 divide. Measured against float64 over 2M points in [-12, 12]
 * plus special values: max abs and rel error 2.8e-7 (3.0e-7 over every
 * float in [0, 12]); tanh(+-inf) = +-1, tanh(-0) = -0, tanh(1e-30) = 1e-30,
 * NaN stays NaN. dy_tanh takes a float, dy_tanh8 a float8. */
#define DEFINE_TANH(NAME, T)                                                                    \
inline T NAME(T x)                                                                              \
{                                                                                               \
    const T z = DY_MIN_POS(DY_MAX_NEG(x, (T)(8.01942158f)), (T)(8.01942158f));                  \
    const T t = z * z;                                                                          \
    const T p = fma(fma(fma(fma((T)(1.335629118e-08f), t, (T)(2.061033047e-05f)), t,            \
                            (T)(3.495667130e-03f)), t, (T)(1.338109374e-01f)), t, (T)(1.0f));    \
    const T q = fma(fma(fma(fma((T)(7.777246083e-07f), t, (T)(3.285761923e-04f)), t,            \
                            (T)(2.587728575e-02f)), t, (T)(4.671441019e-01f)), t, (T)(1.0f));    \
    return z * p / q;                                                                           \
}
DEFINE_TANH(dy_tanh, float)
DEFINE_TANH(dy_tanh4, float4)
DEFINE_TANH(dy_tanh8, float8)

/* erf, likewise: x*P(x^2)/Q(x^2) fitted on [0, 4], on x clamped to
 * +-3.6889925 (where it reaches exactly 1); max abs and rel error 1.0e-6
 * against float64, erf(+-inf) = +-1. */
#define DEFINE_ERF(NAME, T)                                                                     \
inline T NAME(T x)                                                                              \
{                                                                                               \
    const T z = DY_MIN_POS(DY_MAX_NEG(x, (T)(3.6889925f)), (T)(3.6889925f));                    \
    const T t = z * z;                                                                          \
    const T p = fma(fma(fma(fma(fma((T)(-1.373909299e-06f), t, (T)(2.444635029e-04f)), t,      \
                                (T)(9.888139553e-03f)), t, (T)(7.191582769e-02f)), t,           \
                        (T)(3.583672941e-01f)), t, (T)(1.128379941e+00f));                       \
    const T q = fma(fma(fma(fma((T)(2.293721307e-03f), t, (T)(2.769136615e-02f)), t,            \
                            (T)(1.807040721e-01f)), t, (T)(6.509363651e-01f)), t, (T)(1.0f));    \
    return z * p / q;                                                                           \
}
DEFINE_ERF(dy_erf, float)
DEFINE_ERF(dy_erf4, float4)
DEFINE_ERF(dy_erf8, float8)

/* The lanes of v added in a fixed order. */
inline float hsum4(float4 v)
{
    const float2 q = v.lo + v.hi;
    return q.x + q.y;
}
inline float hsum8(float8 v)
{
    const float4 h = v.lo + v.hi;
    const float2 q = h.lo + h.hi;
    return q.x + q.y;
}

/* Sums parts[b * C + c] over b = 0..nblocks-1 in order, for each column c:
 *   out[c] = (accumulate ? out[c] : 0) + sum
 * out is float; parts is float (colsum: partial sums) or DT (colsum_dt: a
 * tensor of the program's storage dtype, summed over its leading rows).
 * NDRange: 1-D, global >= C. */
#define DEFINE_COLSUM(NAME, T, LD)                                                              \
__kernel void NAME(__global float *out, const int out_off, __global const T *parts,             \
                   const int parts_off, const int nblocks, const int C, const int accumulate)   \
{                                                                                               \
    const int c = get_global_id(0);                                                             \
    if (c >= C) return;                                                                         \
    parts += parts_off;                                                                         \
    float s = 0.0f;                                                                             \
    for (int b = 0; b < nblocks; b++) s += LD(parts, b * C + c);                                \
    out += out_off;                                                                             \
    out[c] = accumulate ? out[c] + s : s;                                                       \
}
DEFINE_COLSUM(colsum, float, LD_0)
DEFINE_COLSUM(colsum_dt, DT, LOAD)

/* The sum of every work-item's `mine`, added in a fixed tree order through
 * scratch (L floats); every work-item gets it. Call it from all work-items. */
inline float wg_sum(__local float *scratch, const float mine)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    barrier(CLK_LOCAL_MEM_FENCE); /* the previous use of scratch is over */
    scratch[lid] = mine;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = L / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

/* Sums in[0..n) into out[0] (or adds it, when accumulate) in one work-group:
 * each work-item adds a strided slice in order, then the tree above.
 * NDRange: 1-D, global = local = L, a power of two; scratch holds L floats. */
__kernel void sum_all(__global float *out, const int out_off, __global const float *in, const int in_off,
                      const int n, const int accumulate, __local float *scratch)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    in += in_off;
    float s = 0.0f;
    for (int i = lid; i < n; i += L) s += in[i];
    s = wg_sum(scratch, s);
    if (lid == 0) {
        out += out_off;
        out[0] = accumulate ? out[0] + s : s;
    }
}

/* The parameter gradients from a backward pass's partial sums in one launch
 * (on a CPU device every launch costs a wake-up of its threads, which at
 * a few rows is most of a backward pass):
 *   gw[c] (+)= sum over b of parts[b*C + c]                (outs bit 0)
 *   gb[c] (+)= sum over b of parts[plane + b*C + c]        (outs bit 1)
 *   ga[0] (+)= sum over b of parts[2*plane + b]            (outs bit 2)
 *   gs[0] (+)= sum over b of parts[2*plane + nblocks + b]  (outs bit 3)
 * plane = nblocks * C; every sum goes over b in order (as colsum's). Work-
 * item j < G = ceil(C / 8) owns the columns [8j, min(C, 8j + 8)), a float8
 * at a time when all eight exist (a CPU runs work-items one after another,
 * so one column each ran as scalar code: 70-130 us for 16 x 4096 on PoCL);
 * work-item G sums the two scalars. An absent output's partial sums are
 * not read. NDRange 1-D, global >= G + 1. */
#define REDUCE_STORE(p, off, v) ((p)[off] = accumulate ? (p)[off] + (v) : (v))
__kernel void reduce_parts(__global float *gw, const int gw_off, __global float *gb, const int gb_off,
                           __global float *ga, const int ga_off, __global float *gs, const int gs_off,
                           __global const float *parts, const int nblocks, const int C, const int outs,
                           const int accumulate)
{
    const int j = get_global_id(0), G = (C + 7) / 8, plane = nblocks * C, c0 = 8 * j;
    if (j < G && c0 + 8 <= C) {
        for (int q = 0; q < 2; q++) {
            if (!(outs & (1 << q))) continue;
            __global const float *pq = parts + q * plane + c0;
            float8 sum = 0.0f;
            for (int b = 0; b < nblocks; b++) sum += vload8(0, pq + b * C);
            __global float *g = q ? gb + gb_off + c0 : gw + gw_off + c0;
            vstore8(accumulate ? vload8(0, g) + sum : sum, 0, g);
        }
    } else if (j < G) {
        for (int c = c0; c < C; c++)
            for (int q = 0; q < 2; q++) {
                if (!(outs & (1 << q))) continue;
                float sum = 0.0f;
                for (int b = 0; b < nblocks; b++) sum += parts[q * plane + b * C + c];
                if (q) REDUCE_STORE(gb, gb_off + c, sum);
                else REDUCE_STORE(gw, gw_off + c, sum);
            }
    } else if (j == G) {
        for (int q = 0; q < 2; q++) {
            if (!(outs & (4 << q))) continue;
            float sum = 0.0f;
            for (int b = 0; b < nblocks; b++) sum += parts[2 * plane + q * nblocks + b];
            if (q) REDUCE_STORE(gs, gs_off, sum);
            else REDUCE_STORE(ga, ga_off, sum);
        }
    }
}
#undef REDUCE_STORE
