/* loss.cl -- softmax and cross-entropy in one pass over each row of logits.
 *
 * logits [rows, V], targets [rows] (int32; -1 = ignore). For each row:
 *   loss[r]       = logsumexp(logits[r]) - logits[r, target]   (0 when ignored)
 *   dlogits[r, v] = (softmax(logits[r])[v] - (v == target)) * scale   (0 when ignored)
 * scale is usually 1 / (the number of targets that are not ignored). The row
 * maximum is subtracted first, so no exp overflows. dlogits may alias logits.
 * A target outside [0, V) other than -1 gives a NaN loss: it is reported, not
 * read out of bounds.
 *
 * _rows: a work-item per row (CPUs); NDRange 1-D, global rows.
 * _wg:   a work-group per row (GPUs); NDRange 1-D, global rows * L, local L
 *        a power of two, scratch of L floats. */

__kernel void cross_entropy_rows(__global float *loss, const int loss_off, __global float *dlogits,
                                 const int dl_off, const int want_grad, __global const float *logits,
                                 const int lg_off, __global const int *targets, const int tg_off,
                                 const int V, const int rows, const float scale)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float *z = logits + lg_off + r * V;
    __global float *dz = dlogits + dl_off + r * V;
    const int t = targets[tg_off + r];
    if (t == -1) {
        loss[loss_off + r] = 0.0f;
        if (want_grad)
            for (int v = 0; v < V; v++) dz[v] = 0.0f;
        return;
    }
    float m = -INFINITY, sum = 0.0f;
    for (int v = 0; v < V; v++) m = fmax(m, z[v]);
    for (int v = 0; v < V; v++) sum += exp(z[v] - m);
    const int ok = t >= 0 && t < V;
    loss[loss_off + r] = ok ? log(sum) + m - z[t] : NAN;
    if (want_grad) {
        const float inv = scale / sum;
        for (int v = 0; v < V; v++) dz[v] = exp(z[v] - m) * inv - (v == t ? scale : 0.0f);
    }
}

__kernel void cross_entropy_wg(__global float *loss, const int loss_off, __global float *dlogits,
                               const int dl_off, const int want_grad, __global const float *logits,
                               const int lg_off, __global const int *targets, const int tg_off,
                               const int V, const int rows, const float scale, __local float *scratch)
{
    const int r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    __global const float *z = logits + lg_off + r * V;
    __global float *dz = dlogits + dl_off + r * V;
    const int t = targets[tg_off + r];
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
    float s = 0.0f;
    for (int v = lid; v < V; v += L) s += exp(z[v] - m);
    const float sum = wg_sum(scratch, s);
    const int ignore = t == -1, ok = t >= 0 && t < V;
    if (lid == 0) loss[loss_off + r] = ignore ? 0.0f : ok ? log(sum) + m - z[t] : NAN;
    if (want_grad) {
        const float inv = scale / sum;
        for (int v = lid; v < V; v += L)
            dz[v] = ignore ? 0.0f : exp(z[v] - m) * inv - (v == t ? scale : 0.0f);
    }
}
