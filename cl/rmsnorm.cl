/* rmsnorm.cl -- RMSNorm and LayerNorm, forward and backward, and RMSNorm
 * fused with the residual add: the baselines DyT is measured against, built
 * as carefully as DyT.
 *
 *   RMSNorm    y = x * rstd * w[c],                 rstd = 1 / sqrt(mean(x^2) + eps)
 *   LayerNorm  y = (x - mean) * rstd * w[c] + b[c], rstd = 1 / sqrt(var(x) + eps)
 *
 * x, y: [rows, C]; mean, rstd: [rows], saved for the backward pass. w and b
 * are optional (flags bit 0, bit 1). Every row needs a reduction, so each
 * kernel comes in two shapes, chosen by the host from the device type:
 *
 *   _rows  one work-item per row (or block of rows), float8 loops: a CPU
 *          streams the row from memory once and re-reads it from cache.
 *          NDRange 1-D, global = rows (or blocks), any local size.
 *   _wg    one work-group per row (or block of rows), a tree in local
 *          memory: GPUs. NDRange 1-D, global = L * rows (or blocks), local
 *          L a power of two; scratch holds L floats (2L for two sums).
 *
 * Backward: g = dy * w[c], xhat = (x - mean) * rstd (mean = 0 for RMSNorm),
 *   RMSNorm    dx = rstd * (g - xhat * mean(g * xhat))
 *   LayerNorm  dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dw[c] = sum over rows of dy * xhat,  db[c] = sum over rows of dy
 * plus dres (the residual stream's gradient) when has_dres. Each row block
 * k keeps its column sums in parts (planes [nblocks, C]: dw, then db), which
 * reduce_parts (common.cl) adds up in order, both in one launch.
 *
 * Storage: x, y, r, h, dy, dx, dres are DT (LOAD / STORE, cl/common.cl),
 * f32, f16 or bf16 by the program's build; w, b, mean, rstd, the gradients
 * and the partial sums are float, the sums are float, and each value is
 * rounded once, at its store. In the fused residual forward, x = r + h is
 * rounded to DT first (ROUND), so that its statistics and y come from x as
 * stored, the value the backward pass reads.
 */

/* HAS_W, HAS_B: cl/shared.h */
#define W_AT(c) ((flags & HAS_W) ? w[(c)] : 1.0f)
#define B_AT(c) ((flags & HAS_B) ? b[(c)] : 0.0f)
#define W8_AT(c) ((flags & HAS_W) ? vload8(0, w + (c)) : (float8)(1.0f))
#define B8_AT(c) ((flags & HAS_B) ? vload8(0, b + (c)) : (float8)(0.0f))

/* Sums over a row, float8 at a time into four accumulators (so that the
 * adds do not wait on each other: one chain of dependent adds would bound a
 * CPU to one float8 per add latency), combined in a fixed order. */
#define ROW_SUM4(EXPR, C, out)                                                                  \
    {                                                                                           \
        const int C32 = (C) / 32 * 32, C8 = (C) / 8 * 8;                                        \
        float8 a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                      \
        int c = 0;                                                                              \
        for (; c < C32; c += 32) {                                                              \
            a0 += EXPR(c), a1 += EXPR(c + 8), a2 += EXPR(c + 16), a3 += EXPR(c + 24);           \
        }                                                                                       \
        for (; c < C8; c += 8) a0 += EXPR(c);                                                   \
        out = hsum8((a0 + a1) + (a2 + a3));                                                     \
    }

/* sum of v[0..C) in a fixed order. */
inline float row_sum(__global const DT *v, const int C)
{
    float s;
#define V_AT(c) LOAD8(v, c)
    ROW_SUM4(V_AT, C, s)
#undef V_AT
    for (int c = C / 8 * 8; c < C; c++) s += LOAD(v, c);
    return s;
}

