/* linear.cl -- the pieces of a linear layer that are not GEMM (CLBlast does
 * the GEMMs): the bias broadcast before the forward GEMM, so that it can add
 * into y, and the first stage of the bias gradient.
 *
 * bias_rows: y[r, c] = b[c] for y [rows, C]. NDRange 2-D: global (C, rows),
 * local (L, 1); bias_rows has no bounds check (whole work-groups),
 * bias_rows_tail has one (the rest), as in dyt.cl. */
#define DEFINE_BIAS_ROWS(NAME, GUARD)                                                          \
__kernel void NAME(__global float *y, const int y_off, __global const float *b, const int b_off, \
                   const int C)                                                                \
{                                                                                              \
    const int c = get_global_id(0), row = get_global_id(1);                                   \
    GUARD                                                                                      \
    y[y_off + row * C + c] = b[b_off + c];                                                     \
}

DEFINE_BIAS_ROWS(bias_rows, )
DEFINE_BIAS_ROWS(bias_rows_tail, if (c >= C) return;)

/* db, stage 1: parts[blk, c] = sum of dy[r, c] over rows r of block blk
 * (rows blk*RB .. min(rows, (blk+1)*RB) - 1), in row order. dy [rows, C],
 * parts [nblk, C]. NDRange 2-D: global (C rounded up, nblk). Work-items
 * next to each other read neighbouring columns, so every row is read in
 * whole lines. Stage 2 is colsum (common.cl), which adds the nblk partial
 * sums of each column in block order: the same bits on every run. */
__kernel void colsum_blocks(__global float *parts, __global const float *dy, const int dy_off, const int rows,
                            const int C, const int RB)
{
    const int c = get_global_id(0), blk = get_global_id(1);
    if (c >= C) return;
    const int r0 = blk * RB, r1 = min(rows, r0 + RB);
    __global const float *p = dy + dy_off + (size_t)r0 * C + c;
    float s = 0.0f;
    for (int r = r0; r < r1; r++, p += C) s += *p;
    parts[(size_t)blk * C + c] = s;
}

/* gemv_nt: one-row products, as decoding a token makes them:
 *   c[n] = alpha * sum_k a[k] B[n, k] + beta * c[n]   (beta 0: c is not read)
 * a [K], B [N, K], c [N]. NDRange over N (rounded up; the tail returns),
 * launched as the half-width forms below are, 2-D with one row.
 * A work-item reads its row of B once, 64 values a step into four
 * independent float16 sums on CPUs (one sum waits on its own previous add
 * at every step; GEMV_SUMS below), the whole
 * of a staying in cache: the product runs at the speed B streams from
 * memory. The four sums are added in a fixed order at the end.
 *
 * Half-width weights (inference): B stored as f16 or bf16, a and c float32,
 * the products and sums in float32. Only core OpenCL 1.2 is used, no
 * cl_khr_fp16: f16 is read with vload_half / vload_half16 (2-byte aligned
 * addresses suffice), bf16 as ushort, the top half of a float:
 * as_float((uint)u << 16).
 *
 * gemv_nt_<dt>: c[r, n] = alpha * sum_k a[r, k] B[n, k] + beta * c[r, n]
 * (beta 0: c is not read) for a [R, K], B [N, K], c [R, N]: the few-row
 * products of decoding. NDRange 2-D: global (N rounded up, R); the tail
 * returns. As gemv_nt.
 *
 * widen_<dt>: dst[i] = src[src_off + i] as float32, i < n (NDRange 1-D,
 * rounded up): W widened into a workspace for the GEMM of many rows. */
#define LOAD16_f32(p) vload16(0, p)
#define LOAD1_f32(p, i) (p)[i]
#define LOAD16_f16(p) vload_half16(0, p)
#define LOAD1_f16(p, i) vload_half((i), p)
#define LOAD16_bf16(p) as_float16(convert_uint16(vload16(0, p)) << 16)
#define LOAD1_bf16(p, i) as_float((uint)(p)[i] << 16)

inline float gemv_sum16(const float16 v)
{
    const float8 h = v.lo + v.hi;
    const float4 f = h.lo + h.hi;
    return (f.s0 + f.s2) + (f.s1 + f.s3);
}

/* GEMV_SUMS: the independent float16 sums a work-item keeps, 4 (the CPU
 * set) or 1 (the GPU set, program.c: 64 accumulators per work-item would
 * halve a GPU's occupancy, where other work-items hide the latency). */
#ifndef GEMV_SUMS
#define GEMV_SUMS 4
#endif

#define DEFINE_GEMV(NAME, DT, T)                                                                               \
__kernel void NAME(__global float *c, const int c_off, __global const float *a, const int a_off,              \
                   __global const T *B, const int b_off, const int N, const int K, const float alpha,          \
                   const float beta)                                                                          \
{                                                                                                              \
    const int n = get_global_id(0), r = get_global_id(1);                                                     \
    if (n >= N) return;                                                                                        \
    __global const T *b = B + b_off + (size_t)n * K;                                                           \
    __global const float *x = a + a_off + (size_t)r * K;                                                       \
    float16 s0 = (float16)(0.0f), s1 = s0, s2 = s0, s3 = s0;                                                   \
    int k = 0;                                                                                                 \
    for (; GEMV_SUMS == 4 && k + 64 <= K; k += 64) {                                                           \
        s0 = fma(LOAD16_##DT(b + k), vload16(0, x + k), s0);                                                   \
        s1 = fma(LOAD16_##DT(b + k + 16), vload16(0, x + k + 16), s1);                                         \
        s2 = fma(LOAD16_##DT(b + k + 32), vload16(0, x + k + 32), s2);                                         \
        s3 = fma(LOAD16_##DT(b + k + 48), vload16(0, x + k + 48), s3);                                         \
    }                                                                                                          \
    for (; k + 16 <= K; k += 16) s0 = fma(LOAD16_##DT(b + k), vload16(0, x + k), s0);                         \
    float s = gemv_sum16((s0 + s1) + (s2 + s3));                                                               \
    for (; k < K; k++) s = fma(LOAD1_##DT(b, k), x[k], s);                                                     \
    const size_t o = (size_t)c_off + (size_t)r * N + n;                                                        \
    c[o] = beta == 0.0f ? alpha * s : mad(beta, c[o], alpha * s);                                              \
}

DEFINE_GEMV(gemv_nt, f32, float)

#define DEFINE_HALF_WEIGHT(DT, T)                                                                              \
DEFINE_GEMV(gemv_nt_##DT, DT, T)                                                                               \
                                                                                                               \
__kernel void widen_##DT(__global float *dst, const int dst_off, __global const T *src, const int src_off,    \
                         const int n)                                                                          \
{                                                                                                              \
    const int i = get_global_id(0);                                                                            \
    if (i < n) dst[dst_off + i] = LOAD1_##DT(src + src_off, i);                                                \
}

DEFINE_HALF_WEIGHT(f16, half)
DEFINE_HALF_WEIGHT(bf16, ushort)
