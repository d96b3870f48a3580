/* attention.cl -- multi-head attention, causal or bidirectional, two ways.
 *
 * q, o: [BH, T, D] (B*H heads, each T rows of D); k, v: [BH/G, T, D], one
 * key/value head for each G query heads in a row (grouped-query attention;
 * G = 1: multi-head): query head h reads key/value head h / G. lse: [BH, T],
 * the log-sum-exp of each query's scaled scores, saved for the backward.
 * With causal = 1 query t sees keys 0..t (language models); with causal = 0
 * it sees every key 0..T-1 (vision encoders). scale = 1/sqrt(D).
 *
 * The GEMM path: CLBlast forms S = scale Q K^T per key/value head, the
 * group's G query heads as one [G T, D] matrix (their rows are adjacent), so
 * S is [BH, T, T] in a workspace either way; attn_softmax turns it into P in
 * place, CLBlast forms O = P V. The backward recomputes P and runs
 * attn_softmax_backward between GEMMs; dK = dS^T Q and dV = P^T dO sum the
 * group's query heads inside the GEMM (its inner dimension is G T).
 *
 * The tiled path: a work-item per query (forward, dQ) or per key (dK, dV)
 * walks the other side with an online softmax, keeping O(T) memory per head:
 * nothing of size T x T is ever stored; a key's work-item walks the queries
 * of every head of its group in turn (a fixed order). D is at most ATTN_DMAX.
 *
 * Row kernels: NDRange 2-D, global (T, BH) (dK, dV: (T, BH/G)), any local
 * size (checked). */

/* ATTN_DMAX: cl/shared.h */

/* The keys query t sees: 0 .. seen(t) - 1. */
inline int seen(const int t, const int T, const int causal) { return causal ? t + 1 : T; }

/* The row kernels below work on 8 keys at a time (float8: one vector
 * instruction per step on CPUs, where PoCL would otherwise vectorise across
 * rows T floats apart) and finish a row's last T % 8 keys one by one. Of
 * the whole chunks, those before nv(n) hold a seen key (lanes at or past n
 * masked); the rest are all unseen. hsum8: cl/common.cl. */
#define LANES8 ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
inline int chunks_seen(const int n, const int T) { return min(T & ~7, (n + 7) & ~7); }
inline float hmax8(const float8 v)
{
    const float4 a = fmax(v.lo, v.hi);
    const float2 b = fmax(a.lo, a.hi);
    return fmax(b.x, b.y);
}

/* P[t, j] = exp(S[t, j] - m) / sum for the keys t sees (m their largest
 * score, sum of the exponentials), 0 for the others; lse[t] = m + log(sum)
 * written. S holds scale * q.k already. One exp per seen key. */
__kernel void attn_softmax(__global float *S, __global float *lse, const int lse_off, const int T,
                           const int causal)
{
    const int t = get_global_id(0), h = get_global_id(1);
    if (t >= T) return;
    __global float *s = S + ((size_t)h * T + t) * T;
    const int n = seen(t, T, causal), T8 = T & ~7, nv = chunks_seen(n, T);
    float8 mv = (float8)(-INFINITY);
    int j = 0;
    for (; j + 8 <= n; j += 8) mv = fmax(mv, vload8(0, s + j));
    float m = hmax8(mv);
    for (; j < n; j++) m = fmax(m, s[j]);
    float8 sv = (float8)(0.0f);
    for (j = 0; j + 8 <= n; j += 8) {
        const float8 e = exp(vload8(0, s + j) - m);
        vstore8(e, 0, s + j);
        sv += e;
    }
    float sum = hsum8(sv);
    for (; j < n; j++) {
        const float e = exp(s[j] - m);
        s[j] = e;
        sum += e;
    }
    const float r = 1.0f / sum;
    for (j = 0; j < nv; j += 8) /* the chunk with the last seen key: its e lanes, then zeros */
        vstore8(select(vload8(0, s + j) * r, (float8)(0.0f), LANES8 + j >= n), 0, s + j);
    for (; j < T8; j += 8) vstore8((float8)(0.0f), 0, s + j);
    for (; j < T; j++) s[j] = j < n ? s[j] * r : 0.0f;
    lse[lse_off + h * T + t] = m + log(sum);
}

