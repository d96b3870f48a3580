/* copy.cl -- the bandwidth reference and the simplest kernels.
 *
 * Each work-item moves VEC consecutive elements, so the host launches
 * ceil(n / VEC) work-items (rounded up to the local size); the last one
 * handles the tail element by element. Offsets are in elements. copy and
 * fill take every storage dtype (cl/common.cl); the rest are f32. */

#define VEC 4

/* The same dtype moves its bits unchanged (NaN payloads too), as uint or
 * ushort (a half pointer cannot be read without cl_khr_fp16); different
 * dtypes convert through float, rounding once. */
#define RAW_0 float
#define RAW_1 ushort
#define RAW_2 ushort
#define RAW DY_CAT(RAW_, DY_DT)
#if DY_DT == DY_DT_OUT
#define MOVE4(dst, src, i) vstore4(vload4(0, (__global const RAW *)(src) + (i)), 0, (__global RAW *)(dst) + (i))
#define MOVE1(dst, src, i) (((__global RAW *)(dst))[i] = ((__global const RAW *)(src))[i])
#else
#define MOVE4(dst, src, i) STORE4_OUT(dst, i, LOAD4(src, i))
#define MOVE1(dst, src, i) STORE_OUT(dst, i, LOAD(src, i))
#endif

/* dst[i] = src[i] for i in [0, n): src stored as DT, dst as DT_OUT.
 * NDRange: 1-D, global >= ceil(n / 4), any local size. */
__kernel void copy(__global DT_OUT *dst, const int dst_off, __global const DT *src, const int src_off, const int n)
{
    const int i = get_global_id(0) * VEC;
    dst += dst_off;
    src += src_off;
    if (i + VEC <= n) {
        MOVE4(dst, src, i);
    } else {
        for (int j = i; j < n; j++) MOVE1(dst, src, j);
    }
}

/* dst[i] = value for i in [0, n) (rounded once to DT)
 * NDRange: 1-D, global >= ceil(n / 4), any local size. */
__kernel void fill(__global DT *dst, const int dst_off, const float value, const int n)
{
    const int i = get_global_id(0) * VEC;
    dst += dst_off;
    if (i + VEC <= n) {
        STORE4(dst, i, (float4)(value));
    } else {
        for (int j = i; j < n; j++) STORE(dst, j, value);
    }
}

/* y = s[0] * x for i in [0, n) (y may alias x): a learnable scalar.
 * NDRange: 1-D, global >= ceil(n / 4), any local size. */
__kernel void scale_f32(__global float *y, const int y_off, __global const float *x, const int x_off,
                        __global const float *s, const int s_off, const int n)
{
    const int i = get_global_id(0) * VEC;
    const float a = s[s_off];
    y += y_off;
    x += x_off;
    if (i + VEC <= n) {
        vstore4(a * vload4(0, x + i), 0, y + i);
    } else {
        for (int j = i; j < n; j++) y[j] = a * x[j];
    }
}

/* y[r, c] = s[r] * x[r, c] over x seen as [rows, cols] (y may alias x): a
 * factor per row (stochastic depth's per-sample mask). NDRange 2-D: global
 * >= (ceil(cols / VEC), rows), any local size; work-item (i, r) takes the
 * VEC elements of row r from column i * VEC, the last one of a row its tail. */
__kernel void scale_rows_f32(__global float *y, const int y_off, __global const float *x, const int x_off,
                             __global const float *s, const int s_off, const int cols, const int rows)
{
    const int i = get_global_id(0) * VEC, r = get_global_id(1);
    if (r >= rows || i >= cols) return;
    const float a = s[s_off + r];
    y += y_off + (size_t)r * cols;
    x += x_off + (size_t)r * cols;
    if (i + VEC <= cols) {
        vstore4(a * vload4(0, x + i), 0, y + i);
    } else {
        for (int j = i; j < cols; j++) y[j] = a * x[j];
    }
}

/* The backward of y = s x over one chunk of `chunk` elements per work-group:
 *   dx = s[0] * dy           (dx may alias dy; dx absent when has_dx = 0)
 *   parts[group] = the sum of dy * x over the group's chunk (fixed order)
 * NDRange: 1-D, one work-group per chunk, local size a power of two. */
__kernel void scale_backward(__global float *dx, const int dx_off, const int has_dx,
                             __global const float *dy, const int dy_off,
                             __global const float *x, const int x_off,
                             __global const float *s, const int s_off, const int n, const int chunk,
                             __global float *parts, __local float *scratch)
{
    const int g = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    const float a = s[s_off];
    const int end = min(n, (g + 1) * chunk);
    float acc = 0.0f;
    for (int i = g * chunk + lid; i < end; i += L) {
        const float d = dy[dy_off + i];
        acc += d * x[x_off + i];
        if (has_dx) dx[dx_off + i] = a * d;
    }
    acc = wg_sum(scratch, acc);
    if (lid == 0) parts[g] = acc;
}

/* out[0] = the number of iterations a loop of n runs, reading ones[i & 7]
 * (all 1) so that no compiler can fold it. Some drivers end every loop of a
 * work-item after a fixed total (Mesa's llvmpipe: 65535, shared by all the
 * loops of a kernel) without an error; this finds the limit (probe.c).
 * NDRange: 1-D, one work-item. */
__kernel void loop_probe(__global int *out, __global const int *ones, const int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += ones[i & 7];
    out[0] = c;
}
