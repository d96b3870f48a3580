/* dyt.cl -- Dynamic Tanh and Dynamic erf, forward and backward; the residual
 * add, and the residual add fused with DyT.
 *
 *   DyT   y = w[c] * tanh(alpha * x) + b[c]
 *   Derf  y = w[c] * erf(alpha * x + shift) + b[c]
 *
 * Layout. x is viewed as [outer, inner]: channels last, [rows, C] with the
 * channel c = column (inner = C); channels first, [N*C, HW] with c = row % C
 * (inner = HW). alpha and shift are device scalars (learnable). `flags` bit 0:
 * w present (else 1), bit 1: b present (else 0).
 *
 * Forward NDRange: 2-D, global (inner, outer), local (L, 1). One element per
 * work-item: on GPUs consecutive work-items touch consecutive addresses, and
 * on CPUs (PoCL) the work-item loop vectorises -- but only when the kernel
 * has no bounds check, which costs 5x there (4.3 vs 23 GB/s at 4096x4096).
 * So each kernel comes twice: NAME, with no check, launched over the whole
 * work-groups that fit in `inner`, and NAME_tail, with the check, launched
 * over the rest (a global offset). The host does both (dy_launch_split).
 *
 * Storage: x, y, h, r, r_out, dy, dx, dres (the activations) are DT, read
 * and written through LOAD / STORE (cl/common.cl): f32, f16 or bf16 by the
 * program's build. alpha, shift, w, b, their gradients and the partial sums
 * are float; the math is float, and each value is rounded once, at its store.
 */

#define GUARDED(out_of_range) if (out_of_range) return;
#define UNGUARDED(out_of_range)

/* HAS_W, HAS_B: cl/shared.h */

/* The activation and its derivative with respect to its input x. SHIFT is 0
 * for DyT. */
#define DYT_ACT(a, s, x) dy_tanh((a) * (x))
#define DERF_ACT(a, s, x) dy_erf(fma((a), (x), (s)))
#define DYT_ACT8(a, s, x) dy_tanh8((a) * (x))
#define DERF_ACT8(a, s, x) dy_erf8(fma((float8)(a), (x), (float8)(s)))

/* ---------------------------------------------------------------- forward */

/* CHANNEL: i for channels last, o % C for channels first. */
#define DEFINE_FORWARD(NAME, ACT, CHANNEL, GUARD)                                               \
__kernel void NAME(__global DT *y, const int y_off, __global const DT *x, const int x_off,      \
                   __global const float *alpha, const int alpha_off,                            \
                   __global const float *shift, const int shift_off,                            \
                   __global const float *w, const int w_off, __global const float *b, const int b_off, \
                   const int flags, const int inner, const int C)                               \
{                                                                                               \
    const int i = get_global_id(0), o = get_global_id(1);                                       \
    GUARD(i >= inner)                                                                           \
    const int c = CHANNEL, idx = o * inner + i;                                                 \
    const float a = alpha[alpha_off], s = shift[shift_off];                                     \
    const float wc = (flags & HAS_W) ? w[w_off + c] : 1.0f;                                     \
    const float bc = (flags & HAS_B) ? b[b_off + c] : 0.0f;                                     \
    STORE(y, y_off + idx, fma(wc, ACT(a, s, LOAD(x, x_off + idx)), bc));                        \
}

DEFINE_FORWARD(dyt_forward, DYT_ACT, i, UNGUARDED)
DEFINE_FORWARD(dyt_forward_tail, DYT_ACT, i, GUARDED)
DEFINE_FORWARD(dyt_forward_nchw, DYT_ACT, o % C, UNGUARDED)
DEFINE_FORWARD(dyt_forward_nchw_tail, DYT_ACT, o % C, GUARDED)
DEFINE_FORWARD(derf_forward, DERF_ACT, i, UNGUARDED)
DEFINE_FORWARD(derf_forward_tail, DERF_ACT, i, GUARDED)
DEFINE_FORWARD(derf_forward_nchw, DERF_ACT, o % C, UNGUARDED)
DEFINE_FORWARD(derf_forward_nchw_tail, DERF_ACT, o % C, GUARDED)