/* Recomputes P = exp(S - lse) from S and the saved lse (backward). */
__kernel void attn_softmax_recompute(__global float *S, __global const float *lse, const int lse_off, const int T,
                                     const int causal)
{
    const int t = get_global_id(0), h = get_global_id(1);
    if (t >= T) return;
    __global float *s = S + ((size_t)h * T + t) * T;
    const float l = lse[lse_off + h * T + t];
    const int n = seen(t, T, causal), T8 = T & ~7, nv = chunks_seen(n, T);
    int j = 0;
    for (; j < nv; j += 8) vstore8(select(exp(vload8(0, s + j) - l), (float8)(0.0f), LANES8 + j >= n), 0, s + j);
    for (; j < T8; j += 8) vstore8((float8)(0.0f), 0, s + j);
    for (; j < T; j++) s[j] = j < n ? exp(s[j] - l) : 0.0f;
}

/* dS = P * (dP - sum_j P dP) * scale, in place over dP. */
__kernel void attn_softmax_backward(__global float *dP, __global const float *P, const int T, const float scale,
                                    const int causal)
{
    const int t = get_global_id(0), h = get_global_id(1);
    if (t >= T) return;
    const size_t row = ((size_t)h * T + t) * T;
    __global float *d = dP + row;
    __global const float *p = P + row;
    const int n = seen(t, T, causal), T8 = T & ~7, nv = chunks_seen(n, T);
    float8 dv = (float8)(0.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) dv += vload8(0, p + j) * vload8(0, d + j);
    float dot = hsum8(dv);
    for (; j < n; j++) dot += p[j] * d[j];
    for (j = 0; j < nv; j += 8)
        vstore8(select(vload8(0, p + j) * (vload8(0, d + j) - dot) * scale, (float8)(0.0f), LANES8 + j >= n), 0,
                d + j);
    for (; j < T8; j += 8) vstore8((float8)(0.0f), 0, d + j);
    for (; j < T; j++) d[j] = j < n ? p[j] * (d[j] - dot) * scale : 0.0f;
}

/* ------------------------------------------------------------ tiled path
 *
 * Each work-item keeps accumulators for ATTN_DC columns of D: a count known
 * at compile time (a -D option, host/program.c's tuning sets), so that on a
 * GPU the loops over them unroll and the accumulators stay in registers (a
 * private array indexed at run time lives in scratch memory). A head wider
 * than ATTN_DC takes ceil(D / ATTN_DC) passes over the keys, each pass
 * recomputing the same scores: every column sees the same sequence of
 * operations whatever ATTN_DC is, so the results do not depend on it. The
 * CPU default is one pass. */
#ifndef ATTN_DC
#define ATTN_DC ATTN_DMAX
#endif

/* for d in [0, dn), dn <= ATTN_DC: below ATTN_DMAX, a loop of ATTN_DC steps
 * unrolled whole (a bound known only at run time does not unroll), each
 * step guarded; at ATTN_DMAX (the CPU build) a plain loop to dn. */
#if ATTN_DC < ATTN_DMAX
#define ATTN_COLS(d) _Pragma("unroll") for (int d = 0; d < ATTN_DC; d++) if (d < dn)
#else
#define ATTN_COLS(d) for (int d = 0; d < dn; d++)
#endif

inline float dotD(__global const float *a, __global const float *b, const int D)
{
    float s = 0.0f;
    for (int d = 0; d < D; d++) s = fma(a[d], b[d], s);
    return s;
}

__kernel void attn_forward_tiled(__global float *o, const int o_off, __global float *lse, const int lse_off,
                                 __global const float *q, const int q_off, __global const float *k,
                                 const int k_off, __global const float *v, const int v_off, const int T,
                                 const int D, const float scale, const int causal, const int G)
{
    const int t = get_global_id(0), h = get_global_id(1);
    if (t >= T) return;
    const size_t base = (size_t)h * T * D, kvb = (size_t)(h / G) * T * D;
    __global const float *qt = q + q_off + base + (size_t)t * D;
    __global float *ot = o + o_off + base + (size_t)t * D;
    const int n = seen(t, T, causal);
    float m = -INFINITY, l = 0.0f;
    for (int d0 = 0; d0 < D; d0 += ATTN_DC) { /* columns d0 .. d0 + dn - 1 */
        const int dn = min(ATTN_DC, D - d0);
        float acc[ATTN_DC];
        ATTN_COLS(d) acc[d] = 0.0f;
        m = -INFINITY, l = 0.0f;
        for (int j = 0; j < n; j++) {
            const float s = scale * dotD(qt, k + k_off + kvb + (size_t)j * D, D);
            const float mn = fmax(m, s), corr = exp(m - mn), p = exp(s - mn);
            __global const float *vj = v + v_off + kvb + (size_t)j * D + d0;
            ATTN_COLS(d) acc[d] = fma(p, vj[d], acc[d] * corr);
            l = fma(l, corr, p);
            m = mn;
        }
        ATTN_COLS(d) ot[d0 + d] = acc[d] / l;
    }
    lse[lse_off + h * T + t] = m + log(l);
}

