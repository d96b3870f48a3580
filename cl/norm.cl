/* norm.cl -- normalization layers, forward and backward, OpenCL C 1.2.
 *
 *   DyT        y = gamma[c] * tanh(alpha * x) + beta[c]
 *   Derf       y = gamma[c] * erf(alpha * x + shift) + beta[c]
 *   RMSNorm    y = x * rstd * w[c],                  rstd = 1 / sqrt(mean(x^2) + eps)
 *   LayerNorm  y = (x - mean) * rstd * w[c] + b[c],  rstd = 1 / sqrt(var(x) + eps)
 *
 * plus the residual add (r_out = r + h) fused in front of DyT and the norms.
 *
 * Conventions
 * - Tensors are row-major [rows, C], channels last, unless a kernel says
 *   otherwise. Every tensor argument is a bare pointer: the host applies
 *   offsets (sub-buffers or base pointers). Scalars alpha and shift are
 *   learnable, so they are read from device memory: alpha[0], shift[0].
 * - Index math is 32-bit int: the host guarantees fewer than 2^31 elements.
 * - The host rounds each global size up to a multiple of the local size
 *   (PoCL has no non-uniform work-groups); every kernel guards its tail.
 * - Elementwise kernels give each work-item NORM_CHUNK consecutive floats of
 *   one row (a 2-D NDRange (column chunk, row)): no division or modulo, and
 *   the work is explicit float8 code, which PoCL runs as AVX2.
 * - Reductions run in a fixed order and use no atomics: the same inputs give
 *   the same bits. Per-parameter gradients are left as partial sums in a
 *   caller-provided `parts` buffer and added up by params_reduce.
 * - Row reductions come in two shapes; the host picks by device type:
 *     _rows  one work-item per row (or block of rows): CPUs (PoCL).
 *     _wg    one work-group per row, tree in local memory: GPUs. The local
 *            size must be a power of two; scratch holds L floats.
 */

#ifndef NORM_CHUNK
#define NORM_CHUNK 16 /* floats per work-item in elementwise kernels; a multiple of 8 */
#endif

#define ACT_TANH 0 /* DyT  */
#define ACT_ERF 1  /* Derf */

/* ----------------------------------------------------------------- helpers */

/* tanh for every float, vectorisable: x * P(x^2) / Q(x^2), degrees 4/4 in
 * x^2, fitted on [0, 9] for minimax relative error (Loeb linearisation plus
 * Lawson reweighting in float64; fit error 2.1e-8), then clamped: beyond 9
 * tanh is 1 in float. No exp, no branch, no overflow for any input.
 * Measured on PoCL against float64 over 24M points in [-12, 12] plus tiny
 * values: max abs error 3.3e-7, max rel error 3.9e-7; tanh(+-inf) = +-1,
 * tanh(-0) = -0, tanh(1e-8) = 1e-8, tanh(1e-30) = 1e-30. */
inline float8 tanh8(const float8 x)
{
    const float8 z = clamp(x, -9.0f, 9.0f), s = z * z;
    const float8 p = fma(fma(fma(fma((float8)(1.335532998e-08f), s, (float8)(2.060960109e-05f)), s,
                                 (float8)(3.495621283e-03f)), s, (float8)(1.338105413e-01f)), s,
                         (float8)(9.999999796e-01f));
    const float8 q = fma(fma(fma(fma((float8)(7.776842557e-07f), s, (float8)(3.285687881e-04f)), s,
                                 (float8)(2.587711009e-02f)), s, (float8)(4.671436976e-01f)), s,
                         (float8)(1.0f));
    return clamp(z * p / q, -1.0f, 1.0f);
}

/* erf likewise: x * P(x^2) / Q(x^2), degrees 5/5, fitted on [0, 3.9]
 * (erf(3.9) is 1 in float; fit error 1.7e-8). Measured on PoCL: max abs
 * error 4.6e-7, max rel error 4.6e-7 over [-12, 12]; erf(+-inf) = +-1. */
inline float8 erf8(const float8 x)
{
    const float8 z = clamp(x, -3.9f, 3.9f), s = z * z;
    const float8 p = fma(fma(fma(fma(fma((float8)(2.066540090e-06f), s, (float8)(2.850590363e-04f)), s,
                                     (float8)(3.738122816e-03f)), s, (float8)(5.266740288e-02f)), s,
                             (float8)(1.896613707e-01f)), s, (float8)(1.128379148e+00f));
    const float8 q = fma(fma(fma(fma(fma((float8)(3.827054653e-05f), s, (float8)(1.157325427e-03f)), s,
                                     (float8)(1.491382963e-02f)), s, (float8)(1.138167407e-01f)), s,
                             (float8)(5.014157964e-01f)), s, (float8)(1.0f));
    return clamp(z * p / q, -1.0f, 1.0f);
}