/* Channels last, the CPU variant: work-item (j, k) owns the columns
 * [j*chunk, min(C, (j+1)*chunk)) of rows [k*row_step, min(rows, (k+1)*row_step)),
 * a float8 at a time (chunk is a multiple of 8), then column by column for
 * the rest. A CPU runs the work-item loop around a loop, so the explicit
 * vectors are what makes it vector code; a contiguous chunk per work-item
 * keeps the work-groups few and each one a sequential stream; and the rows
 * inside the column loop let one load of w[c..c+8) and b[c..c+8) serve
 * row_step rows (the host: 4 for rows wider than DY_CPU_NARROW_C, else 1
 * and chunk = the whole row): re-read for every wide row, w and b miss L1
 * (the x and y streams evict them) and cost PoCL about as much as the tanh
 * (a scratch harness, 4096 x 4096: 0.66 -> 0.73 of copy bandwidth, 0.62 ->
 * 0.96 without the tanh); a narrow row's w and b stay in L1, and there one
 * row per work-item is the faster (host/ops_dyt.c, forward_work).
 * With has_res, x is first formed as r + h and written to r_out (which may
 * alias r): the fused residual. It takes one row per work-item (the host
 * passes row_step 1): four rows of its four streams at a power-of-two row
 * stride (C = 4096: 16 KiB) fall into one set of an 8-way L1, and the fused
 * kernel ran at 1.5x the time of add-then-DyT (PoCL, 4096 x 4096).
 * NDRange 2-D: global (ceil(C / chunk), ceil(rows / row_step)), any local
 * size. */
#define DEFINE_FORWARD_CHUNK(NAME, ACT, ACT8)                                                   \
__kernel void NAME(__global DT *y, const int y_off, __global DT *r_out, const int r_out_off,   \
                   __global const DT *x, const int x_off, __global const DT *h, const int h_off, \
                   const int has_res, __global const float *alpha, const int alpha_off,        \
                   __global const float *shift, const int shift_off,                            \
                   __global const float *w, const int w_off, __global const float *b, const int b_off, \
                   const int flags, const int C, const int rows, const int chunk, const int row_step) \
{                                                                                               \
    const int c0 = get_global_id(0) * chunk, row0 = get_global_id(1) * row_step;               \
    if (c0 >= C || row0 >= rows) return;                                                        \
    const int c1 = min(C, c0 + chunk), c8 = c0 + (c1 - c0) / 8 * 8;                            \
    const int nr = min(row_step, rows - row0), base = row0 * C;                                 \
    const float a = alpha[alpha_off], s = shift[shift_off];                                     \
    y += y_off + base, x += x_off + base, h += h_off + base, r_out += r_out_off + base;        \
    w += w_off, b += b_off;                                                                     \
    for (int c = c0; c < c8; c += 8) {                                                          \
        const float8 wc = flags & HAS_W ? vload8(0, w + c) : (float8)(1.0f);                    \
        const float8 bc = flags & HAS_B ? vload8(0, b + c) : (float8)(0.0f);                    \
        for (int at = c; at < nr * C; at += C) {                                                \
            float8 v = LOAD8(x, at);                                                            \
            if (has_res) {                                                                      \
                v = ROUND8(v + LOAD8(h, at));                                                   \
                STORE8(r_out, at, v);                                                           \
            }                                                                                   \
            STORE8(y, at, fma(wc, ACT8(a, s, v), bc));                                          \
        }                                                                                       \
    }                                                                                           \
    for (int c = c8; c < c1; c++) {                                                             \
        const float wc = flags & HAS_W ? w[c] : 1.0f, bc = flags & HAS_B ? b[c] : 0.0f;         \
        for (int at = c; at < nr * C; at += C) {                                                \
            float v = LOAD(x, at);                                                              \
            if (has_res) {                                                                      \
                v = ROUND(v + LOAD(h, at));                                                     \
                STORE(r_out, at, v);                                                            \
            }                                                                                   \
            STORE(y, at, fma(wc, ACT(a, s, v), bc));                                            \
        }                                                                                       \
    }                                                                                           \
}