/* delta[t] = dO[t] . O[t], the row term of the softmax backward. */
__kernel void attn_delta(__global float *delta, __global const float *dout, const int do_off,
                         __global const float *o, const int o_off, const int T, const int D)
{
    const int t = get_global_id(0), h = get_global_id(1);
    if (t >= T) return;
    const size_t at = ((size_t)h * T + t) * D;
    delta[h * T + t] = dotD(dout + do_off + at, o + o_off + at, D);
}

/* dQ[t] = scale * sum_{j seen by t} P[t,j] (dO[t].v[j] - delta[t]) k[j] */
__kernel void attn_backward_dq_tiled(__global float *dq, const int dq_off, __global const float *dout,
                                     const int do_off, __global const float *q, const int q_off,
                                     __global const float *k, const int k_off, __global const float *v,
                                     const int v_off, __global const float *lse, const int lse_off,
                                     __global const float *delta, const int T, const int D, const float scale,
                                     const int causal, const int G)
{
    const int t = get_global_id(0), h = get_global_id(1);
    if (t >= T) return;
    const size_t at = (size_t)h * T * D + (size_t)t * D, kvb = (size_t)(h / G) * T * D;
    const float l = lse[lse_off + h * T + t], dl = delta[h * T + t];
    const int n = seen(t, T, causal);
    for (int d0 = 0; d0 < D; d0 += ATTN_DC) {
        const int dn = min(ATTN_DC, D - d0);
        float acc[ATTN_DC];
        ATTN_COLS(d) acc[d] = 0.0f;
        for (int j = 0; j < n; j++) {
            __global const float *kj = k + k_off + kvb + (size_t)j * D;
            const float p = exp(scale * dotD(q + q_off + at, kj, D) - l);
            const float ds = p * (dotD(dout + do_off + at, v + v_off + kvb + (size_t)j * D, D) - dl);
            ATTN_COLS(d) acc[d] = fma(ds, kj[d0 + d], acc[d]);
        }
        ATTN_COLS(d) dq[dq_off + at + d0 + d] = acc[d] * scale;
    }
}

/* For key i of key/value head hk, over the group's query heads h = hk G ..
 * hk G + G - 1 and their queries t that see it (t >= i when causal, every t if not):
 *   dV[i] = sum_h,t P[t,i] dO[t];  dK[i] = scale * sum_h,t P[t,i] (dO[t].v[i] - delta[t]) q[t] */
__kernel void attn_backward_dkdv_tiled(__global float *dk, const int dk_off, __global float *dv,
                                       const int dv_off, __global const float *dout, const int do_off,
                                       __global const float *q, const int q_off, __global const float *k,
                                       const int k_off, __global const float *v, const int v_off,
                                       __global const float *lse, const int lse_off,
                                       __global const float *delta, const int T, const int D,
                                       const float scale, const int causal, const int G)
{
    const int i = get_global_id(0), hk = get_global_id(1);
    if (i >= T) return;
    const size_t at = (size_t)hk * T * D + (size_t)i * D;
    for (int d0 = 0; d0 < D; d0 += ATTN_DC) {
        const int dn = min(ATTN_DC, D - d0);
        float ak[ATTN_DC], av[ATTN_DC];
        ATTN_COLS(d) ak[d] = av[d] = 0.0f;
        for (int h = hk * G; h < hk * G + G; h++) {
            const size_t base = (size_t)h * T * D;
            for (int t = causal ? i : 0; t < T; t++) {
                __global const float *qt = q + q_off + base + (size_t)t * D, *dot = dout + do_off + base + (size_t)t * D;
                const float p = exp(scale * dotD(qt, k + k_off + at, D) - lse[lse_off + h * T + t]);
                const float ds = p * (dotD(dot, v + v_off + at, D) - delta[h * T + t]);
                ATTN_COLS(d) {
                    av[d] = fma(p, dot[d0 + d], av[d]);
                    ak[d] = fma(ds, qt[d0 + d], ak[d]);
                }
            }
        }
        ATTN_COLS(d) {
            dv[dv_off + at + d0 + d] = av[d];
            dk[dk_off + at + d0 + d] = ak[d] * scale;
        }
    }
}