/* The activation of DyT (tanh) or Derf (erf) at u, and its derivative
 * given t = act(u). */
inline float8 act8(const float8 u, const int act)
{
    return act == ACT_ERF ? erf8(u) : tanh8(u);
}

inline float8 act_grad8(const float8 u, const float8 t, const int act)
{
    return act == ACT_ERF ? 1.1283791671f * exp(-u * u) : 1.0f - t * t; /* 2/sqrt(pi) e^-u^2 */
}

/* p[0..n) as a float8; lanes from n on are 0 (n >= 8: all eight lanes). */
inline float8 load8(__global const float *p, const int n)
{
    if (n >= 8) return vload8(0, p);
    float v[8];
    for (int k = 0; k < 8; k++) v[k] = k < n ? p[k] : 0.0f;
    return vload8(0, v);
}

/* p[0..n) = the first n lanes of v (all eight when n >= 8). */
inline void store8(__global float *p, const float8 v, const int n)
{
    if (n >= 8) {
        vstore8(v, 0, p);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int k = 0; k < n; k++) p[k] = t[k];
}

/* v with lanes from n on set to 0. */
inline float8 mask8(const float8 v, const int n)
{
    return select((float8)(0.0f), v, (int8)(0, 1, 2, 3, 4, 5, 6, 7) < n);
}

/* The lanes of v added in a fixed order. */
inline float hsum8(const float8 v)
{
    const float4 h = v.lo + v.hi;
    const float2 q = h.lo + h.hi;
    return q.x + q.y;
}

/* The sum over the work-group of each work-item's `mine`, returned to all.
 * Fixed-order tree; the local size must be a power of two; scratch holds
 * get_local_size(0) floats. Safe to call repeatedly with the same scratch. */