DEFINE_FORWARD_CHUNK(dyt_forward_chunk, DYT_ACT, DYT_ACT8)
DEFINE_FORWARD_CHUNK(derf_forward_chunk, DERF_ACT, DERF_ACT8)

/* Residual stream and DyT in one pass (channels last):
 *   r_out = r + h;  y = w[c] * tanh(alpha * r_out) + b[c]
 * r_out may alias r. NDRange 2-D: global (C, rows), local (L, 1); _tail as above. */
#define DEFINE_RESIDUAL_FORWARD(NAME, GUARD)                                                     \
__kernel void NAME(__global DT *r_out, const int r_out_off, __global DT *y, const int y_off,   \
                   __global const DT *r, const int r_off, __global const DT *h, const int h_off, \
                   __global const float *alpha, const int alpha_off,                            \
                   __global const float *w, const int w_off, __global const float *b, const int b_off, \
                   const int flags, const int C)                                                \
{                                                                                               \
    const int c = get_global_id(0), row = get_global_id(1);                                     \
    GUARD(c >= C)                                                                               \
    const int idx = row * C + c;                                                                \
    const float v = ROUND(LOAD(r, r_off + idx) + LOAD(h, h_off + idx));                         \
    const float wc = (flags & HAS_W) ? w[w_off + c] : 1.0f;                                     \
    const float bc = (flags & HAS_B) ? b[b_off + c] : 0.0f;                                     \
    STORE(r_out, r_out_off + idx, v);                                                           \
    STORE(y, y_off + idx, fma(wc, dy_tanh(alpha[alpha_off] * v), bc));                          \
}

DEFINE_RESIDUAL_FORWARD(residual_dyt_forward, UNGUARDED)
DEFINE_RESIDUAL_FORWARD(residual_dyt_forward_tail, GUARDED)

/* out = a + b over n elements, four per work-item as in copy.
 * NDRange: 1-D, global >= ceil(n / 4). */
__kernel void add(__global DT *out, const int out_off, __global const DT *a, const int a_off,
                  __global const DT *b, const int b_off, const int n)
{
    const int i = get_global_id(0) * 4;
    out += out_off, a += a_off, b += b_off;
    if (i + 4 <= n) {
        STORE4(out, i, LOAD4(a, i) + LOAD4(b, i));
    } else {
        for (int j = i; j < n; j++) STORE(out, j, LOAD(a, j) + LOAD(b, j));
    }
}

/* --------------------------------------------------------------- backward
 *
 * With u = alpha*x + shift, t = act(u), g = dy * w[c], and act' = 1 - t^2
 * (tanh) or 2/sqrt(pi) * exp(-u^2) (erf):
 *   dx      = g * alpha * act'      (plus dres, the residual stream's own
 *                                    gradient, in the fused variant)
 *   dalpha  = sum over all elements of g * x * act'
 *   dshift  = sum over all elements of g * act'          (Derf)
 *   dw[c]   = sum over the rows of dy * t
 *   db[c]   = sum over the rows of dy
 *
 * Channels last. Pass 1, NDRange 2-D: global (ceil(C / 8), nblocks), local
 * (L, 1). Work-item (j, k) owns columns [8j, 8j+8) and walks rows
 * [k*R, min(rows, (k+1)*R)), writes dx, and leaves its column sums in parts,
 * four planes of [nblocks, C]: dw, db, dalpha, dshift. The eight columns are
 * one float8, so the row loop is vector code on every device (PoCL cannot
 * vectorise across work-items around a loop); the last group, when C is not
 * a multiple of 8, goes column by column. Pass 2 (colsum, sum_all in
 * common.cl) adds the planes over blocks in order: no atomics, fixed order
 * (the row-walking CPU variant below: reduce_parts, one launch).
 */
#define ERF_DERIV(u, t) (1.1283791671f * exp(-(u) * (u)))
#define TANH_DERIV(u, t) (1.0f - (t) * (t))

/* The column kernels' step (_cols, _few): each work-item owns 8 columns and
 * walks them DYT_BWD_VEC (8 or 4) at a time, a tuning constant (a -D option,
 * host/program.c's sets): 8 is one float8 pass (CPUs); 4 takes two float4
 * passes over the rows, which halves the values live at once (Derf's
 * backward needs over 128 VGPRs as float8 on gfx1100 and spilled to scratch
 * there). Each column sees the same operations either way. */