/* sum of (LOAD(v, c) - m)^2 */
inline float row_sumsq(__global const DT *v, const float m, const int C)
{
    float s;
#define SQ_AT(c) ((LOAD8(v, c) - m) * (LOAD8(v, c) - m))
    ROW_SUM4(SQ_AT, C, s)
#undef SQ_AT
    for (int c = C / 8 * 8; c < C; c++) s = fma(LOAD(v, c) - m, LOAD(v, c) - m, s);
    return s;
}

/* ---------------------------------------------------------------- forward */

/* x[c..c+8) = r + h; returns it (centered) or its square, for ROW_SUM4. */
inline float8 res_step(__global DT *x, __global const DT *r, __global const DT *h, const int c,
                       const int centered)
{
    const float8 v = ROUND8(LOAD8(r, c) + LOAD8(h, c));
    STORE8(x, c, v);
    return centered ? v : v * v;
}

/* Normalises rows [0, nr) of y and x (row stride C) given their means and
 * rstds: y = (x - m) * rstd * w + b. The rows go inside the column loop, so
 * that one load of w[c..c+8) and b[c..c+8) serves them all: re-read for
 * every row, w and b come from L2 (the rows stream them out of L1), a large
 * part of the time on a CPU (PoCL; see dyt.cl, dyt_forward_chunk). */
inline void rows_write(__global DT *y, __global const DT *x, __global const float *w,
                       __global const float *b, const int flags, const float *m, const float *rstd,
                       const int nr, const int C)
{
    const int C8 = C / 8 * 8;
    for (int c = 0; c < C8; c += 8) {
        const float8 wc = W8_AT(c), bc = B8_AT(c);
        for (int j = 0; j < nr; j++) STORE8(y, j * C + c, fma((LOAD8(x, j * C + c) - m[j]) * rstd[j], wc, bc));
    }
    for (int c = C8; c < C; c++)
        for (int j = 0; j < nr; j++) STORE(y, j * C + c, fma((LOAD(x, j * C + c) - m[j]) * rstd[j], W_AT(c), B_AT(c)));
}

/* RMSNorm (centered = 0) or LayerNorm (centered = 1); mean may be absent
 * (has_mean = 0) for RMSNorm. With has_res, x is first formed as r + h and
 * written to x (the residual stream, r_out). Work-item k takes the rows
 * [k*row_step, min(rows, (k+1)*row_step)), row_step <= NORM_ROWS: the
 * statistics of each, then rows_write over them together. NDRange 1-D,
 * global ceil(rows / row_step). */
#define NORM_ROWS 4
__kernel void norm_forward_rows(__global DT *y, const int y_off, __global DT *x, const int x_off,
                                __global const DT *r, const int r_off, __global const DT *h,
                                const int h_off, const int has_res,
                                __global const float *w, const int w_off, __global const float *b,
                                const int b_off, const int flags, __global float *mean, const int mean_off,
                                __global float *rstd, const int rstd_off, const int centered,
                                const float eps, const int C, const int rows, const int row_step)
{
    const int row0 = get_global_id(0) * row_step;
    if (row0 >= rows) return;
    const int nr = min(min(row_step, NORM_ROWS), rows - row0);
    float ms[NORM_ROWS], rss[NORM_ROWS];
    for (int j = 0; j < nr; j++) {
        const int row = row0 + j;
        __global DT *xr = x + x_off + row * C;
        float m = 0.0f, ss;
        if (has_res) {
            /* x = r + h, and on the way the sum (LayerNorm) or the sum of
             * squares (RMSNorm) of x, in the order of ROW_SUM4: one pass less */
            __global const DT *rr = r + r_off + row * C, *hr = h + h_off + row * C;
#define RES_AT(c) res_step(xr, rr, hr, (c), centered)
            ROW_SUM4(RES_AT, C, ss)
#undef RES_AT
            for (int c = C / 8 * 8; c < C; c++) {
                const float v = ROUND(LOAD(rr, c) + LOAD(hr, c));
                STORE(xr, c, v);
                ss = centered ? ss + v : fma(v, v, ss);
            }
            if (centered) m = ss / C, ss = row_sumsq(xr, m, C);
        } else {
            if (centered) m = row_sum(xr, C) / C;
            ss = row_sumsq(xr, m, C);
        }
        const float rs = rsqrt(ss / C + eps);
        if (centered) mean[mean_off + row] = m;
        rstd[rstd_off + row] = rs;
        ms[j] = m, rss[j] = rs;
    }
    rows_write(y + y_off + row0 * C, x + x_off + row0 * C, w + w_off, b + b_off, flags, ms, rss, nr, C);
}