inline float wg_sum(__local float *scratch, const float mine)
{
    const int lid = get_local_id(0);
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read the previous result */
    scratch[lid] = mine;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = get_local_size(0) / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

/* Column-sum partials and the final reduce
 *
 * Backward kernels leave their sums in `parts`, laid out as
 *   parts[k*C + c]           block k's sum for gamma (or w) at column c,  k < nblocks
 *   parts[P + k*C + c]       block k's sum for beta (or b),               P = nblocks*C
 *   parts[2*P + i]           partial i of dalpha,                         i < S
 *   parts[2*P + S + i]       partial i of dshift
 * Each kernel states its nblocks and S; the host allocates 2*P + 2*S floats
 * (norms: 2*P). params_reduce adds them up in a fixed order:
 *   dgamma[c] (+)= sum_k parts[k*C + c]        if want & WANT_GAMMA
 *   dbeta[c]  (+)= sum_k parts[P + k*C + c]    if want & WANT_BETA
 *   dalpha[0] (+)= sum_i parts[2*P + i]        if want & WANT_ALPHA
 *   dshift[0] (+)= sum_i parts[2*P + S + i]    if want & WANT_SHIFT
 * with += when accumulate != 0, = otherwise. Outputs not wanted are not
 * touched (they may be NULL).
 * NDRange: 1-D, global >= ceil(C / 8) (at least 1) rounded up to the local
 * size, any local size. Work-item j does columns [8j, 8j+8); work-item 0
 * also does the two scalars.
 */
#define WANT_GAMMA 1
#define WANT_BETA 2
#define WANT_ALPHA 4
#define WANT_SHIFT 8

inline void put(__global float *out, const float v, const int accumulate)
{
    *out = accumulate ? *out + v : v;
}

inline float sum_scalars(__global const float *p, const int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += p[i];
    return s;
}

/* sum over k < nblocks of p[k*C .. k*C + n), n <= 8 */
inline float8 sum_blocks8(__global const float *p, const int nblocks, const int C, const int n)
{
    float8 s = 0.0f;
    for (int k = 0; k < nblocks; k++) s += load8(p + k * C, n);
    return s;
}

inline void put8(__global float *out, const float8 v, const int n, const int accumulate)
{
    store8(out, accumulate ? v + load8(out, n) : v, n);
}

__kernel void params_reduce(__global float *dgamma, __global float *dbeta, __global float *dalpha,
                            __global float *dshift, __global const float *parts, const int nblocks,
                            const int S, const int C, const int want, const int accumulate)
{
    const int j = get_global_id(0), c = 8 * j, n = C - c, P = nblocks * C;
    if (c < C && (want & WANT_GAMMA)) put8(dgamma + c, sum_blocks8(parts + c, nblocks, C, n), n, accumulate);
    if (c < C && (want & WANT_BETA)) put8(dbeta + c, sum_blocks8(parts + P + c, nblocks, C, n), n, accumulate);
    if (j == 0 && (want & WANT_ALPHA)) put(dalpha, sum_scalars(parts + 2 * P, S), accumulate);
    if (j == 0 && (want & WANT_SHIFT)) put(dshift, sum_scalars(parts + 2 * P + S, S), accumulate);
}

/* ------------------------------------------------------------ residual add */

/* out = a + b, n elements (out may alias a or b).
 * NDRange: 1-D, global >= ceil(n / NORM_CHUNK), any local size. */
inline void add_step(__global float *out, __global const float *a, __global const float *b, const int n)
{
    store8(out, load8(a, n) + load8(b, n), n);
}

__kernel void residual_add(__global float *out, __global const float *a, __global const float *b,
                           const int n)
{
    const int i0 = get_global_id(0) * NORM_CHUNK;
    if (i0 + NORM_CHUNK <= n)
        for (int i = i0; i < i0 + NORM_CHUNK; i += 8) add_step(out + i, a + i, b + i, 8);
    else
        for (int i = i0; i < n; i += 8) add_step(out + i, a + i, b + i, n - i);
}

/* ------------------------------------------------------ DyT / Derf forward */

/* Every elementwise kernel walks its chunk [c0, c0 + NORM_CHUNK) of a row of
 * length C the same way: whole float8s (n = 8, a constant, so load8 and
 * store8 compile to plain vector moves) unless the chunk holds the row's
 * end, which goes step by step with n = C - c. */

/* One float8 of y = gamma * act(alpha * u + shift) + beta at column c, where
 * u = x, or u = x + h written to r_out when has_res. */
inline void dyt_step(__global float *y, __global float *r_out, __global const float *x,
                     __global const float *h, const float a, const float s, __global const float *gamma,
                     __global const float *beta, const int act, const int has_res, const int has_gamma,
                     const int has_beta, const int c, const int n)
{
    float8 u = load8(x + c, n);
    if (has_res) {
        u += load8(h + c, n);
        store8(r_out + c, u, n);
    }
    const float8 g = has_gamma ? load8(gamma + c, n) : (float8)(1.0f);
    const float8 b = has_beta ? load8(beta + c, n) : (float8)(0.0f);
    store8(y + c, fma(g, act8(a * u + s, act), b), n);
}

/* The channels-last forward, shared by the three kernels below:
 *   u = has_res ? x + h : x;   r_out = u  (only when has_res)
 *   y = gamma[c] * act(alpha * u + shift) + beta[c]
 * x, h, r_out, y: [rows, C]; gamma, beta: [C], optional (has_gamma, else 1;
 * has_beta, else 0; pointers not used may be NULL). r_out may alias x (in
 * place); y aliases nothing.
 * NDRange: 2-D, global (ceil(C / NORM_CHUNK), rows), each rounded up to the
 * local size; any local size. */
inline void act_forward(__global float *y, __global float *r_out, __global const float *x,
                        __global const float *h, const float a, const float s, __global const float *gamma,
                        __global const float *beta, const int act, const int has_res, const int has_gamma,
                        const int has_beta, const int rows, const int C)
{
    const int c0 = get_global_id(0) * NORM_CHUNK, row = get_global_id(1);
    if (row >= rows) return;
    const int o = row * C;
    y += o, r_out += o, x += o, h += o;
    if (c0 + NORM_CHUNK <= C)
        for (int c = c0; c < c0 + NORM_CHUNK; c += 8)
            dyt_step(y, r_out, x, h, a, s, gamma, beta, act, has_res, has_gamma, has_beta, c, 8);
    else
        for (int c = c0; c < C; c += 8)
            dyt_step(y, r_out, x, h, a, s, gamma, beta, act, has_res, has_gamma, has_beta, c, C - c);
}

/* DyT: y = gamma[c] * tanh(alpha[0] * x) + beta[c]. Writes y. */
__kernel void dyt_forward(__global float *y, __global const float *x, __global const float *alpha,
                          __global const float *gamma, __global const float *beta, const int has_gamma,
                          const int has_beta, const int rows, const int C)
{
    act_forward(y, 0, x, 0, alpha[0], 0.0f, gamma, beta, ACT_TANH, 0, has_gamma, has_beta, rows, C);
}

/* Derf: y = gamma[c] * erf(alpha[0] * x + shift[0]) + beta[c]. Writes y. */
__kernel void derf_forward(__global float *y, __global const float *x, __global const float *alpha,
                           __global const float *shift, __global const float *gamma,
                           __global const float *beta, const int has_gamma, const int has_beta,
                           const int rows, const int C)
{
    act_forward(y, 0, x, 0, alpha[0], shift[0], gamma, beta, ACT_ERF, 0, has_gamma, has_beta, rows, C);
}

/* Residual add fused with DyT: r_out = r + h; y = gamma[c] * tanh(alpha[0] *
 * r_out) + beta[c]. r_out may alias r. Writes r_out and y. */
__kernel void residual_dyt_forward(__global float *r_out, __global float *y, __global const float *r,
                                   __global const float *h, __global const float *alpha,
                                   __global const float *gamma, __global const float *beta,
                                   const int has_gamma, const int has_beta, const int rows, const int C)
{
    act_forward(y, r_out, r, h, alpha[0], 0.0f, gamma, beta, ACT_TANH, 1, has_gamma, has_beta, rows, C);
}

/* DyT (act = ACT_TANH, shift unused, may be NULL) or Derf (ACT_ERF),
 * channels first: x, y: [N, C, HW]; gamma, beta: [C], optional as above.
 * NDRange: 3-D, global (ceil(HW / NORM_CHUNK), C, N), dimension 0 rounded up
 * to the local size; local (L, 1, 1) for any L. Writes y. */
inline void nchw_step(__global float *y, __global const float *x, const float a, const float s,
                      const float g, const float b, const int act, const int i, const int n)
{
    store8(y + i, g * act8(a * load8(x + i, n) + s, act) + b, n);
}

__kernel void act_forward_nchw(__global float *y, __global const float *x, __global const float *alpha,
                               __global const float *shift, __global const float *gamma,
                               __global const float *beta, const int act, const int has_gamma,
                               const int has_beta, const int C, const int HW)
{
    const int i0 = get_global_id(0) * NORM_CHUNK, ch = get_global_id(1), o = (get_global_id(2) * C + ch) * HW;
    const float a = alpha[0], s = act == ACT_ERF ? shift[0] : 0.0f;
    const float g = has_gamma ? gamma[ch] : 1.0f, b = has_beta ? beta[ch] : 0.0f;
    y += o, x += o;
    if (i0 + NORM_CHUNK <= HW)
        for (int i = i0; i < i0 + NORM_CHUNK; i += 8) nchw_step(y, x, a, s, g, b, act, i, 8);
    else
        for (int i = i0; i < HW; i += 8) nchw_step(y, x, a, s, g, b, act, i, HW - i);
}

/* ----------------------------------------------------- DyT / Derf backward
 *
 * With u = alpha*x + shift, t = act(u), gd = dy * gamma[c] * act'(u):
 *   dx        = alpha * gd  (+ dres)   act' = 1 - t^2 (tanh), 2/sqrt(pi) e^(-u^2) (erf)
 *   dalpha    = sum over all elements of gd * x
 *   dshift    = sum over all elements of gd
 *   dgamma[c] = sum over rows of dy * t,   dbeta[c] = sum over rows of dy
 * For the fused residual + DyT, x is r_out and dres is the gradient flowing
 * back along the residual stream: dx is then the gradient with respect to
 * both r and h. dx may alias dres. t is recomputed from x.
 * act: ACT_TANH (shift unused, may be NULL) or ACT_ERF.
 */

/* The sums of one work-item. */
typedef struct {
    float8 dg, db, da, ds;
} dyt_sums;

/* One float8 at offset i: writes dx and adds into the sums m. Lanes from n
 * on have dy = 0 (load8), so they add nothing. */
inline void dyt_grad_step(__global float *dx, __global const float *dy, __global const float *dres,
                          __global const float *x, const float a, const float s, const float8 g,
                          const int act, const int has_dres, const int i, const int n, dyt_sums *m)
{
    const float8 xv = load8(x + i, n), d = load8(dy + i, n), u = a * xv + s, t = act8(u, act);
    const float8 gd = d * g * act_grad8(u, t, act);
    store8(dx + i, a * gd + (has_dres ? load8(dres + i, n) : (float8)(0.0f)), n);
    m->da = fma(gd, xv, m->da);
    m->ds += gd;
    m->dg = fma(d, t, m->dg);
    m->db += d;
}

/* CPU shape: work-item k walks rows [k*R, min((k+1)*R, rows)) front to back
 * (one sequential stream) and adds its column sums into its own rows of
 * parts, which stay in cache. x, dy, dres, dx: [rows, C].
 * NDRange: 1-D, global >= nblocks = ceil(rows / R), any local size.
 * parts: nblocks = ceil(rows / R), S = nblocks. Writes dx and parts. */
inline void dyt_rows_step(__global float *dx, __global const float *dy, __global const float *dres,
                          __global const float *x, const float a, const float s,
                          __global const float *gamma, const int act, const int has_gamma,
                          const int has_dres, const int first, __global float *pg, __global float *pb,
                          const int c, const int n, dyt_sums *m)
{
    const float8 g = has_gamma ? load8(gamma + c, n) : (float8)(1.0f);
    m->dg = m->db = 0.0f; /* this step's dy * t and dy */
    dyt_grad_step(dx, dy, dres, x, a, s, g, act, has_dres, c, n, m);
    store8(pg + c, first ? m->dg : m->dg + load8(pg + c, n), n);
    store8(pb + c, first ? m->db : m->db + load8(pb + c, n), n);
}

inline void act_backward_rows(__global float *dx, __global const float *dy, __global const float *dres,
                              __global const float *x, __global const float *alpha,
                              __global const float *shift, __global const float *gamma, const int act,
                              const int has_gamma, const int has_dres, const int rows, const int C,
                              const int R, __global float *parts)
{
    const int k = get_global_id(0), nblocks = (rows + R - 1) / R;
    if (k >= nblocks) return;
    const int P = nblocks * C, r0 = k * R, r1 = min(rows, r0 + R), C8 = C / 8 * 8;
    const float a = alpha[0], s = act == ACT_ERF ? shift[0] : 0.0f;
    __global float *pg = parts + k * C, *pb = parts + P + k * C;
    dyt_sums m = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int row = r0; row < r1; row++) {
        const int o = row * C;
        for (int c = 0; c < C8; c += 8)
            dyt_rows_step(dx + o, dy + o, dres + o, x + o, a, s, gamma, act, has_gamma, has_dres, row == r0,
                          pg, pb, c, 8, &m);
        if (C8 < C)
            dyt_rows_step(dx + o, dy + o, dres + o, x + o, a, s, gamma, act, has_gamma, has_dres, row == r0,
                          pg, pb, C8, C - C8, &m);
    }
    parts[2 * P + k] = hsum8(m.da);
    parts[2 * P + nblocks + k] = hsum8(m.ds);
}