#ifndef DYT_BWD_VEC
#define DYT_BWD_VEC 8
#endif
#define BV DY_CAT(float, DYT_BWD_VEC)
#define BV_LOAD DY_CAT(LOAD, DYT_BWD_VEC)
#define BV_STORE DY_CAT(STORE, DYT_BWD_VEC)
#define bv_vload DY_CAT(vload, DYT_BWD_VEC)
#define bv_vstore DY_CAT(vstore, DYT_BWD_VEC)
#define bv_hsum DY_CAT(hsum, DYT_BWD_VEC)
#define DYT_ACTV(a, s, x) DY_CAT(dy_tanh, DYT_BWD_VEC)((a) * (x))
#define DERF_ACTV(a, s, x) DY_CAT(dy_erf, DYT_BWD_VEC)(fma((BV)(a), (x), (BV)(s)))

/* One step of the row loop, for T = float8 (LD, ST = LOAD8, STORE8) or
 * float (LOAD, STORE). */
#define BACKWARD_STEP(T, LD, ST, ACT, DERIV, wc, at)                                             \
    {                                                                                           \
        const T xv = LD(x, at), g = LD(dy, at);                                                 \
        const T u = fma((T)(a), xv, (T)(s)), t = ACT(a, s, xv), gd = g * (wc) * DERIV(u, t);     \
        dw = fma(g, t, dw);                                                                     \
        db += g;                                                                                \
        da = fma(gd, xv, da);                                                                   \
        ds += gd;                                                                               \
        ST(dx, at, fma(gd, (T)(a), has_dres ? LD(dres, at) : (T)(0.0f)));                       \
    }

#define DEFINE_BACKWARD(NAME, ACT, ACT8, DERIV)                                                 \
__kernel void NAME(__global DT *dx, const int dx_off, __global const DT *dy, const int dy_off,  \
                   __global const DT *dres, const int dres_off,                                 \
                   __global const DT *x, const int x_off,                                       \
                   __global const float *alpha, const int alpha_off,                            \
                   __global const float *shift, const int shift_off,                            \
                   __global const float *w, const int w_off, const int flags, const int has_dres, \
                   const int C, const int rows, const int R, __global float *parts)             \
{                                                                                               \
    const int c0 = get_global_id(0) * 8, k = get_global_id(1), nblocks = get_global_size(1);   \
    if (c0 >= C) return;                                                                        \
    dx += dx_off, dy += dy_off, dres += dres_off, x += x_off;                                   \
    const float a = alpha[alpha_off], s = shift[shift_off];                                     \
    const int end = min(rows, (k + 1) * R), plane = nblocks * C;                                \
    __global float *part = parts + k * C;                                                       \
    if (c0 + 8 <= C) {                                                                          \
        for (int h = c0; h < c0 + 8; h += DYT_BWD_VEC) {                                        \
            const BV wc = (flags & HAS_W) ? bv_vload(0, w + w_off + h) : (BV)(1.0f);            \
            BV dw = 0.0f, db = 0.0f, da = 0.0f, ds = 0.0f;                                      \
            for (int row = k * R; row < end; row++)                                             \
                BACKWARD_STEP(BV, BV_LOAD, BV_STORE, ACT8, DERIV, wc, row * C + h)              \
            bv_vstore(dw, 0, part + h);                                                         \
            bv_vstore(db, 0, part + plane + h);                                                 \
            bv_vstore(da, 0, part + 2 * plane + h);                                             \
            bv_vstore(ds, 0, part + 3 * plane + h);                                             \
        }                                                                                       \
    } else {                                                                                    \
        for (int c = c0; c < C; c++) {                                                          \
            const float wc = (flags & HAS_W) ? w[w_off + c] : 1.0f;                             \
            float dw = 0.0f, db = 0.0f, da = 0.0f, ds = 0.0f;                                   \
            for (int row = k * R; row < end; row++)                                             \
                BACKWARD_STEP(float, LOAD, STORE, ACT, DERIV, wc, row * C + c)                  \
            part[c] = dw;                                                                       \
            part[plane + c] = db;                                                               \
            part[2 * plane + c] = da;                                                           \
            part[3 * plane + c] = ds;                                                           \
        }                                                                                       \
    }                                                                                           \
}

