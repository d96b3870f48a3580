/* linear.cl -- the pieces of a linear layer that are not GEMM (CLBlast does
 * the GEMM): the bias broadcast before it, so the GEMM can add into y.
 *
 * y[r, c] = b[c] for y [rows, C]. NDRange 2-D: global (C, rows), local
 * (L, 1); bias_rows has no bounds check (whole work-groups), bias_rows_tail
 * has one (the rest), as in dyt.cl. */
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
