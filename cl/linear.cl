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

/* Eight consecutive floats at any 4-byte aligned address, as eight scalar
 * loads the compiler merges into one unaligned vector load: PoCL's vload8
 * made four 8-byte loads and three shuffles of them. */
#define LOAD8_f32(p) ((float8)((p)[0], (p)[1], (p)[2], (p)[3], (p)[4], (p)[5], (p)[6], (p)[7]))

/* gemv_nt: one-row products, as decoding a token makes them:
 *   c[n] = alpha * sum_k a[k] B[n, k] + beta * c[n]   (beta 0: c is not read)
 * a [K], B [N, K], c [N]. NDRange over N (rounded up; the tail returns),
 * launched as the half-width forms below are, 2-D with one row.
 * A work-item reads its row of B once, 8 floats at a time, the whole of a
 * staying in cache: the product runs at the speed B streams from memory. */
__kernel void gemv_nt(__global float *c, const int c_off, __global const float *a, const int a_off,
                      __global const float *B, const int b_off, const int N, const int K, const float alpha,
                      const float beta)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    __global const float *b = B + b_off + (size_t)n * K, *x = a + a_off;
    float8 acc = (float8)(0.0f);
    int k = 0;
    for (; k + 8 <= K; k += 8) acc = mad(LOAD8_f32(b + k), LOAD8_f32(x + k), acc);
    float s = ((acc.s0 + acc.s4) + (acc.s1 + acc.s5)) + ((acc.s2 + acc.s6) + (acc.s3 + acc.s7));
    for (; k < K; k++) s = mad(b[k], x[k], s);
    c[c_off + n] = beta == 0.0f ? alpha * s : mad(beta, c[c_off + n], alpha * s);
}

/* Half-width weights (inference): B stored as f16 or bf16, a and c float32,
 * the products and sums in float32. Only core OpenCL 1.2 is used, no
 * cl_khr_fp16: f16 is read with vload_half / vload_half8 (2-byte aligned
 * addresses suffice), bf16 as ushort, the top half of a float:
 * as_float((uint)u << 16).
 *
 * gemv_nt_<dt>: c[r, n] = alpha * sum_k a[r, k] B[n, k] + beta * c[r, n]
 * (beta 0: c is not read) for a [R, K], B [N, K], c [R, N]: the few-row
 * products of decoding. NDRange 2-D: global (N rounded up, R); the tail
 * returns. As gemv_nt: a work-item streams its row of B 8 values at a time.
 *
 * widen_<dt>: dst[i] = src[src_off + i] as float32, i < n (NDRange 1-D,
 * rounded up): W widened into a workspace for the GEMM of many rows. */
#define LOAD8_f16(p) vload_half8(0, p)
#define LOAD1_f16(p, i) vload_half((i), p)
#define LOAD8_bf16(p) as_float8(convert_uint8(vload8(0, p)) << 16)
#define LOAD1_bf16(p, i) as_float((uint)(p)[i] << 16)

#define DEFINE_HALF_WEIGHT(DT, T)                                                                              \
__kernel void gemv_nt_##DT(__global float *c, const int c_off, __global const float *a, const int a_off,      \
                           __global const T *B, const int b_off, const int N, const int K, const float alpha,  \
                           const float beta)                                                                  \
{                                                                                                              \
    const int n = get_global_id(0), r = get_global_id(1);                                                     \
    if (n >= N) return;                                                                                        \
    __global const T *b = B + b_off + (size_t)n * K;                                                           \
    __global const float *x = a + a_off + (size_t)r * K;                                                       \
    float8 acc = (float8)(0.0f);                                                                               \
    int k = 0;                                                                                                 \
    for (; k + 8 <= K; k += 8) acc = mad(LOAD8_##DT(b + k), vload8(0, x + k), acc);                            \
    float s = ((acc.s0 + acc.s4) + (acc.s1 + acc.s5)) + ((acc.s2 + acc.s6) + (acc.s3 + acc.s7));              \
    for (; k < K; k++) s = mad(LOAD1_##DT(b, k), x[k], s);                                                     \
    const size_t o = (size_t)c_off + (size_t)r * N + n;                                                        \
    c[o] = beta == 0.0f ? alpha * s : mad(beta, c[o], alpha * s);                                              \
}                                                                                                              \
                                                                                                               \
__kernel void widen_##DT(__global float *dst, const int dst_off, __global const T *src, const int src_off,    \
                         const int n)                                                                          \
{                                                                                                              \
    const int i = get_global_id(0);                                                                            \
    if (i < n) dst[dst_off + i] = LOAD1_##DT(src + src_off, i);                                                \
}

DEFINE_HALF_WEIGHT(f16, half)
DEFINE_HALF_WEIGHT(bf16, ushort)