__kernel void dyt_backward_rows(__global float *dx, __global const float *dy, __global const float *dres,
                                __global const float *x, __global const float *alpha,
                                __global const float *gamma, const int has_gamma, const int has_dres,
                                const int rows, const int C, const int R, __global float *parts)
{
    act_backward_rows(dx, dy, dres, x, alpha, alpha, gamma, ACT_TANH, has_gamma, has_dres, rows, C, R, parts);
}

__kernel void derf_backward_rows(__global float *dx, __global const float *dy, __global const float *dres,
                                 __global const float *x, __global const float *alpha,
                                 __global const float *shift, __global const float *gamma,
                                 const int has_gamma, const int has_dres, const int rows, const int C,
                                 const int R, __global float *parts)
{
    act_backward_rows(dx, dy, dres, x, alpha, shift, gamma, ACT_ERF, has_gamma, has_dres, rows, C, R, parts);
}

/* GPU shape: work-item (j, k) owns columns [8j, 8j+8) of rows [k*R,
 * min((k+1)*R, rows)) and keeps its sums in registers; neighbouring
 * work-items touch neighbouring addresses. Same arguments as _rows, act as
 * above. NDRange: 2-D, global (ceil(C / 8), nblocks = ceil(rows / R)), each
 * rounded up to the local size; any local size.
 * parts: nblocks = ceil(rows / R), S = nblocks * ceil(C / 8). Writes dx, parts. */
