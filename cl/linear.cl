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