/* ------------------------------------------------------------ head layout */

/* The QKV projection gives rows [B, T, (H + 2 Hk) D]: q's H heads, then k's
 * and v's Hk heads each (Hk = H without grouped-query attention); attention
 * wants q as [B, H, T, D], k and v as [B, Hk, T, D]; its output goes back as
 * [B, T, H, D].
 *   split (back = 0):  q[b, h, t, d] = qkv[b, t, h D + d],
 *                      k/v[b, h, t, d] = qkv[b, t, H D + (0 | Hk D) + h D + d] for h < Hk
 *   merge (back = 0):  y[b, t, h, d] = o[b, h, t, d]
 * and the same mappings the other way round for the backward (back = 1).
 * NDRange 3-D: global (D rounded up, T, H), any local size; a work-item
 * moves element d of row (t, h) in every batch b: no integer division (one
 * per element made these copies run at a tenth of copy bandwidth on CPUs). */
__kernel void heads_split(__global float *q, const int q_off, __global float *k, const int k_off,
                          __global float *v, const int v_off, __global float *qkv, const int qkv_off,
                          const int B, const int T, const int H, const int Hk, const int D, const int back)
{
    const int d = get_global_id(0), t = get_global_id(1), h = get_global_id(2);
    if (d >= D) return;
    const int C = H * D, K = Hk * D, W = C + 2 * K;
    for (int b = 0; b < B; b++) {
        const int src = (b * T + t) * W + h * D + d, dst = ((b * H + h) * T + t) * D + d;
        const int kdst = ((b * Hk + h) * T + t) * D + d;
        if (back) {
            qkv[qkv_off + src] = q[q_off + dst];
            if (h < Hk) {
                qkv[qkv_off + src + C] = k[k_off + kdst];
                qkv[qkv_off + src + C + K] = v[v_off + kdst];
            }
        } else {
            q[q_off + dst] = qkv[qkv_off + src];
            if (h < Hk) {
                k[k_off + kdst] = qkv[qkv_off + src + C];
                v[v_off + kdst] = qkv[qkv_off + src + C + K];
            }
        }
    }
}

__kernel void heads_merge(__global float *y, const int y_off, __global float *o, const int o_off, const int B,
                          const int T, const int H, const int D, const int back)
{
    const int d = get_global_id(0), t = get_global_id(1), h = get_global_id(2);
    if (d >= D) return;
    for (int b = 0; b < B; b++) {
        const int at_y = ((b * T + t) * H + h) * D + d, at_o = ((b * H + h) * T + t) * D + d;
        if (back) o[o_off + at_o] = y[y_off + at_y];
        else y[y_off + at_y] = o[o_off + at_o];
    }
}

/* The same mappings in the CPU shape (dy_row_shape): a work-item moves a
 * whole row of D contiguous values, a loop the compiler vectorises.
 * NDRange 3-D: global (T rounded up, H, B), any local size. */
__kernel void heads_split_rows(__global float *q, const int q_off, __global float *k, const int k_off,
                               __global float *v, const int v_off, __global float *qkv, const int qkv_off,
                               const int B, const int T, const int H, const int Hk, const int D, const int back)
{
    const int t = get_global_id(0), h = get_global_id(1), b = get_global_id(2), C = H * D, K = Hk * D;
    if (t >= T) return;
    __global float *row = qkv + qkv_off + (b * T + t) * (C + 2 * K) + h * D;
    __global float *qr = q + q_off + ((b * H + h) * T + t) * D;
    if (back) for (int d = 0; d < D; d++) row[d] = qr[d];
    else for (int d = 0; d < D; d++) qr[d] = row[d];
    if (h >= Hk) return;
    const int at = ((b * Hk + h) * T + t) * D;
    __global float *kr = k + k_off + at, *vr = v + v_off + at;
    if (back) {
        for (int d = 0; d < D; d++) row[C + d] = kr[d];
        for (int d = 0; d < D; d++) row[C + K + d] = vr[d];
    } else {
        for (int d = 0; d < D; d++) kr[d] = row[C + d];
        for (int d = 0; d < D; d++) vr[d] = row[C + K + d];
    }
}