__kernel void act_backward_cols(__global float *dx, __global const float *dy, __global const float *dres,
                                __global const float *x, __global const float *alpha,
                                __global const float *shift, __global const float *gamma, const int act,
                                const int has_gamma, const int has_dres, const int rows, const int C,
                                const int R, __global float *parts)
{
    const int j = get_global_id(0), k = get_global_id(1), c = 8 * j, nblocks = (rows + R - 1) / R;
    if (c >= C || k >= nblocks) return;
    const int n = C - c, nj = (C + 7) / 8, P = nblocks * C, S = nblocks * nj, r0 = k * R, r1 = min(rows, r0 + R);
    const float a = alpha[0], s = act == ACT_ERF ? shift[0] : 0.0f;
    const float8 g = has_gamma ? load8(gamma + c, n) : (float8)(1.0f);
    dyt_sums m = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int row = r0; row < r1; row++) {
        const int o = row * C;
        dyt_grad_step(dx + o, dy + o, dres + o, x + o, a, s, g, act, has_dres, c, n, &m);
    }
    store8(parts + k * C + c, m.dg, n);
    store8(parts + P + k * C + c, m.db, n);
    parts[2 * P + k * nj + j] = hsum8(m.da);
    parts[2 * P + S + k * nj + j] = hsum8(m.ds);
}

