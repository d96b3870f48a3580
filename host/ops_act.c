/* ops_act.c -- GELU, SwiGLU and RoPE (cl/act.cl). Their tensors may be
 * f32, f16 or bf16, all of one call in one dtype. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "ops_args.h"

/* Tensors then n: the argument list of the GELU kernels. Sets them on the body kernel and its _tail twin and launches both
 * over n elements. */
static dytcl_status elementwise(dytcl_ctx *ctx, const char *body, const char *tail, const dytcl_tensor *t, int nt,
                                int n)
{
    const char *names[2] = {body, tail};
    dy_kernel *k[2];
    dytcl_status s;
    for (int v = 0; v < 2; v++) {
        if ((s = dy_kernel_get_dt(ctx, DY_PROG_ACT, names[v], t[0].dtype, &k[v]))) return s;
        int i = 0;
        for (int j = 0; j < nt; j++) i = dy_arg_tensor(ctx, k[v], i, t[j], NULL);
        i = dy_arg_int(ctx, k[v], i, n);
        if (i < 0) return DYTCL_ERR_OPENCL;
    }
    size_t global = (size_t)n, local = dy_pow2_local(ctx, k[0], 256);
    return dy_launch_split(ctx, k[0], k[1], 1, &global, &local);
}

/* Every tensor of `t` must have as many elements as the first. */
static dytcl_status check_same(dytcl_ctx *ctx, const dytcl_tensor *t, const char *const *names, int nt)
{
    dytcl_status s = dy_check_tensor_dt(ctx, t[0], names[0], DY_DT_ALL);
    for (int j = 1; j < nt && !s; j++) s = dy_args_check_like(ctx, t[j], names[j], t[0], names[0]);
    return s;
}

dytcl_status dytcl_gelu_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x)
{
    DY_CHECK_CTX(ctx);
    dytcl_tensor t[2] = {y, x};
    const char *names[2] = {"y", "x"};
    dytcl_status s = check_same(ctx, t, names, 2);
    return s ? s
             : elementwise(ctx, DY_KNAME(ACT, gelu_forward), DY_KNAME(ACT, gelu_forward_tail), t, 2,
                           (int)dytcl_tensor_numel(x));
}

dytcl_status dytcl_gelu_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dy, dytcl_tensor x)
{
    DY_CHECK_CTX(ctx);
    dytcl_tensor t[3] = {dx, dy, x};
    const char *names[3] = {"dx", "dy", "x"};
    dytcl_status s = check_same(ctx, t, names, 3);
    return s ? s
             : elementwise(ctx, DY_KNAME(ACT, gelu_backward), DY_KNAME(ACT, gelu_backward_tail), t, 3,
                           (int)dytcl_tensor_numel(x));
}

/* One strided operand of a SwiGLU kernel: a view and its row stride. */
typedef struct {
    dytcl_tensor t;
    int ld;
} strided;

/* SwiGLU over [rows, H] with row strides: forward (n = 3: y, a, b) or
 * backward (n = 5: da, db, dy, a, b), 2-D NDRange (H, rows). */
static dytcl_status swiglu_launch(dytcl_ctx *ctx, int backward, const strided *op, int n, int H, int rows)
{
    const char *names[2] = {backward ? DY_KNAME(ACT, swiglu_backward) : DY_KNAME(ACT, swiglu_forward),
                            backward ? DY_KNAME(ACT, swiglu_backward_tail) : DY_KNAME(ACT, swiglu_forward_tail)};
    dy_kernel *k[2];
    dytcl_status s;
    for (int v = 0; v < 2; v++) {
        if ((s = dy_kernel_get_dt(ctx, DY_PROG_ACT, names[v], op[0].t.dtype, &k[v]))) return s;
        int i = 0;
        for (int j = 0; j < n; j++) {
            i = dy_arg_tensor(ctx, k[v], i, op[j].t, NULL);
            i = dy_arg_int(ctx, k[v], i, op[j].ld);
        }
        i = dy_arg_int(ctx, k[v], i, H);
        if (i < 0) return DYTCL_ERR_OPENCL;
    }
    size_t global[2] = {(size_t)H, (size_t)rows}, local[2] = {dy_pow2_local(ctx, k[0], H < 256 ? (size_t)H : 256), 1};
    /* a work-group size that divides H (16 or more) leaves no tail: one
     * launch, not two (an MLP's width is a multiple of 32 or so) */
    for (size_t d = local[0]; d >= 16; d /= 2)
        if (H % d == 0) {
            local[0] = d;
            break;
        }
    return dy_launch_split(ctx, k[0], k[1], 2, global, local);
}

