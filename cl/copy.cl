/* copy.cl -- the bandwidth reference and the simplest kernels.
 *
 * Each work-item moves VEC consecutive floats, so the host launches
 * ceil(n / VEC) work-items (rounded up to the local size); the last one
 * handles the tail element by element. Offsets are in elements. */

#define VEC 4

/* dst[i] = src[i] for i in [0, n)
 * NDRange: 1-D, global >= ceil(n / 4), any local size. */
__kernel void copy_f32(__global float *dst, const int dst_off,
                       __global const float *src, const int src_off, const int n)
{
    const int i = get_global_id(0) * VEC;
    dst += dst_off;
    src += src_off;
    if (i + VEC <= n) {
        vstore4(vload4(0, src + i), 0, dst + i);
    } else {
        for (int j = i; j < n; j++) dst[j] = src[j];
    }
}

/* dst[i] = value for i in [0, n)
 * NDRange: 1-D, global >= ceil(n / 4), any local size. */
__kernel void fill_f32(__global float *dst, const int dst_off, const float value, const int n)
{
    const int i = get_global_id(0) * VEC;
    dst += dst_off;
    if (i + VEC <= n) {
        vstore4((float4)(value), 0, dst + i);
    } else {
        for (int j = i; j < n; j++) dst[j] = value;
    }
}