/* Channels first: x, dy, dx: [N, C, HW]; no residual. Work-item (j, ch, n)
 * owns elements [j*chunk, min((j+1)*chunk, HW)) of plane (n, ch); `chunk` is
 * a multiple of 8 chosen by the host (CPU: large, e.g. HW rounded up to 8, so
 * one work-item per plane; GPU: small, e.g. 64).
 * NDRange: 3-D, global (nchunks = ceil(HW / chunk), C, N), dimension 0
 * rounded up to the local size; local (L, 1, 1) for any L.
 * parts: nblocks = N * nchunks (block n*nchunks + j), S = nblocks * C.
 * Writes dx and parts. */
__kernel void act_backward_nchw(__global float *dx, __global const float *dy, __global const float *x,
                                __global const float *alpha, __global const float *shift,
                                __global const float *gamma, const int act, const int has_gamma,
                                const int N, const int C, const int HW, const int chunk,
                                __global float *parts)
{
    const int j = get_global_id(0), ch = get_global_id(1), nn = get_global_id(2);
    const int nchunks = (HW + chunk - 1) / chunk, i0 = j * chunk;
    if (j >= nchunks) return;
    const int o = (nn * C + ch) * HW, end = min(i0 + chunk, HW), P = N * nchunks * C;
    const float a = alpha[0], s = act == ACT_ERF ? shift[0] : 0.0f;
    const float8 g = has_gamma ? gamma[ch] : 1.0f;
    dyt_sums m = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = i0; i < end; i += 8)
        dyt_grad_step(dx + o, dy + o, dy + o, x + o, a, s, g, act, 0, i, end - i, &m);
    const int at = (nn * nchunks + j) * C + ch;
    parts[at] = hsum8(m.dg);
    parts[P + at] = hsum8(m.db);
    parts[2 * P + at] = hsum8(m.da);
    parts[3 * P + at] = hsum8(m.ds);
}

/* -------------------------------------------- RMSNorm / LayerNorm forward
 *
 * centered = 0: RMSNorm, y = x * rstd * w[c], mean not read or written
 *               (may be NULL), b unused.
 * centered = 1: LayerNorm, y = (x - mean) * rstd * w[c] + b[c].
 * With has_res the input is u = x + h, written to r_out (may alias x); else
 * u = x (h, r_out unused). x, h, r_out, y: [rows, C]; w, b: [C]; mean, rstd:
 * [rows], saved for the backward pass. The variance is computed in two
 * passes, around the mean.
 */

/* Steps of the row passes (CPU shape); c, n as in the elementwise kernels. */
inline float8 norm_sum_step(float8 acc, __global float *r_out, __global const float *x,
                            __global const float *h, const int has_res, const int centered, const int c,
                            const int n)
{
    float8 u = load8(x + c, n);
    if (has_res) {
        u += load8(h + c, n);
        store8(r_out + c, u, n);
    }
    return centered ? acc + u : fma(u, u, acc);
}

inline float8 norm_var_step(const float8 acc, __global const float *u, const float m, const int c, const int n)
{
    const float8 d = mask8(load8(u + c, n) - m, n);
    return fma(d, d, acc);
}

inline void norm_write_step(__global float *y, __global const float *u, __global const float *w,
                            __global const float *b, const int centered, const float m, const float rs,
                            const int c, const int n)
{
    const float8 bc = centered ? load8(b + c, n) : (float8)(0.0f);
    store8(y + c, fma((load8(u + c, n) - m) * rs, load8(w + c, n), bc), n);
}

/* CPU shape: one work-item per row; the row is read from memory once and
 * re-read from cache. NDRange: 1-D, global >= rows, any local size. */
