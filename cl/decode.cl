/* decode.cl -- attention for new positions against a KV cache (generation).
 *
 * q, o: [BH, Tq, D] (B*H heads, each Tq rows of D), the queries of
 * positions pos..pos+Tq-1; k_new, v_new: [BH/G, Tq, D] their keys/values;
 * kcache, vcache: [BH/G, Tmax, D]: one key/value head for each G query heads
 * in a row (grouped-query attention; G = 1: multi-head), query head bh
 * reads key/value head bh / G. Query i (position pos+i) attends to keys
 * 0..pos+i with scale = 1/sqrt(D): keys below pos come from the cache, the
 * others from k_new / v_new, so that no work-group waits for rows another
 * one writes. The work-groups of the first query head of each group also
 * copy their row i of k_new / v_new into row pos+i of the caches. One
 * launch does it all.
 *
 * Three shapes: attn_decode_wg (GPUs), a work-group per query, below;
 * attn_decode_rows (CPUs), a work-item per query; and attn_prefill_rows
 * (CPUs, DECODE_PREFILL_MIN or more new positions: a prompt), a work-item
 * per block of DECODE_QB queries, at the end of the file. The host picks by
 * device type (DYTCL_KERNEL_SHAPE = rows | groups forces) and, on CPUs, by
 * the number of new positions.
 *
 * attn_decode_wg: NDRange 3-D, global (L, Tq, BH), local (L, 1, 1): one
 * work-group per (head, query). L is a power of two, L <= DECODE_WG_MAX and
 * D <= L * DECODE_COLS (the host checks; it takes attn_decode_rows otherwise).
 *
 * Per chunk of L keys:
 *   1. work-item l scores key c+l (a dot product over D with q in local
 *      memory);
 *   2. a tree in local memory gives the chunk's maximum, and the running
 *      maximum m of the whole group follows (the same in every work-item);
 *   3. work-item l writes p = exp(score - m) to local memory;
 *   4. the work-items, as S = L/W sub-groups of W = min(L, D) (work-item
 *      = (sub, d0)), add p * v[key][d] over keys c+sub, c+sub+S, ... into
 *      their own accumulators, one per column d = d0, d0+W, ... < D (one
 *      column when L >= D; up to DECODE_COLS when a device allows fewer
 *      work-items than D), first scaled by exp(m_old - m) (online softmax),
 *      and keep the sum of those p likewise.
 * At the end the S partial accumulators and sums (sharing m) are added in
 * sub-group order: o[d] = sum acc / sum l.
 * Every local exchange sits between barriers that all work-items reach. */

/* DECODE_DMAX, DECODE_WG_MAX, DECODE_COLS (columns per work-item at most:
 * D <= DECODE_COLS L): cl/shared.h */

/* scale * q[0..D) . k[0..D), q in local memory, k anywhere in global. */
inline float decode_dot(__local const float *q, __global const float *k, const int D)
{
    float4 s4 = (float4)(0.0f);
    int d = 0;
    for (; d + 4 <= D; d += 4) s4 = fma(vload4(0, q + d), vload4(0, k + d), s4);
    float s = (s4.x + s4.y) + (s4.z + s4.w);
    for (; d < D; d++) s = fma(q[d], k[d], s);
    return s;
}