/* Two tensors of n elements each: one row of n. */
dytcl_status dytcl_swiglu_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor a, dytcl_tensor b)
{
    DY_CHECK_CTX(ctx);
    dytcl_tensor t[3] = {y, a, b};
    const char *names[3] = {"y", "a", "b"};
    dytcl_status s = check_same(ctx, t, names, 3);
    if (s) return s;
    const int n = (int)dytcl_tensor_numel(a);
    const strided op[3] = {{y, n}, {a, n}, {b, n}};
    return swiglu_launch(ctx, 0, op, 3, n, 1);
}

dytcl_status dytcl_swiglu_backward(dytcl_ctx *ctx, dytcl_tensor da, dytcl_tensor db, dytcl_tensor dy, dytcl_tensor a,
                                   dytcl_tensor b)
{
    DY_CHECK_CTX(ctx);
    dytcl_tensor t[5] = {da, db, dy, a, b};
    const char *names[5] = {"da", "db", "dy", "a", "b"};
    dytcl_status s = check_same(ctx, t, names, 5);
    if (s) return s;
    const int n = (int)dytcl_tensor_numel(a);
    const strided op[5] = {{da, n}, {db, n}, {dy, n}, {a, n}, {b, n}};
    return swiglu_launch(ctx, 1, op, 5, n, 1);
}

/* y [..., H] and ab [..., 2H] with the same leading dimensions; sets
 * *H and *rows. */
static dytcl_status check_packed(dytcl_ctx *ctx, dytcl_tensor y, const char *yname, dytcl_tensor ab,
                                 const char *abname, int *H, int *rows)
{
    dytcl_status s;
    if ((s = dy_check_tensor_dt(ctx, y, yname, DY_DT_ALL)) || (s = dy_check_tensor_dt(ctx, ab, abname, DY_DT_ALL)))
        return s;
    if (ab.dtype != y.dtype)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s is %s but %s is %s: this op takes its tensors in one dtype",
                       abname, dytcl_dtype_name(ab.dtype), yname, dytcl_dtype_name(y.dtype));
    *H = (int)y.shape[y.ndim - 1];
    *rows = (int)(dytcl_tensor_numel(y) / *H);
    if (ab.shape[ab.ndim - 1] != 2 * (int64_t)*H || dytcl_tensor_numel(ab) != 2 * dytcl_tensor_numel(y))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "swiglu_packed: %s must be [rows, 2H] = [%d, %d] for %s [rows, H] = [%d, %d]; it has "
                       "%lld elements, last dim %lld",
                       abname, *rows, 2 * *H, yname, *rows, *H, (long long)dytcl_tensor_numel(ab),
                       (long long)ab.shape[ab.ndim - 1]);
    return DYTCL_OK;
}

/* The halves of ab as views: a = ab[:, :H], b = ab[:, H:], row stride 2H. */
static void halves(dytcl_tensor ab, int H, strided *a, strided *b)
{
    a->t = ab, a->ld = 2 * H;
    b->t = ab, b->t.offset += (size_t)H, b->ld = 2 * H;
}

dytcl_status dytcl_swiglu_packed_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor ab)
{
    DY_CHECK_CTX(ctx);
    int H = 0, rows = 0;
    dytcl_status s = check_packed(ctx, y, "y", ab, "ab", &H, &rows);
    if (s) return s;
    strided op[3] = {{y, H}};
    halves(ab, H, &op[1], &op[2]);
    return swiglu_launch(ctx, 0, op, 3, H, rows);
}

dytcl_status dytcl_swiglu_packed_backward(dytcl_ctx *ctx, dytcl_tensor dab, dytcl_tensor dy, dytcl_tensor ab)
{
    DY_CHECK_CTX(ctx);
    int H = 0, rows = 0;
    dytcl_status s = check_packed(ctx, dy, "dy", ab, "ab", &H, &rows);
    if (s || (s = norm_check_like(ctx, dab, "dab", ab))) return s;
    strided op[5];
    halves(dab, H, &op[0], &op[1]);
    op[2] = (strided){dy, H};
    halves(ab, H, &op[3], &op[4]);
    return swiglu_launch(ctx, 1, op, 5, H, rows);
}

/* The table covers positions 0 .. n - 1 (n a power of two, so that decoding
 * token by token rebuilds it log2 times) up to ROPE_TABLE_BYTES; a call
 * reaching past that gets a table of its own positions only. */
#define ROPE_TABLE_BYTES ((int64_t)16 << 20)