DEFINE_BACKWARD(dyt_backward_cols, DYT_ACT, DYT_ACTV, TANH_DERIV)
DEFINE_BACKWARD(derf_backward_cols, DERF_ACT, DERF_ACTV, ERF_DERIV)

/* Channels last, few rows (decode, small batches): one work-group does it
 * all in one launch, with no partial sums to add up afterwards. Work-item
 * lid owns the column groups [8j, 8j+8) for j = lid, lid + L, ... (and the
 * tail columns C8 + lid, C8 + lid + L, ...) over every row, so it writes dw
 * and db itself; dalpha and dshift are summed over the work-group by
 * wg_sum's fixed tree. `outs` says which gradients exist (OUT_*); with
 * accumulate they are added to. NDRange 1-D: global = local = L, a power
 * of two; scratch holds L floats. */
#define OUT_DW 1
#define OUT_DB 2
#define OUT_DA 4
#define OUT_DS 8
#define PUT(p, v) ((p) = accumulate ? (p) + (v) : (v))

#define DEFINE_BACKWARD_FEW(NAME, ACT, ACT8, DERIV)                                             \
__kernel void NAME(__global DT *dx, const int dx_off, __global const DT *dy, const int dy_off,  \
                   __global const DT *dres, const int dres_off,                                 \
                   __global const DT *x, const int x_off,                                       \
                   __global const float *alpha, const int alpha_off,                            \
                   __global const float *shift, const int shift_off,                            \
                   __global const float *w, const int w_off, const int flags, const int has_dres, \
                   const int C, const int rows, __global float *gw, const int gw_off,           \
                   __global float *gb, const int gb_off, __global float *ga, const int ga_off,  \
                   __global float *gs, const int gs_off, const int outs, const int accumulate,  \
                   __local float *scratch)                                                      \
{                                                                                               \
    const int lid = get_local_id(0), L = get_local_size(0), C8 = C / 8 * 8;                     \
    dx += dx_off, dy += dy_off, dres += dres_off, x += x_off;                                   \
    w += w_off, gw += gw_off, gb += gb_off;                                                     \
    const float a = alpha[alpha_off], s = shift[shift_off];                                     \
    BV da8 = 0.0f, ds8 = 0.0f;                                                                  \
    for (int c0 = lid * 8; c0 < C8; c0 += L * 8) {                                              \
        for (int h = c0; h < c0 + 8; h += DYT_BWD_VEC) {                                        \
            const BV wc = (flags & HAS_W) ? bv_vload(0, w + h) : (BV)(1.0f);                    \
            BV dw = 0.0f, db = 0.0f, da = 0.0f, ds = 0.0f;                                      \
            for (int row = 0; row < rows; row++)                                                \
                BACKWARD_STEP(BV, BV_LOAD, BV_STORE, ACT8, DERIV, wc, row * C + h)              \
            da8 += da, ds8 += ds;                                                               \
            if (outs & OUT_DW) bv_vstore(accumulate ? bv_vload(0, gw + h) + dw : dw, 0, gw + h); \
            if (outs & OUT_DB) bv_vstore(accumulate ? bv_vload(0, gb + h) + db : db, 0, gb + h); \
        }                                                                                       \
    }                                                                                           \
    float sa = bv_hsum(da8), ss = bv_hsum(ds8);                                                 \
    for (int c = C8 + lid; c < C; c += L) {                                                     \
        const float wc = (flags & HAS_W) ? w[c] : 1.0f;                                         \
        float dw = 0.0f, db = 0.0f, da = 0.0f, ds = 0.0f;                                       \
        for (int row = 0; row < rows; row++)                                                    \
            BACKWARD_STEP(float, LOAD, STORE, ACT, DERIV, wc, row * C + c)                      \
        sa += da, ss += ds;                                                                     \
        if (outs & OUT_DW) PUT(gw[c], dw);                                                      \
        if (outs & OUT_DB) PUT(gb[c], db);                                                      \
    }                                                                                           \
    sa = wg_sum(scratch, sa);                                                                   \
    ss = wg_sum(scratch, ss);                                                                   \
    if (lid == 0) {                                                                             \
        if (outs & OUT_DA) PUT(ga[ga_off], sa);                                                 \
        if (outs & OUT_DS) PUT(gs[gs_off], ss);                                                 \
    }                                                                                           \
}

