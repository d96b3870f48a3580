/* q8.cl -- block-quantized 8-bit weights (inference; docs/quantization.md).
 *
 * A Q8 matrix W [N, K] (K a multiple of 32) is two planes of one buffer:
 *   quants  char  [N, K]       row n's block b at n*K + 32*b (32 bytes)
 *   scales  float [N, K / 32]  row n's block b at n*(K/32) + b
 * and w[n, k] = q[n, k] * scale[n, k / 32]. The kernels take the buffer
 * twice, as char (the quants, from q_off bytes) and as float (the scales,
 * from s_off floats). A block is 32 bytes at a 32-byte step, so the char16
 * loads of a block never straddle what a neighbour reads, and the scales
 * are aligned floats of their own plane: no 34-byte records to unpick.
 * Only core OpenCL 1.2: vload16 of char, convert_float16.
 *
 * q8_block_mad: acc += (q[j] * scale) x[j] for one block (j < 32), lane by
 * lane in a float16: the quants widened and scaled, then multiplied into
 * the running sums; no horizontal sum per block (on a CPU that sum costs
 * more than the block's loads). q8_sum16: the 16 lanes added once, at the
 * end, in a fixed order. */
inline float16 q8_block_mad(float16 acc, __global const char *q, __global const float *x, const float scale)
{
    const float16 p = mad(convert_float16(vload16(1, q)), vload16(1, x), convert_float16(vload16(0, q)) * vload16(0, x));
    return mad(p, (float16)(scale), acc);
}

inline float q8_sum16(const float16 v)
{
    const float8 h = v.lo + v.hi;
    const float4 f = h.lo + h.hi;
    return (f.s0 + f.s2) + (f.s1 + f.s3);
}

/* The one-row products of decoding, x [R, K] . W^T (+ bias):
 *   c[r, n] = sum_k (q[n, k] * scale[n, k / 32]) x[r, k]   (+ bias[n] when has_bias)
 * c [R, N] float32, bias [N] float32 (has_bias 0: not read). Two shapes of
 * the same sums:
 *
 * q8_gemv_rows (CPU-shaped devices, dy_row_shape): a work-item per (n, r),
 * NDRange 2-D global (N rounded up, R); the tail returns. It streams its
 * row of quants once, a block at a time, the even and the odd blocks into
 * two sums (added at the end); x stays in cache. */
__kernel void q8_gemv_rows(__global float *c, const int c_off, __global const float *a, const int a_off,
                           __global const char *Wq, const int q_off, __global const float *Ws, const int s_off,
                           __global const float *bias, const int b_off, const int has_bias, const int N,
                           const int K)
{
    const int n = get_global_id(0), r = get_global_id(1);
    if (n >= N) return;
    const int KB = K / 32;
    __global const char *q = Wq + q_off + (size_t)n * K;
    __global const float *s = Ws + s_off + (size_t)n * KB, *x = a + a_off + (size_t)r * K;
    float16 acc0 = (float16)(0.0f), acc1 = acc0; /* even and odd blocks: two chains of adds in flight */
    int b = 0;
    for (; b + 2 <= KB; b += 2) {
        acc0 = q8_block_mad(acc0, q + 32 * b, x + 32 * b, s[b]);
        acc1 = q8_block_mad(acc1, q + 32 * b + 32, x + 32 * b + 32, s[b + 1]);
    }
    if (b < KB) acc0 = q8_block_mad(acc0, q + 32 * b, x + 32 * b, s[b]);
    const float sum = q8_sum16(acc0 + acc1);
    c[c_off + (size_t)r * N + n] = has_bias ? sum + bias[b_off + n] : sum;
}

/* q8_gemv_groups (GPUs): a work-group of L work-items (a power of two, from
 * the device's limits) per (n, r), NDRange 2-D global (L*N, R), local
 * (L, 1); part: L floats of local memory. Work-item i takes blocks i, i+L,
 * ...: neighbours read neighbouring 32-byte blocks of the row, so a
 * work-group's loads are one contiguous, coalesced stretch of the quants
 * (and of the scales). The L partial sums are added in a fixed tree. */
__kernel void q8_gemv_groups(__global float *c, const int c_off, __global const float *a, const int a_off,
                             __global const char *Wq, const int q_off, __global const float *Ws, const int s_off,
                             __global const float *bias, const int b_off, const int has_bias, const int N,
                             const int K, __local float *part)
{
    const int n = get_group_id(0), r = get_global_id(1), lid = get_local_id(0), L = get_local_size(0);
    const int KB = K / 32;
    __global const char *q = Wq + q_off + (size_t)n * K;
    __global const float *s = Ws + s_off + (size_t)n * KB, *x = a + a_off + (size_t)r * K;
    float16 acc = (float16)(0.0f);
    for (int b = lid; b < KB; b += L) acc = q8_block_mad(acc, q + 32 * b, x + 32 * b, s[b]);
    part[lid] = q8_sum16(acc);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = L / 2; h > 0; h >>= 1) {
        if (lid < h) part[lid] += part[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) c[c_off + (size_t)r * N + n] = has_bias ? part[0] + bias[b_off + n] : part[0];
}

/* q8_dequant: dst[dst_off + i] = q[i] * scale[i / 32] for i < n (the whole
 * matrix, n = N*K, rows back to back): W widened into a float32 workspace
 * for the GEMM of a prompt's many rows. NDRange 1-D, rounded up. */
__kernel void q8_dequant(__global float *dst, const int dst_off, __global const char *Wq, const int q_off,
                         __global const float *Ws, const int s_off, const int n)
{
    const int i = get_global_id(0);
    if (i < n) dst[dst_off + i] = (float)Wq[q_off + i] * Ws[s_off + i / 32];
}