__kernel void norm_forward_rows(__global float *y, __global float *mean, __global float *rstd,
                                __global float *r_out, __global const float *x, __global const float *h,
                                __global const float *w, __global const float *b, const int centered,
                                const int has_res, const float eps, const int rows, const int C)
{
    const int row = get_global_id(0), C8 = C / 8 * 8;
    if (row >= rows) return;
    const int o = row * C;
    y += o, r_out += o, x += o, h += o;
    float8 acc = 0.0f; /* pass 1: form u; sum u (LayerNorm) or u^2 (RMSNorm) */
    for (int c = 0; c < C8; c += 8) acc = norm_sum_step(acc, r_out, x, h, has_res, centered, c, 8);
    if (C8 < C) acc = norm_sum_step(acc, r_out, x, h, has_res, centered, C8, C - C8);
    __global const float *u = has_res ? r_out : x;
    const float m = centered ? hsum8(acc) / C : 0.0f;
    if (centered) { /* pass 2, LayerNorm: sum (u - m)^2 */
        acc = 0.0f;
        for (int c = 0; c < C8; c += 8) acc = norm_var_step(acc, u, m, c, 8);
        if (C8 < C) acc = norm_var_step(acc, u, m, C8, C - C8);
    }
    const float rs = rsqrt(hsum8(acc) / C + eps);
    if (centered) mean[row] = m;
    rstd[row] = rs;
    for (int c = 0; c < C8; c += 8) norm_write_step(y, u, w, b, centered, m, rs, c, 8);
    if (C8 < C) norm_write_step(y, u, w, b, centered, m, rs, C8, C - C8);
}

/* GPU shape: work-group g normalises row g; its work-items stride over the
 * row L apart (coalesced). NDRange: 1-D, global = rows * L, local L, a power
 * of two; scratch: L floats. */
__kernel void norm_forward_wg(__global float *y, __global float *mean, __global float *rstd,
                              __global float *r_out, __global const float *x, __global const float *h,
                              __global const float *w, __global const float *b, const int centered,
                              const int has_res, const float eps, const int rows, const int C,
                              __local float *scratch)
{
    const int row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0), o = row * C;
    float acc = 0.0f;
    for (int c = lid; c < C; c += L) {
        float u = x[o + c];
        if (has_res) {
            u += h[o + c];
            r_out[o + c] = u; /* read back below by this work-item only */
        }
        acc = centered ? acc + u : fma(u, u, acc);
    }
    __global const float *u = has_res ? r_out + o : x + o;
    const float m = centered ? wg_sum(scratch, acc) / C : 0.0f;
    if (centered) {
        acc = 0.0f;
        for (int c = lid; c < C; c += L) acc = fma(u[c] - m, u[c] - m, acc);
    }
    const float rs = rsqrt(wg_sum(scratch, acc) / C + eps);
    if (lid == 0) {
        if (centered) mean[row] = m;
        rstd[row] = rs;
    }
    for (int c = lid; c < C; c += L) y[o + c] = fma((u[c] - m) * rs, w[c], centered ? b[c] : 0.0f);
}

/* ------------------------------------------- RMSNorm / LayerNorm backward
 *
 * With g = dy * w[c], xhat = (x - mean) * rstd (mean = 0 for RMSNorm):
 *   RMSNorm    dx = rstd * (g - xhat * mean_c(g * xhat))            (+ dres)
 *   LayerNorm  dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)) (+ dres)
 *   dw[c] = sum over rows of dy * xhat,   db[c] = sum over rows of dy
 * x is the forward's input u (r_out for the fused residual); dres is the
 * residual stream's gradient, and dx is then the gradient for both r and h.
 * dx may alias dres. mean is not read when centered = 0 (may be NULL).
 * Then params_reduce with want = WANT_GAMMA (| WANT_BETA for LayerNorm), S = 0.
 */

/* Steps of the two passes over a row (CPU shape). Pass 1 sums g = dy * w
 * and g * xhat (lanes from n on have dy = 0, so g = 0); pass 2 writes dx and
 * adds dy * xhat, dy into the block's column sums pw, pb. */
inline void norm_grad_sum_step(float8 *sg, float8 *sgx, __global const float *dy, __global const float *x,
                               __global const float *w, const float m, const float rs, const int c,
                               const int n)
{
    const float8 g = load8(dy + c, n) * load8(w + c, n);
    *sg += g;
    *sgx = fma(g, (load8(x + c, n) - m) * rs, *sgx);
}

inline void norm_grad_step(__global float *dx, __global const float *dy, __global const float *dres,
                           __global const float *x, __global const float *w, const float m, const float rs,
                           const float mg, const float mgx, const int centered, const int has_dres,
                           const int first, __global float *pw, __global float *pb, const int c, const int n)
{
    const float8 d = load8(dy + c, n), xh = (load8(x + c, n) - m) * rs;
    const float8 res = has_dres ? load8(dres + c, n) : (float8)(0.0f);
    store8(dx + c, rs * (d * load8(w + c, n) - mg - xh * mgx) + res, n);
    store8(pw + c, first ? d * xh : fma(d, xh, load8(pw + c, n)), n);
    if (centered) store8(pb + c, first ? d : d + load8(pb + c, n), n);
}

