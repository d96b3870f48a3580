/* optim.cl -- the global gradient norm and AdamW over one flat buffer.
 *
 * grad_sumsq_rows: per-block sums of squares. NDRange 1-D, global nblocks; block
 * k covers [k*B, min(n, (k+1)*B)) and writes parts[k]; the sums run in a
 * fixed order (float8 lanes, then the lanes). A work-item per block: CPUs.
 * grad_sumsq_wg: the same parts, a work-group per block (GPUs: neighbouring
 * work-items read neighbouring floats), then a tree. NDRange 1-D, global
 * nblocks * L, local L a power of two; scratch of L floats.
 * grad_norm_final: one work-group adds the nblocks parts in a fixed order
 * (strided, then a tree), writes norm = sqrt(total) and the clipping scale
 * min(1, max_norm / (norm + 1e-6)) (1 when max_norm <= 0). NDRange: global =
 * local = L, a power of two; scratch of L floats. */
__kernel void grad_sumsq_rows(__global float *parts, __global const float *g, const int g_off, const int n,
                         const int B)
{
    const int k = get_global_id(0);
    const int start = k * B, end = min(n, start + B);
    if (start >= n) return;
    g += g_off;
    float8 acc = 0.0f;
    int i = start;
    for (; i + 8 <= end; i += 8) {
        const float8 v = vload8(0, g + i);
        acc = fma(v, v, acc);
    }
    float s = hsum8(acc);
    for (; i < end; i++) s = fma(g[i], g[i], s);
    parts[k] = s;
}

__kernel void grad_sumsq_wg(__global float *parts, __global const float *g, const int g_off, const int n,
                            const int B, __local float *scratch)
{
    const int k = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    const int start = k * B, end = min(n, start + B);
    g += g_off;
    float s = 0.0f;
    for (int i = start + lid; i < end; i += L) s = fma(g[i], g[i], s);
    s = wg_sum(scratch, s);
    if (lid == 0) parts[k] = s;
}

__kernel void grad_norm_final(__global float *norm, const int norm_off, __global float *scale,
                              const int scale_off, const int has_scale, __global const float *parts,
                              const int nblocks, const float max_norm, __local float *scratch)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    float s = 0.0f;
    for (int k = lid; k < nblocks; k += L) s += parts[k];
    s = wg_sum(scratch, s);
    if (lid == 0) {
        const float nrm = sqrt(s);
        norm[norm_off] = nrm;
        if (has_scale) scale[scale_off] = max_norm > 0.0f ? fmin(1.0f, max_norm / (nrm + 1e-6f)) : 1.0f;
    }
}

/* AdamW, step t (from 1), on n parameters:
 *   g = grad * gscale            (gscale: a device scalar, or 1)
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * decay * p)
 * decay: a per-element float mask (1 or 0), or all ones when absent. decay
 * and gscale are loaded even when absent (the host then passes a buffer
 * of at least n floats that the kernel does not write: grads, offset 0)
 * and the flag selects: a conditional load kept PoCL from vectorising the
 * body (4.4x slower on a 2-core EPYC).
 * corr1 = 1 / (1 - b1^t), corr2 = 1 / (1 - b2^t) come from the host.
 * NDRange 1-D over n; adamw has no bounds check, adamw_tail has one. */
#define DEFINE_ADAMW(NAME, GUARD)                                                              \
__kernel void NAME(__global float *p, const int p_off, __global const float *grad, const int g_off, \
                   __global float *m, const int m_off, __global float *v, const int v_off,     \
                   __global const float *decay, const int d_off, const int has_decay,          \
                   __global const float *gscale, const int s_off, const int has_gscale,        \
                   const float lr, const float b1, const float b2, const float eps, const float wd, \
                   const float corr1, const float corr2, const int n)                          \
{                                                                                              \
    const int i = get_global_id(0);                                                            \
    GUARD                                                                                      \
    const float gs = gscale[s_off], dl = decay[d_off + i];                                     \
    const float g = grad[g_off + i] * (has_gscale ? gs : 1.0f);                                \
    const float mi = fma(b1, m[m_off + i], (1.0f - b1) * g);                                   \
    const float vi = fma(b2, v[v_off + i], (1.0f - b2) * g * g);                               \
    const float pi = p[p_off + i];                                                             \
    const float d = has_decay ? dl : 1.0f;                                                     \
    m[m_off + i] = mi;                                                                         \
    v[v_off + i] = vi;                                                                         \
    p[p_off + i] = pi - lr * (mi * corr1 / (sqrt(vi * corr2) + eps) + wd * d * pi);            \
}
DEFINE_ADAMW(adamw, )
DEFINE_ADAMW(adamw_tail, if (i >= n) return;)