__kernel void heads_merge_rows(__global float *y, const int y_off, __global float *o, const int o_off, const int B,
                               const int T, const int H, const int D, const int back)
{
    const int t = get_global_id(0), h = get_global_id(1), b = get_global_id(2);
    if (t >= T) return;
    __global float *yr = y + y_off + ((b * T + t) * H + h) * D, *orow = o + o_off + ((b * H + h) * T + t) * D;
    if (back) for (int d = 0; d < D; d++) orow[d] = yr[d];
    else for (int d = 0; d < D; d++) yr[d] = orow[d];
}

/* The head split with RoPE on q and k in the same pass (the split's
 * mapping; RoPE as cl/act.cl's rope: in a row at position p = t + pos, the
 * pair (x[2i], x[2i+1]) turns by the angle p theta^(-2i/D), from the
 * table cs [n, D/2, 2] for positions base..). back = 1 is the backward:
 * dq, dk turned back (sign -1) and dv copied into dqkv. D is even. */
inline void turn_pair(__global float *y, __global const float *x, const int i, __global const float *cs,
                      const float sign)
{
    const float c = cs[2 * i], s = cs[2 * i + 1] * sign, x0 = x[2 * i], x1 = x[2 * i + 1];
    y[2 * i] = x0 * c - x1 * s;
    y[2 * i + 1] = x0 * s + x1 * c;
}

/* The GPU shape: global (D/2, T, H) as heads_split's, a pair per work-item,
 * the batch in a loop. */
__kernel void heads_split_rope(__global float *q, const int q_off, __global float *k, const int k_off,
                               __global float *v, const int v_off, __global float *qkv, const int qkv_off,
                               __global const float *cs, const int pos, const int base, const int B, const int T,
                               const int H, const int Hk, const int D, const int back)
{
    const int i = get_global_id(0), t = get_global_id(1), h = get_global_id(2);
    if (i >= D / 2) return;
    const int C = H * D, K = Hk * D, W = C + 2 * K;
    __global const float *a = cs + (size_t)2 * (t + pos - base) * (D / 2);
    const float sign = back ? -1.0f : 1.0f;
    for (int b = 0; b < B; b++) {
        __global float *row = qkv + qkv_off + (b * T + t) * W + h * D;
        __global float *qr = q + q_off + ((b * H + h) * T + t) * D;
        if (back) turn_pair(row, qr, i, a, sign);
        else turn_pair(qr, row, i, a, sign);
        if (h >= Hk) continue;
        const int at = ((b * Hk + h) * T + t) * D;
        __global float *kr = k + k_off + at, *vr = v + v_off + at;
        if (back) {
            turn_pair(row + C, kr, i, a, sign);
            row[C + K + 2 * i] = vr[2 * i], row[C + K + 2 * i + 1] = vr[2 * i + 1];
        } else {
            turn_pair(kr, row + C, i, a, sign);
            vr[2 * i] = row[C + K + 2 * i], vr[2 * i + 1] = row[C + K + 2 * i + 1];
        }
    }
}

/* The CPU shape: global (T, H, B) as heads_split_rows's, a row of D per
 * work-item. */
__kernel void heads_split_rope_rows(__global float *q, const int q_off, __global float *k, const int k_off,
                                    __global float *v, const int v_off, __global float *qkv, const int qkv_off,
                                    __global const float *cs, const int pos, const int base, const int B,
                                    const int T, const int H, const int Hk, const int D, const int back)
{
    const int t = get_global_id(0), h = get_global_id(1), b = get_global_id(2), C = H * D, K = Hk * D;
    if (t >= T) return;
    __global const float *a = cs + (size_t)2 * (t + pos - base) * (D / 2);
    const float sign = back ? -1.0f : 1.0f;
    __global float *row = qkv + qkv_off + (b * T + t) * (C + 2 * K) + h * D;
    __global float *qr = q + q_off + ((b * H + h) * T + t) * D;
    if (back) for (int i = 0; i < D / 2; i++) turn_pair(row, qr, i, a, sign);
    else for (int i = 0; i < D / 2; i++) turn_pair(qr, row, i, a, sign);
    if (h >= Hk) return;
    const int at = ((b * Hk + h) * T + t) * D;
    __global float *kr = k + k_off + at, *vr = v + v_off + at;
    if (back) {
        for (int i = 0; i < D / 2; i++) turn_pair(row + C, kr, i, a, sign);
        for (int d = 0; d < D; d++) row[C + K + d] = vr[d];
    } else {
        for (int i = 0; i < D / 2; i++) turn_pair(kr, row + C, i, a, sign);
        for (int d = 0; d < D; d++) vr[d] = row[C + K + d];
    }
}