/* Makes the context's RoPE table cover positions pos_offset .. pos_offset + T - 1
 * for theta and D: cos and sin of p * theta^(-2i/D), in double, stored as
 * float [n, D/2, 2] (the kernel's cs). */
dytcl_status dy_rope_table(dytcl_ctx *ctx, float theta, int D, int64_t pos_offset, int64_t T, cl_mem *mem)
{
    const int64_t need = pos_offset + T, per = (int64_t)D * sizeof(float); /* bytes per position */
    if (ctx->rope.n && ctx->rope.theta == theta && ctx->rope.D == D && ctx->rope.base <= pos_offset &&
        need <= ctx->rope.base + ctx->rope.n) {
        *mem = ctx->workspace[DY_WS_ROPE]->mem;
        return DYTCL_OK;
    }
    int64_t base = 0, n = 64;
    while (n < need) n *= 2;
    if (n * per > ROPE_TABLE_BYTES) n = need;
    if (n * per > ROPE_TABLE_BYTES) base = pos_offset, n = T;

    ctx->rope.n = 0; /* until the new table is written */
    float *cs = malloc((size_t)(n * per));
    if (!cs) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "rope: no memory for a table of %lld positions", (long long)n);
    for (int i = 0; i < D / 2; i++) {
        const double freq = pow((double)theta, -2.0 * i / D);
        for (int64_t p = 0; p < n; p++) {
            const double a = (double)(base + p) * freq;
            cs[2 * (p * (D / 2) + i)] = (float)cos(a);
            cs[2 * (p * (D / 2) + i) + 1] = (float)sin(a);
        }
    }
    dytcl_status s = dy_workspace(ctx, DY_WS_ROPE, (size_t)(n * per), mem);
    if (!s) {
        /* Blocking: kernels queued before read the old contents first (in-order queue). */
        cl_int err = clEnqueueWriteBuffer(ctx->queue, *mem, CL_TRUE, 0, (size_t)(n * per), cs, 0, NULL, NULL);
        if (err != CL_SUCCESS) s = dy_cl_fail(ctx, err, "clEnqueueWriteBuffer (RoPE table)");
    }
    free(cs);
    if (!s) ctx->rope.theta = theta, ctx->rope.D = D, ctx->rope.base = base, ctx->rope.n = n;
    return s;
}

static dytcl_status rope(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, int pos_offset, float theta, float sign)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor_dt(ctx, x, "x", DY_DT_ALL)) || (s = norm_check_like(ctx, y, "y", x))) return s;
    if (x.ndim != 4 || x.shape[3] % 2 != 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "rope: x must be [B, T, H, D] with D even (ndim %d)", x.ndim);
    if (!(theta > 1.0f) || isinf(theta) || pos_offset < 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "rope: theta = %g must be finite and > 1, pos_offset >= 0", theta);
    int T = (int)x.shape[1], H = (int)x.shape[2], D = (int)x.shape[3];
    int BT = (int)x.shape[0] * T;
    if ((int64_t)pos_offset + T > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "rope: positions up to %lld are past the largest int",
                       (long long)pos_offset + T);
    dy_kernel *k;
    cl_mem cs;
    if ((s = dy_kernel_get_dt(ctx, DY_KERNEL(ACT, rope), x.dtype, &k)) || (s = dy_rope_table(ctx, theta, D, pos_offset, T, &cs)))
        return s;
    int i = dy_arg_tensor(ctx, k, 0, y, NULL);
    i = dy_arg_tensor(ctx, k, i, x, NULL);
    i = dy_arg_mem(ctx, k, i, cs);
    i = dy_arg_int(ctx, k, i, T);
    i = dy_arg_int(ctx, k, i, H);
    i = dy_arg_int(ctx, k, i, D);
    i = dy_arg_int(ctx, k, i, pos_offset);
    i = dy_arg_int(ctx, k, i, (int)ctx->rope.base);
    i = dy_arg_float(ctx, k, i, sign);
    i = dy_arg_int(ctx, k, i, BT);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {(size_t)D / 2, (size_t)BT}, local[2] = {dy_pow2_local(ctx, k, D / 2 < 64 ? D / 2 : 64), 1};
    return dy_launch(ctx, k, 2, global, local);
}

dytcl_status dytcl_rope_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, int pos_offset, float theta)
{
    return rope(ctx, y, x, pos_offset, theta, 1.0f);
}

dytcl_status dytcl_rope_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dy, int pos_offset, float theta)
{
    return rope(ctx, dx, dy, pos_offset, theta, -1.0f);
}