/* CPU shape: work-item k walks rows [k*R, min((k+1)*R, rows)), writes dx and
 * keeps dw, db column sums in its rows of parts.
 * NDRange: 1-D, global >= nblocks = ceil(rows / R), any local size.
 * parts: nblocks = ceil(rows / R), S = 0 (2*P floats). */
__kernel void norm_backward_rows(__global float *dx, __global const float *dy, __global const float *dres,
                                 __global const float *x, __global const float *mean,
                                 __global const float *rstd, __global const float *w, const int centered,
                                 const int has_dres, const int rows, const int C, const int R,
                                 __global float *parts)
{
    const int k = get_global_id(0), nblocks = (rows + R - 1) / R, C8 = C / 8 * 8;
    if (k >= nblocks) return;
    const int r0 = k * R, r1 = min(rows, r0 + R);
    __global float *pw = parts + k * C, *pb = parts + nblocks * C + k * C;
    for (int row = r0; row < r1; row++) {
        const int o = row * C, first = row == r0;
        const float m = centered ? mean[row] : 0.0f, rs = rstd[row];
        float8 sg = 0.0f, sgx = 0.0f;
        for (int c = 0; c < C8; c += 8) norm_grad_sum_step(&sg, &sgx, dy + o, x + o, w, m, rs, c, 8);
        if (C8 < C) norm_grad_sum_step(&sg, &sgx, dy + o, x + o, w, m, rs, C8, C - C8);
        const float mg = centered ? hsum8(sg) / C : 0.0f, mgx = hsum8(sgx) / C;
        for (int c = 0; c < C8; c += 8)
            norm_grad_step(dx + o, dy + o, dres + o, x + o, w, m, rs, mg, mgx, centered, has_dres, first, pw, pb,
                           c, 8);
        if (C8 < C)
            norm_grad_step(dx + o, dy + o, dres + o, x + o, w, m, rs, mg, mgx, centered, has_dres, first, pw, pb,
                           C8, C - C8);
    }
}

/* GPU shape, in two kernels. norm_backward_wg: work-group g writes dx for
 * row g. NDRange: 1-D, global = rows * L, local L, a power of two; scratch:
 * L floats. Then norm_params_cols for dw, db. */
__kernel void norm_backward_wg(__global float *dx, __global const float *dy, __global const float *dres,
                               __global const float *x, __global const float *mean,
                               __global const float *rstd, __global const float *w, const int centered,
                               const int has_dres, const int rows, const int C, __local float *scratch)
{
    const int row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0), o = row * C;
    const float m = centered ? mean[row] : 0.0f, rs = rstd[row];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = lid; c < C; c += L) {
        const float g = dy[o + c] * w[c];
        sg += g;
        sgx = fma(g, (x[o + c] - m) * rs, sgx);
    }
    const float mg = centered ? wg_sum(scratch, sg) / C : 0.0f, mgx = wg_sum(scratch, sgx) / C;
    for (int c = lid; c < C; c += L) {
        const float xh = (x[o + c] - m) * rs;
        dx[o + c] = fma(rs, dy[o + c] * w[c] - mg - xh * mgx, has_dres ? dres[o + c] : 0.0f);
    }
}

/* GPU shape, dw and db: work-item (j, k) sums columns [8j, 8j+8) over rows
 * [k*R, min((k+1)*R, rows)) in registers.
 * NDRange: 2-D, global (ceil(C / 8), nblocks = ceil(rows / R)), each rounded
 * up to the local size; any local size.
 * parts: nblocks = ceil(rows / R), S = 0. Writes parts. */
__kernel void norm_params_cols(__global const float *dy, __global const float *x,
                               __global const float *mean, __global const float *rstd, const int centered,
                               const int rows, const int C, const int R, __global float *parts)
{
    const int j = get_global_id(0), k = get_global_id(1), c = 8 * j, nblocks = (rows + R - 1) / R;
    if (c >= C || k >= nblocks) return;
    const int n = C - c, r0 = k * R, r1 = min(rows, r0 + R);
    float8 dw = 0.0f, db = 0.0f;
    for (int row = r0; row < r1; row++) {
        const float m = centered ? mean[row] : 0.0f;
        const float8 d = load8(dy + row * C + c, n);
        dw = fma(d, (load8(x + row * C + c, n) - m) * rstd[row], dw);
        db += d;
    }
    store8(parts + k * C + c, dw, n);
    if (centered) store8(parts + nblocks * C + k * C + c, db, n);
}
