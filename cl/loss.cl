/* loss.cl -- softmax and cross-entropy in one pass over each row of logits.
 *
 * logits [rows, V], targets [rows] (int32; -1 = ignore). With label
 * smoothing e (0: none) the row's target distribution is
 * q = (1 - e) onehot(target) + e / V, and for each row:
 *   loss[r]       = -sum_v q[v] log softmax(logits[r])[v]
 *                 = logsumexp(logits[r]) - (1 - e) logits[r, target] - e mean_v logits[r, v]
 *                                                                   (0 when ignored)
 *   dlogits[r, v] = (softmax(logits[r])[v] - q[v]) * scale           (0 when ignored)
 * scale is usually 1 / (the number of targets that are not ignored). The row
 * maximum is subtracted first, so no exp overflows. dlogits may alias logits.
 * A target outside [0, V) other than -1 gives a NaN loss: it is reported, not
 * read out of bounds.
 *
 * _rows: a work-item per row (CPUs), float8 loops with a vectorised exp;
 *        NDRange 1-D, global rows.
 * _wg:   a work-group per row (GPUs); NDRange 1-D, global rows * L, local L
 *        a power of two, scratch of L floats. */

/* exp(x) for x <= 0 on float8, in plain arithmetic so that it vectorises
 * (PoCL's builtin exp is a scalar call): x = n ln2 + r with |r| <= ln2/2,
 * exp(r) by its degree-7 Taylor polynomial (max relative error 1.2e-7 over
 * [-87, 0] against float64, measured on the float32 evaluation),
 * times 2^n built in the exponent bits. Below -87 (2^n would be subnormal)
 * it returns 0; NaN stays NaN. Only for x <= 0 (logits minus the row max). */
inline float8 ce_exp8(const float8 x)
{
    const float8 n = floor(fma(x, (float8)1.44269504f, (float8)0.5f));
    float8 r = fma(n, (float8)(-0.693359375f), x);           /* ln2 in two parts: exact n*hi */
    r = fma(n, (float8)2.12194440e-4f, r);
    float8 p = fma((float8)1.98412698e-4f, r, (float8)1.38888889e-3f);
    p = fma(p, r, (float8)8.33333333e-3f);
    p = fma(p, r, (float8)4.16666667e-2f);
    p = fma(p, r, (float8)1.66666667e-1f);
    p = fma(p, r, (float8)0.5f);
    p = fma(p, r * r, r + (float8)1.0f);
    const int8 e = (convert_int8(fmax(n, (float8)-126.0f)) + 127) << 23;
    const float8 v = select(p * as_float8(e), (float8)0.0f, x < (float8)-87.0f);
    return select(v, x, x != x);
}

/* A work-item per row, float8 loops over the row (explicit SIMD: PoCL would
 * otherwise vectorise across rows, V floats apart). Three passes: the max,
 * the sum of exp, the gradient. NDRange 1-D, global rows. */
__kernel void cross_entropy_rows(__global float *loss, const int loss_off, __global float *dlogits,
                                 const int dl_off, const int want_grad, __global const float *logits,
                                 const int lg_off, __global const int *targets, const int tg_off,
                                 const int V, const int rows, const float scale, const float smoothing)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float *z = logits + lg_off + r * V;
    __global float *dz = dlogits + dl_off + r * V;
    const int t = targets[tg_off + r], V8 = V / 8 * 8;
    if (t == -1) {
        loss[loss_off + r] = 0.0f;
        if (want_grad) {
            for (int v = 0; v < V8; v += 8) vstore8((float8)0.0f, 0, dz + v);
            for (int v = V8; v < V; v++) dz[v] = 0.0f;
        }
        return;
    }
    /* the row maximum and sum (lanes, then the lanes in a fixed order) */
    float8 m8 = (float8)(-INFINITY), z8 = 0.0f;
    for (int v = 0; v < V8; v += 8) {
        const float8 zv = vload8(0, z + v);
        m8 = fmax(m8, zv), z8 += zv;
    }
    float m = fmax(fmax(fmax(m8.s0, m8.s1), fmax(m8.s2, m8.s3)), fmax(fmax(m8.s4, m8.s5), fmax(m8.s6, m8.s7)));
    float zsum = hsum8(z8);
    for (int v = V8; v < V; v++) m = fmax(m, z[v]), zsum += z[v];
    /* the sum of exp(z - max) */
    float8 s8 = 0.0f;
    for (int v = 0; v < V8; v += 8) s8 += ce_exp8(vload8(0, z + v) - m);
    float sum = hsum8(s8);
    for (int v = V8; v < V; v++) sum += exp(z[v] - m);
    const int ok = t >= 0 && t < V;
    const float keep = 1.0f - smoothing, spread = smoothing / (float)V;
    loss[loss_off + r] = ok ? log(sum) + m - keep * z[t] - spread * zsum : NAN;
    if (want_grad) {
        const float inv = scale / sum, off = scale * spread;
        for (int v = 0; v < V8; v += 8) vstore8(ce_exp8(vload8(0, z + v) - m) * inv - off, 0, dz + v);
        for (int v = V8; v < V; v++) dz[v] = exp(z[v] - m) * inv - off;
        if (ok) dz[t] -= scale * keep;
    }
}