__kernel void norm_forward_wg(__global DT *y, const int y_off, __global DT *x, const int x_off,
                              __global const DT *r, const int r_off, __global const DT *h,
                              const int h_off, const int has_res,
                              __global const float *w, const int w_off, __global const float *b,
                              const int b_off, const int flags, __global float *mean, const int mean_off,
                              __global float *rstd, const int rstd_off, const int centered,
                              const float eps, const int C, const int rows, __local float *scratch)
{
    const int row = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    __global DT *xr = x + x_off + row * C, *yr = y + y_off + row * C;
    w += w_off, b += b_off;
    float s = 0.0f;
    for (int c = lid; c < C; c += L) {
        float v;
        if (has_res) {
            v = ROUND(LOAD(r, r_off + row * C + c) + LOAD(h, h_off + row * C + c));
            STORE(xr, c, v);
        } else {
            v = LOAD(xr, c);
        }
        s += v;
    }
    const float m = centered ? wg_sum(scratch, s) / C : 0.0f;
    float q = 0.0f;
    for (int c = lid; c < C; c += L) q = fma(LOAD(xr, c) - m, LOAD(xr, c) - m, q);
    const float rs = rsqrt(wg_sum(scratch, q) / C + eps);
    if (lid == 0) {
        if (centered) mean[mean_off + row] = m;
        rstd[rstd_off + row] = rs;
    }
    for (int c = lid; c < C; c += L) STORE(yr, c, fma((LOAD(xr, c) - m) * rs, W_AT(c), B_AT(c)));
}

/* --------------------------------------------------------------- backward */