DEFINE_BACKWARD_FEW(dyt_backward_few, DYT_ACT, DYT_ACTV, TANH_DERIV)
DEFINE_BACKWARD_FEW(derf_backward_few, DERF_ACT, DERF_ACTV, ERF_DERIV)

/* Channels last, the CPU variant: the same sums, but each work-item walks
 * whole rows [k*R, min(rows, (k+1)*R)) front to back and keeps its column
 * sums in its own slice of parts (parts[plane*j + k*C + c], j = dw, db,
 * resident in cache; the block's first row writes them, so nothing is
 * zeroed), so memory is read as one sequential stream; walking a column
 * instead is strided and runs at half the speed on a CPU. dalpha and dshift
 * need no columns: one value per block, at parts[2*plane + k] and
 * parts[2*plane + nblocks + k], the layout reduce_parts (common.cl) sums in
 * one launch. NDRange: 1-D, global nblocks, any local size. */
#define ROWWISE_SUMS(T, LD, ST, at)                                                              \
    ST(part, at, first ? dw : LD(part, at) + dw);                                               \
    ST(part + plane, at, first ? db : LD(part + plane, at) + db);
#define F_LOAD8(p, i) vload8(0, (p) + (i))
#define F_STORE8(p, i, v) vstore8((v), 0, (p) + (i))
#define F_LOAD(p, i) ((p)[i])
#define F_STORE(p, i, v) ((p)[i] = (v))

#define DEFINE_BACKWARD_ROWWISE(NAME, ACT, ACT8, DERIV)                                         \
__kernel void NAME(__global DT *dx, const int dx_off, __global const DT *dy, const int dy_off,  \
                   __global const DT *dres, const int dres_off,                                 \
                   __global const DT *x, const int x_off,                                       \
                   __global const float *alpha, const int alpha_off,                            \
                   __global const float *shift, const int shift_off,                            \
                   __global const float *w, const int w_off, const int flags, const int has_dres, \
                   const int C, const int rows, const int R, __global float *parts)             \
{                                                                                               \
    const int k = get_global_id(0), nblocks = (rows + R - 1) / R;                               \
    if (k >= nblocks) return;                                                                   \
    const float a = alpha[alpha_off], s = shift[shift_off];                                     \
    const int end = min(rows, (k + 1) * R), plane = nblocks * C, C8 = C / 8 * 8;               \
    __global float *part = parts + k * C;                                                       \
    float8 da8 = 0.0f, ds8 = 0.0f;                                                              \
    for (int row = k * R; row < end; row++) {                                                   \
        const int first = row == k * R; /* its sums start the block's */                        \
        __global DT *dxr = dx + dx_off + row * C;                                               \
        __global const DT *dyr = dy + dy_off + row * C, *xr = x + x_off + row * C;              \
        __global const DT *dresr = dres + dres_off + row * C;                                   \
        for (int c = 0; c < C8; c += 8) {                                                       \
            const float8 wc = (flags & HAS_W) ? vload8(0, w + w_off + c) : (float8)(1.0f);      \
            float8 dw, db;                                                                      \
            ROW_STEP(float8, LOAD8, STORE8, ACT8, DERIV, wc, c, da8, ds8)                       \
            ROWWISE_SUMS(float8, F_LOAD8, F_STORE8, c)                                          \
        }                                                                                       \
        for (int c = C8; c < C; c++) {                                                          \
            const float wc = (flags & HAS_W) ? w[w_off + c] : 1.0f;                             \
            float dw, db;                                                                       \
            ROW_STEP(float, LOAD, STORE, ACT, DERIV, wc, c, da8.s0, ds8.s0)                     \
            ROWWISE_SUMS(float, F_LOAD, F_STORE, c)                                             \
        }                                                                                       \
    }                                                                                           \
    parts[2 * plane + k] = hsum8(da8);                                                          \
    parts[2 * plane + nblocks + k] = hsum8(ds8);                                                \
}