__kernel void attn_decode_wg(__global float *o, const int o_off, __global const float *q, const int q_off,
                          __global const float *k_new, const int kn_off, __global const float *v_new,
                          const int vn_off, __global float *kcache, const int kc_off, __global float *vcache,
                          const int vc_off, const int Tq, const int Tmax, const int D, const int pos,
                          const float scale, const int G)
{
    __local float qs[DECODE_DMAX];    /* scale * q of this query */
    __local float red[DECODE_WG_MAX]; /* the max tree; at the end, the sums l per sub-group */
    __local float ps[DECODE_WG_MAX];  /* p of the chunk's keys; at the end, the accumulators */

    const int lid = get_local_id(0), L = get_local_size(0);
    const int i = get_group_id(1), bh = get_group_id(2), hk = bh / G;
    const int nkeys = pos + i + 1;
    /* this head's rows, and its key/value head's */
    const size_t new_row = ((size_t)bh * Tq + i) * D, kv_row = ((size_t)hk * Tq + i) * D;
    const size_t head_new = (size_t)hk * Tq * D, head_cache = (size_t)hk * Tmax * D;
    __global const float *kn = k_new + kn_off + head_new, *vn = v_new + vn_off + head_new;
    __global const float *kc = kcache + kc_off + head_cache, *vc = vcache + vc_off + head_cache;

    /* the new row into the caches (once per group); q into local memory */
    for (int d = lid; d < D; d += L) {
        if (bh % G == 0) {
            kcache[kc_off + head_cache + (size_t)(pos + i) * D + d] = k_new[kn_off + kv_row + d];
            vcache[vc_off + head_cache + (size_t)(pos + i) * D + d] = v_new[vn_off + kv_row + d];
        }
        qs[d] = scale * q[q_off + new_row + d];
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    const int W = min(L, D), S = L / W, sub = lid / W, d0 = lid % W; /* work-item = (sub, d0) while sub < S */
    const int ncols = (D - d0 + W - 1) / W;                             /* columns d0, d0 + W, ... < D */
    float m = -INFINITY, l = 0.0f, acc[DECODE_COLS];
    for (int u = 0; u < DECODE_COLS; u++) acc[u] = 0.0f;
    for (int c = 0; c < nkeys; c += L) {
        /* 1. the score of key c + lid */
        const int j = c + lid;
        float s = -INFINITY;
        if (j < nkeys) s = decode_dot(qs, j < pos ? kc + (size_t)j * D : kn + (size_t)(j - pos) * D, D);
        red[lid] = s;
        barrier(CLK_LOCAL_MEM_FENCE);
        /* 2. the chunk's maximum */
        for (int step = L / 2; step > 0; step /= 2) {
            if (lid < step) red[lid] = fmax(red[lid], red[lid + step]);
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const float mn = fmax(m, red[0]), corr = exp(m - mn);
        m = mn;
        /* 3. p (0 past the last key) */
        ps[lid] = exp(s - mn);
        barrier(CLK_LOCAL_MEM_FENCE);
        /* 4. p * v for this work-item's keys and columns */
        if (sub < S) {
            const int nc = min(L, nkeys - c);
            float ls = 0.0f;
            _Pragma("unroll") for (int u = 0; u < DECODE_COLS; u++) if (u < ncols) acc[u] *= corr;
            for (int jj = sub; jj < nc; jj += S) {
                const int jk = c + jj;
                __global const float *vrow = jk < pos ? vc + (size_t)jk * D : vn + (size_t)(jk - pos) * D;
                const float p = ps[jj];
                _Pragma("unroll") for (int u = 0; u < DECODE_COLS; u++) if (u < ncols) acc[u] = fma(p, vrow[d0 + u * W], acc[u]);
                ls += p;
            }
            l = fma(l, corr, ls);
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* red and ps are rewritten next */
    }

    /* the sub-groups' partials, added in order (S * D <= max(L, D) floats) */
    if (sub < S) {
        _Pragma("unroll") for (int u = 0; u < DECODE_COLS; u++) if (u < ncols) ps[sub * D + d0 + u * W] = acc[u];
        if (d0 == 0) red[sub] = l;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int d = lid; d < D; d += L) {
        float a = 0.0f, ls = 0.0f;
        for (int u = 0; u < S; u++) {
            a += ps[u * D + d];
            ls += red[u];
        }
        o[o_off + new_row + d] = a / ls;
    }
}

/* ------------------------------------------------------------ CPU shape
 * A work-item per (head, query) walks its keys four at a time with an
 * online softmax: on CPU devices a work-group is a loop on one core, and
 * this keeps one query's work in one core's registers and caches, with
 * four independent dot products in flight.
 * NDRange 2-D: global (Tq, BH), any local size (checked). Same arguments. */

/* Row j of one head's keys or values: the cache below pos, the new rows from pos. */
inline __global const float *decode_row(__global const float *cache, __global const float *fresh, const int j,
                                        const int pos, const int D)
{
    return j < pos ? cache + (size_t)j * D : fresh + (size_t)(j - pos) * D;
}

/* (q.k0, q.k1, q.k2, q.k3), q private. */
inline float4 decode_dot4(const float *q, __global const float *k0, __global const float *k1,
                          __global const float *k2, __global const float *k3, const int D)
{
    float4 a0 = (float4)(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int d = 0;
    for (; d + 4 <= D; d += 4) {
        const float4 qv = vload4(0, q + d);
        a0 = fma(qv, vload4(0, k0 + d), a0);
        a1 = fma(qv, vload4(0, k1 + d), a1);
        a2 = fma(qv, vload4(0, k2 + d), a2);
        a3 = fma(qv, vload4(0, k3 + d), a3);
    }
    float4 s = (float4)((a0.x + a0.y) + (a0.z + a0.w), (a1.x + a1.y) + (a1.z + a1.w),
                        (a2.x + a2.y) + (a2.z + a2.w), (a3.x + a3.y) + (a3.z + a3.w));
    for (; d < D; d++) s = fma((float4)(q[d]), (float4)(k0[d], k1[d], k2[d], k3[d]), s);
    return s;
}

/* Online softmax: a score above the running maximum m rescales acc and l. */
inline void decode_raise_max(float *acc, float *l, float *m, const float mx, const int D)
{
    if (mx > *m) {
        const float corr = exp(*m - mx);
        for (int d = 0; d < D; d++) acc[d] *= corr;
        *l *= corr;
        *m = mx;
    }
}

__kernel void attn_decode_rows(__global float *o, const int o_off, __global const float *q, const int q_off,
                               __global const float *k_new, const int kn_off, __global const float *v_new,
                               const int vn_off, __global float *kcache, const int kc_off, __global float *vcache,
                               const int vc_off, const int Tq, const int Tmax, const int D, const int pos,
                               const float scale, const int G)
{
    const int i = get_global_id(0), bh = get_global_id(1), hk = bh / G;
    if (i < Tq) {
        const size_t new_row = ((size_t)bh * Tq + i) * D, head_new = (size_t)hk * Tq * D;
        const size_t head_cache = (size_t)hk * Tmax * D;
        __global const float *kn = k_new + kn_off + head_new, *vn = v_new + vn_off + head_new;
        __global const float *kc = kcache + kc_off + head_cache, *vc = vcache + vc_off + head_cache;
        /* the new row into the caches, once per group (every work-item reads
         * the new rows from k_new, v_new) */
        if (bh % G == 0) for (int d = 0; d < D; d++) {
            kcache[kc_off + head_cache + (size_t)(pos + i) * D + d] = kn[(size_t)i * D + d];
            vcache[vc_off + head_cache + (size_t)(pos + i) * D + d] = vn[(size_t)i * D + d];
        }
        float qs[DECODE_DMAX], acc[DECODE_DMAX];
        for (int d = 0; d < D; d++) qs[d] = scale * q[q_off + new_row + d], acc[d] = 0.0f;
        float m = -INFINITY, l = 0.0f;
        const int nkeys = pos + i + 1;
        int j = 0;
        for (; j + 4 <= nkeys; j += 4) {
            const float4 s = decode_dot4(qs, decode_row(kc, kn, j, pos, D), decode_row(kc, kn, j + 1, pos, D),
                                         decode_row(kc, kn, j + 2, pos, D), decode_row(kc, kn, j + 3, pos, D), D);
            decode_raise_max(acc, &l, &m, fmax(fmax(s.x, s.y), fmax(s.z, s.w)), D);
            const float4 p = exp(s - (float4)(m));
            l += (p.x + p.y) + (p.z + p.w);
            __global const float *v0 = decode_row(vc, vn, j, pos, D), *v1 = decode_row(vc, vn, j + 1, pos, D);
            __global const float *v2 = decode_row(vc, vn, j + 2, pos, D), *v3 = decode_row(vc, vn, j + 3, pos, D);
            int d = 0;
            for (; d + 4 <= D; d += 4) {
                float4 a = vload4(0, acc + d);
                a = fma((float4)(p.x), vload4(0, v0 + d), a);
                a = fma((float4)(p.y), vload4(0, v1 + d), a);
                a = fma((float4)(p.z), vload4(0, v2 + d), a);
                vstore4(fma((float4)(p.w), vload4(0, v3 + d), a), 0, acc + d);
            }
            for (; d < D; d++) acc[d] = fma(p.w, v3[d], fma(p.z, v2[d], fma(p.y, v1[d], fma(p.x, v0[d], acc[d]))));
        }
        for (; j < nkeys; j++) { /* the last 0..3 keys */
            __global const float *kr = decode_row(kc, kn, j, pos, D), *vr = decode_row(vc, vn, j, pos, D);
            float s = 0.0f;
            for (int d = 0; d < D; d++) s = fma(qs[d], kr[d], s);
            decode_raise_max(acc, &l, &m, s, D);
            const float p = exp(s - m);
            l += p;
            for (int d = 0; d < D; d++) acc[d] = fma(p, vr[d], acc[d]);
        }
        for (int d = 0; d < D; d++) o[o_off + new_row + d] = acc[d] / l;
    }
}

/* ------------------------------------------------------------ prefill
 * attn_prefill_rows (CPU shape, many queries at once: a prompt): a
 * work-item per (head, block of DECODE_QB consecutive queries), the block's
 * queries in the lanes of a float16 (DECODE_QB = 16). Per key, the scores of
 * all 16 queries are one vector: q^T is kept column by column (qt[d] = the
 * 16 queries' component d), so s = sum_d qt[d] * k[d] needs no horizontal
 * sum, and the online softmax (maximum, exp, rescale) runs once per key for
 * the 16 queries; o^T likewise (acc[d] += p * v[d]). Keys go 4 at a time
 * (four score vectors in flight, one rescale per 4 keys). The causal mask
 * is per lane (query pos+i0+r sees keys 0..pos+i0+r); lanes past Tq hold
 * zero queries and are not written. Keys below pos come from the cache,
 * the others from k_new / v_new, and the work-items of the first query
 * head of each group copy their block's rows of k_new / v_new into the
 * caches, as in attn_decode_rows.
 * NDRange 2-D: global (ceil(Tq / DECODE_QB), BH), any local size. Same
 * arguments as attn_decode_rows. */

/* Row j of a head's keys or values where j may run past the last key
 * (a block's padding): clamped to the last, masked by the caller. */
inline __global const float *prefill_row(__global const float *cache, __global const float *fresh, const int j,
                                         const int last, const int pos, const int D)
{
    return decode_row(cache, fresh, j < last ? j : last - 1, pos, D);
}

__kernel void attn_prefill_rows(__global float *o, const int o_off, __global const float *q, const int q_off,
                                __global const float *k_new, const int kn_off, __global const float *v_new,
                                const int vn_off, __global float *kcache, const int kc_off, __global float *vcache,
                                const int vc_off, const int Tq, const int Tmax, const int D, const int pos,
                                const float scale, const int G)
{
    const int i0 = get_global_id(0) * DECODE_QB, bh = get_global_id(1), hk = bh / G;
    if (i0 >= Tq) return;
    const int nq = min(DECODE_QB, Tq - i0);
    const size_t head_new = (size_t)hk * Tq * D, head_cache = (size_t)hk * Tmax * D;
    __global const float *kn = k_new + kn_off + head_new, *vn = v_new + vn_off + head_new;
    __global const float *kc = kcache + kc_off + head_cache, *vc = vcache + vc_off + head_cache;
    __global const float *qb = q + q_off + ((size_t)bh * Tq + i0) * D;
    if (bh % G == 0)
        for (int e = 0; e < nq * D; e++) {
            kcache[kc_off + head_cache + (size_t)(pos + i0) * D + e] = kn[(size_t)i0 * D + e];
            vcache[vc_off + head_cache + (size_t)(pos + i0) * D + e] = vn[(size_t)i0 * D + e];
        }
    float16 qt[DECODE_DMAX], acc[DECODE_DMAX];
    float col[DECODE_QB];
    for (int d = 0; d < D; d++) {
        for (int r = 0; r < DECODE_QB; r++) col[r] = r < nq ? scale * qb[(size_t)r * D + d] : 0.0f;
        qt[d] = vload16(0, col);
        acc[d] = (float16)(0.0f);
    }
    const float16 lane = (float16)(0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f, 12.0f,
                                   13.0f, 14.0f, 15.0f);
    const int last = pos + i0 + nq; /* the block reads keys 0..last-1 */
    float16 m = (float16)(-INFINITY), l = (float16)(0.0f);
    for (int j = 0; j < last; j += 4) {
        __global const float *k0 = prefill_row(kc, kn, j, last, pos, D), *k1 = prefill_row(kc, kn, j + 1, last, pos, D);
        __global const float *k2 = prefill_row(kc, kn, j + 2, last, pos, D), *k3 = prefill_row(kc, kn, j + 3, last, pos, D);
        float16 s0 = (float16)(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (int d = 0; d < D; d++) {
            const float16 qd = qt[d];
            s0 = fma(qd, (float16)(k0[d]), s0);
            s1 = fma(qd, (float16)(k1[d]), s1);
            s2 = fma(qd, (float16)(k2[d]), s2);
            s3 = fma(qd, (float16)(k3[d]), s3);
        }
        if (j + 3 > pos + i0) { /* key j+c is past query pos+i0+r where j+c-pos-i0 > r */
            const float16 rel = (float16)((float)(j - pos - i0)) - lane;
            s0 = select(s0, (float16)(-INFINITY), isgreater(rel, (float16)(0.0f)));
            s1 = select(s1, (float16)(-INFINITY), isgreater(rel, (float16)(-1.0f)));
            s2 = select(s2, (float16)(-INFINITY), isgreater(rel, (float16)(-2.0f)));
            s3 = select(s3, (float16)(-INFINITY), isgreater(rel, (float16)(-3.0f)));
        }
        const float16 mn = fmax(m, fmax(fmax(s0, s1), fmax(s2, s3))), corr = exp(m - mn);
        m = mn;
        const float16 p0 = exp(s0 - mn), p1 = exp(s1 - mn), p2 = exp(s2 - mn), p3 = exp(s3 - mn);
        l = fma(l, corr, (p0 + p1) + (p2 + p3));
        __global const float *v0 = prefill_row(vc, vn, j, last, pos, D), *v1 = prefill_row(vc, vn, j + 1, last, pos, D);
        __global const float *v2 = prefill_row(vc, vn, j + 2, last, pos, D), *v3 = prefill_row(vc, vn, j + 3, last, pos, D);
        for (int d = 0; d < D; d++)
            acc[d] = fma(p3, (float16)(v3[d]),
                         fma(p2, (float16)(v2[d]), fma(p1, (float16)(v1[d]), fma(p0, (float16)(v0[d]), acc[d] * corr))));
    }
    __global float *ob = o + o_off + ((size_t)bh * Tq + i0) * D;
    for (int d = 0; d < D; d++) {
        vstore16(acc[d] / l, 0, col);
        for (int r = 0; r < nq; r++) ob[(size_t)r * D + d] = col[r];
    }
}