__kernel void norm_backward_rows(__global DT *dx, const int dx_off, __global const DT *dy,
                                 const int dy_off, __global const DT *dres, const int dres_off,
                                 const int has_dres, __global const DT *x, const int x_off,
                                 __global const float *w, const int w_off, const int flags,
                                 __global const float *mean, const int mean_off,
                                 __global const float *rstd, const int rstd_off, const int centered,
                                 const int C, const int rows, const int R, __global float *parts)
{
    const int k = get_global_id(0), nblocks = (rows + R - 1) / R;
    if (k >= nblocks) return;
    const int end = min(rows, (k + 1) * R), plane = nblocks * C, C8 = C / 8 * 8;
    __global float *pw = parts + k * C, *pb = parts + plane + k * C;
    w += w_off;
    for (int row = k * R; row < end; row++) {
        const int first = row == k * R; /* writes the block's sums: nothing to zero */
        __global const DT *xr = x + x_off + row * C, *gr = dy + dy_off + row * C;
        __global const DT *rr = dres + dres_off + row * C;
        __global DT *dxr = dx + dx_off + row * C;
        const float m = centered ? mean[mean_off + row] : 0.0f, rs = rstd[rstd_off + row];
        /* mean(g) and mean(g * xhat), two accumulators each (see ROW_SUM4) */
        float8 sg8 = 0.0f, sgx8 = 0.0f, sg8b = 0.0f, sgx8b = 0.0f;
        int c16 = 0;
        for (; c16 < C / 16 * 16; c16 += 16) {
            const float8 g = LOAD8(gr, c16) * W8_AT(c16), xh = (LOAD8(xr, c16) - m) * rs;
            const float8 gb = LOAD8(gr, c16 + 8) * W8_AT(c16 + 8);
            const float8 xhb = (LOAD8(xr, c16 + 8) - m) * rs;
            sg8 += g, sg8b += gb;
            sgx8 = fma(g, xh, sgx8), sgx8b = fma(gb, xhb, sgx8b);
        }
        for (; c16 < C8; c16 += 8) {
            const float8 g = LOAD8(gr, c16) * W8_AT(c16), xh = (LOAD8(xr, c16) - m) * rs;
            sg8 += g;
            sgx8 = fma(g, xh, sgx8);
        }
        float sg = hsum8(sg8 + sg8b), sgx = hsum8(sgx8 + sgx8b);
        for (int c = C8; c < C; c++) {
            const float g = LOAD(gr, c) * W_AT(c), xh = (LOAD(xr, c) - m) * rs;
            sg += g;
            sgx = fma(g, xh, sgx);
        }
        const float mg = centered ? sg / C : 0.0f, mgx = sgx / C;
        for (int c = 0; c < C8; c += 8) {
            const float8 dyv = LOAD8(gr, c), xh = (LOAD8(xr, c) - m) * rs;
            const float8 d = rs * (dyv * W8_AT(c) - mg - xh * mgx);
            STORE8(dxr, c, has_dres ? d + LOAD8(rr, c) : d);
            vstore8(fma(dyv, xh, first ? (float8)(0.0f) : vload8(0, pw + c)), 0, pw + c);
            vstore8(first ? dyv : vload8(0, pb + c) + dyv, 0, pb + c);
        }
        for (int c = C8; c < C; c++) {
            const float xh = (LOAD(xr, c) - m) * rs, d = rs * (LOAD(gr, c) * W_AT(c) - mg - xh * mgx);
            STORE(dxr, c, has_dres ? d + LOAD(rr, c) : d);
            pw[c] = fma(LOAD(gr, c), xh, first ? 0.0f : pw[c]);
            pb[c] = first ? LOAD(gr, c) : pb[c] + LOAD(gr, c);
        }
    }
}

/* Few rows (decode, small batches): one work-group, one launch, no partial
 * sums. Work-item lid owns the column groups [8j, 8j+8), j = lid, lid + L,
 * ... (and the tail columns C8 + lid, C8 + lid + L, ...) in every row, so it
 * adds each row's dy * xhat and dy into dw and db itself, in row order; the
 * row means go through wg_sum. `outs`: bit 0 dw, bit 1 db exist; with
 * accumulate they are added to. NDRange 1-D: global = local = L, a power
 * of two; scratch holds L floats. */