__kernel void cross_entropy_wg(__global float *loss, const int loss_off, __global float *dlogits,
                               const int dl_off, const int want_grad, __global const float *logits,
                               const int lg_off, __global const int *targets, const int tg_off,
                               const int V, const int rows, const float scale, const float smoothing,
                               __local float *scratch)
{
    const int r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    __global const float *z = logits + lg_off + r * V;
    __global float *dz = dlogits + dl_off + r * V;
    const int t = targets[tg_off + r];
    const int ignore = t == -1, ok = t >= 0 && t < V;
    /* z[t] now: with dlogits = logits another work-item overwrites it below,
     * after the global-memory barrier before the gradient */
    const float zt = ok ? z[t] : 0.0f;
    /* row maximum */
    float m = -INFINITY;
    for (int v = lid; v < V; v += L) m = fmax(m, z[v]);
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = L / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] = fmax(scratch[lid], scratch[lid + step]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    /* sum of exp */
    float s = 0.0f, zs = 0.0f;
    for (int v = lid; v < V; v += L) s += exp(z[v] - m), zs += z[v];
    const float sum = wg_sum(scratch, s);
    /* the row's sum of logits, for smoothing only (a uniform branch) */
    const float zsum = smoothing != 0.0f ? wg_sum(scratch, zs) : 0.0f;
    const float keep = 1.0f - smoothing, spread = smoothing / (float)V;
    if (lid == 0) loss[loss_off + r] = ignore ? 0.0f : ok ? log(sum) + m - keep * zt - spread * zsum : NAN;
    if (want_grad) {
        barrier(CLK_GLOBAL_MEM_FENCE); /* every read of z[t] is done (uniform branch) */
        const float inv = scale / sum, off = scale * spread;
        for (int v = lid; v < V; v += L)
            dz[v] = ignore ? 0.0f : exp(z[v] - m) * inv - off - (v == t ? scale * keep : 0.0f);
    }
}

/* mean[0] = the sum of loss[r] over the rows whose target is not -1, divided
 * by their count (0 when every row is ignored). One work-group: work-item j
 * adds a contiguous slice of rows in order, then trees over the work-group:
 * the same bits every run. NDRange: global = local = L, a power of two;
 * scratch of L floats, counts of L ints. */
__kernel void loss_mean(__global float *mean, const int mean_off, __global const float *loss, const int loss_off,
                        __global const int *targets, const int tg_off, const int rows, __local float *scratch,
                        __local int *counts)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    const int chunk = (rows + L - 1) / L, start = min(rows, lid * chunk), end = min(rows, start + chunk);
    float s = 0.0f;
    int c = 0;
    for (int r = start; r < end; r++)
        if (targets[tg_off + r] != -1) {
            s += loss[loss_off + r];
            c++;
        }
    counts[lid] = c;
    s = wg_sum(scratch, s); /* its barriers also publish counts */
    for (int step = L / 2; step > 0; step /= 2) {
        if (lid < step) counts[lid] += counts[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) mean[mean_off] = counts[0] ? s / (float)counts[0] : 0.0f;
}