/* BACKWARD_STEP on row pointers xr, dyr, dresr, dxr; dalpha and dshift
 * accumulate into da, ds. */
#define ROW_STEP(T, LD, ST, ACT, DERIV, wc, at, da, ds)                                          \
    {                                                                                           \
        const T xv = LD(xr, at), g = LD(dyr, at);                                               \
        const T u = fma((T)(a), xv, (T)(s)), t = ACT(a, s, xv), gd = g * (wc) * DERIV(u, t);     \
        dw = g * t;                                                                             \
        db = g;                                                                                 \
        da = fma(gd, xv, da);                                                                   \
        ds += gd;                                                                               \
        ST(dxr, at, fma(gd, (T)(a), has_dres ? LD(dresr, at) : (T)(0.0f)));                     \
    }

DEFINE_BACKWARD_ROWWISE(dyt_backward_rows, DYT_ACT, DYT_ACT8, TANH_DERIV)
DEFINE_BACKWARD_ROWWISE(derf_backward_rows, DERF_ACT, DERF_ACT8, ERF_DERIV)

/* Channels first: the parameters belong to rows of [N*C, HW], so each
 * work-group reduces one row. NDRange 2-D: global (L, N*C), local (L, 1), L a
 * power of two; scratch holds 4*L floats. Work-group o writes dx for its row
 * and its sums to parts[plane * j + o] (j = dw, db, dalpha, dshift; plane =
 * N*C); the host then sums rows o = n*C + c over n for each c. */
#define DEFINE_BACKWARD_NCHW(NAME, ACT, DERIV)                                                  \
__kernel void NAME(__global DT *dx, const int dx_off, __global const DT *dy, const int dy_off,  \
                   __global const DT *x, const int x_off,                                       \
                   __global const float *alpha, const int alpha_off,                            \
                   __global const float *shift, const int shift_off,                            \
                   __global const float *w, const int w_off, const int flags,                   \
                   const int HW, const int C, __global float *parts, __local float *scratch)     \
{                                                                                               \
    const int lid = get_local_id(0), L = get_local_size(0), o = get_global_id(1);              \
    const int plane = get_global_size(1);                                                       \
    const float a = alpha[alpha_off], s = shift[shift_off];                                     \
    const float wc = (flags & HAS_W) ? w[w_off + o % C] : 1.0f;                                 \
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                                    \
    for (int i = lid; i < HW; i += L) {                                                         \
        const int idx = o * HW + i;                                                             \
        const float xv = LOAD(x, x_off + idx), g = LOAD(dy, dy_off + idx);                      \
        const float u = fma(a, xv, s), t = ACT(a, s, xv), gd = g * wc * DERIV(u, t);            \
        acc[0] = fma(g, t, acc[0]);                                                             \
        acc[1] += g;                                                                            \
        acc[2] = fma(gd, xv, acc[2]);                                                           \
        acc[3] += gd;                                                                           \
        STORE(dx, dx_off + idx, gd * a);                                                        \
    }                                                                                           \
    for (int j = 0; j < 4; j++) scratch[j * L + lid] = acc[j];                                  \
    barrier(CLK_LOCAL_MEM_FENCE);                                                               \
    for (int step = L / 2; step > 0; step /= 2) {                                               \
        if (lid < step)                                                                         \
            for (int j = 0; j < 4; j++) scratch[j * L + lid] += scratch[j * L + lid + step];    \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
    }                                                                                           \
    if (lid == 0)                                                                               \
        for (int j = 0; j < 4; j++) parts[j * plane + o] = scratch[j * L];                      \
}

DEFINE_BACKWARD_NCHW(dyt_backward_nchw, DYT_ACT, TANH_DERIV)
DEFINE_BACKWARD_NCHW(derf_backward_nchw, DERF_ACT, ERF_DERIV)