__kernel void norm_backward_few(__global DT *dx, const int dx_off, __global const DT *dy,
                                const int dy_off, __global const DT *dres, const int dres_off,
                                const int has_dres, __global const DT *x, const int x_off,
                                __global const float *w, const int w_off, const int flags,
                                __global const float *mean, const int mean_off,
                                __global const float *rstd, const int rstd_off, const int centered,
                                const int C, const int rows, __global float *gw, const int gw_off,
                                __global float *gb, const int gb_off, const int outs, const int accumulate,
                                __local float *scratch)
{
    const int lid = get_local_id(0), L = get_local_size(0), C8 = C / 8 * 8;
    w += w_off, gw += gw_off, gb += gb_off;
    for (int row = 0; row < rows; row++) {
        __global const DT *xr = x + x_off + row * C, *gr = dy + dy_off + row * C;
        __global const DT *rr = dres + dres_off + row * C;
        __global DT *dxr = dx + dx_off + row * C;
        const float m = centered ? mean[mean_off + row] : 0.0f, rs = rstd[rstd_off + row];
        const int add = accumulate || row > 0;
        float8 sg8 = 0.0f, sgx8 = 0.0f;
        for (int c = lid * 8; c < C8; c += L * 8) {
            const float8 g = LOAD8(gr, c) * W8_AT(c), xh = (LOAD8(xr, c) - m) * rs;
            sg8 += g;
            sgx8 = fma(g, xh, sgx8);
        }
        float sg = hsum8(sg8), sgx = hsum8(sgx8);
        for (int c = C8 + lid; c < C; c += L) {
            const float g = LOAD(gr, c) * W_AT(c), xh = (LOAD(xr, c) - m) * rs;
            sg += g;
            sgx = fma(g, xh, sgx);
        }
        const float mg = centered ? wg_sum(scratch, sg) / C : 0.0f;
        const float mgx = wg_sum(scratch, sgx) / C;
        for (int c = lid * 8; c < C8; c += L * 8) {
            const float8 dyv = LOAD8(gr, c), xh = (LOAD8(xr, c) - m) * rs;
            const float8 d = rs * (dyv * W8_AT(c) - mg - xh * mgx);
            STORE8(dxr, c, has_dres ? d + LOAD8(rr, c) : d);
            if (outs & 1) vstore8(fma(dyv, xh, add ? vload8(0, gw + c) : (float8)(0.0f)), 0, gw + c);
            if (outs & 2) vstore8(add ? vload8(0, gb + c) + dyv : dyv, 0, gb + c);
        }
        for (int c = C8 + lid; c < C; c += L) {
            const float xh = (LOAD(xr, c) - m) * rs, d = rs * (LOAD(gr, c) * W_AT(c) - mg - xh * mgx);
            STORE(dxr, c, has_dres ? d + LOAD(rr, c) : d);
            if (outs & 1) gw[c] = fma(LOAD(gr, c), xh, add ? gw[c] : 0.0f);
            if (outs & 2) gb[c] = add ? gb[c] + LOAD(gr, c) : LOAD(gr, c);
        }
    }
}

__kernel void norm_backward_wg(__global DT *dx, const int dx_off, __global const DT *dy,
                               const int dy_off, __global const DT *dres, const int dres_off,
                               const int has_dres, __global const DT *x, const int x_off,
                               __global const float *w, const int w_off, const int flags,
                               __global const float *mean, const int mean_off,
                               __global const float *rstd, const int rstd_off, const int centered,
                               const int C, const int rows, const int R, __global float *parts,
                               __local float *scratch)
{
    const int k = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    const int nblocks = (rows + R - 1) / R, end = min(rows, (k + 1) * R), plane = nblocks * C;
    __global float *pw = parts + k * C, *pb = parts + plane + k * C;
    w += w_off;
    /* Each work-item owns columns lid, lid + L, ...: its sums need no sharing. */
    for (int c = lid; c < C; c += L) pw[c] = pb[c] = 0.0f;
    for (int row = k * R; row < end; row++) {
        const int base = row * C;
        const float m = centered ? mean[mean_off + row] : 0.0f, rs = rstd[rstd_off + row];
        float sg = 0.0f, sgx = 0.0f;
        for (int c = lid; c < C; c += L) {
            const float g = LOAD(dy, dy_off + base + c) * W_AT(c), xh = (LOAD(x, x_off + base + c) - m) * rs;
            sg += g;
            sgx = fma(g, xh, sgx);
        }
        const float mg = centered ? wg_sum(scratch, sg) / C : 0.0f;
        const float mgx = wg_sum(scratch, sgx) / C;
        for (int c = lid; c < C; c += L) {
            const float dyv = LOAD(dy, dy_off + base + c), xh = (LOAD(x, x_off + base + c) - m) * rs;
            const float d = rs * (dyv * W_AT(c) - mg - xh * mgx);
            STORE(dx, dx_off + base + c, has_dres ? d + LOAD(dres, dres_off + base + c) : d);
            pw[c] = fma(dyv, xh, pw[c]);
            pb[c] += dyv;
        }
    }
}
