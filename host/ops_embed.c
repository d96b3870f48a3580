/* ops_embed.c -- token and position embeddings (cl/embed.cl). The rows (out,
 * dout) may be f32, f16 or bf16; tokens are int32 and the tables f32. */
#include "ops_args.h"

/* tokens [rows] (int32), wte [V, C], wpe [T, C] or absent, out [rows, C]. */
static dytcl_status check_embed(dytcl_ctx *ctx, dytcl_tensor out, const char *out_name, dytcl_tensor tokens,
                                dytcl_tensor wte, dytcl_tensor wpe, int T, int *rows, int *V, int *C)
{
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, tokens, "tokens")) || (s = dy_check_tensor(ctx, wte, "wte"))) return s;
    if (wte.ndim != 2) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "wte must be [V, C], got %d dims", wte.ndim);
    *V = (int)wte.shape[0], *C = (int)wte.shape[1], *rows = (int)dytcl_tensor_numel(tokens);
    if (T < 1 || *rows % T != 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "embedding: %d tokens are not a whole number of rows of T = %d",
                       *rows, T);
    if ((s = dy_check_tensor_dt(ctx, out, out_name, DY_DT_ALL)) ||
        (s = dy_norm_check_vec(ctx, wpe, "wpe", (int64_t)T * *C, 0)))
        return s;
    if (dytcl_tensor_numel(out) != (int64_t)*rows * *C)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s has %lld elements, expected %lld", out_name,
                       (long long)dytcl_tensor_numel(out), (long long)*rows * *C);
    return DYTCL_OK;
}

dytcl_status dytcl_embedding_forward(dytcl_ctx *ctx, dytcl_tensor out, dytcl_tensor tokens, dytcl_tensor wte,
                                     dytcl_tensor wpe, int T)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, V = 0, C = 0;
    dytcl_status s = check_embed(ctx, out, "out", tokens, wte, wpe, T, &rows, &V, &C);
    if (s) return s;
    static const char *const names[2] = {DY_KNAME(EMBED, embed_forward), DY_KNAME(EMBED, embed_forward_tail)};
    dy_kernel *k[2];
    for (int w = 0; w < 2; w++) {
        if ((s = dy_kernel_get_dt(ctx, DY_PROG_EMBED, names[w], out.dtype, &k[w]))) return s;
        int i = dy_arg_tensor(ctx, k[w], 0, out, NULL);
        i = dy_arg_tensor(ctx, k[w], i, tokens, NULL);
        i = dy_arg_tensor(ctx, k[w], i, wte, NULL);
        i = dy_arg_tensor(ctx, k[w], i, wpe, wte.buf->mem);
        i = dy_arg_int(ctx, k[w], i, wpe.buf != NULL);
        i = dy_arg_int(ctx, k[w], i, V);
        i = dy_arg_int(ctx, k[w], i, T);
        i = dy_arg_int(ctx, k[w], i, C);
        if (i < 0) return DYTCL_ERR_OPENCL;
    }
    size_t global[2] = {(size_t)C, (size_t)rows}, local[2] = {dy_pow2_local(ctx, k[0], C < 256 ? C : 256), 1};
    return dy_launch_split(ctx, k[0], k[1], 2, global, local);
}

/* Sets the integer-buffer and int arguments of one bucket kernel and runs it. */
static dytcl_status run_1d(dytcl_ctx *ctx, dytcl_dtype dt, const char *name, const cl_mem *mems, int nmem,
                           dytcl_tensor tokens, const int *ints, int nint, size_t n)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get_dt(ctx, DY_PROG_EMBED, name, dt, &k);
    if (s) return s;
    int i = 0;
    for (int j = 0; j < nmem; j++) i = dy_arg_mem(ctx, k, i, mems[j]);
    if (tokens.buf) i = dy_arg_tensor(ctx, k, i, tokens, NULL);
    for (int j = 0; j < nint; j++) i = dy_arg_int(ctx, k, i, ints[j]);
    if (i < 0) return DYTCL_ERR_OPENCL;
    return dy_launch(ctx, k, 1, &n, NULL);
}

dytcl_status dytcl_embedding_backward(dytcl_ctx *ctx, dytcl_tensor dwte, dytcl_tensor dwpe, int accumulate,
                                      dytcl_tensor dout, dytcl_tensor tokens, int T)
{
    DY_CHECK_CTX(ctx);
    int rows = 0, V = 0, C = 0;
    dytcl_status s = check_embed(ctx, dout, "dout", tokens, dwte, dwpe, T, &rows, &V, &C);
    if (s) return s;
    /* workspace: counts [V], starts [V], cursor [V] + present [1 + min(V, rows)]
     * (int32), bucket rows [rows] */
    const int most = V < rows ? V : rows;
    cl_mem counts, starts, cursor, bucket;
    if ((s = dy_workspace(ctx, DY_WS_PARTIALS, (size_t)V * 4, &counts)) ||
        (s = dy_workspace(ctx, DY_WS_EMBED_STARTS, (size_t)V * 4, &starts)) ||
        (s = dy_workspace(ctx, DY_WS_EMBED_CURSOR, ((size_t)V + 1 + most) * 4, &cursor)) ||
        (s = dy_workspace(ctx, DY_WS_EMBED_BUCKET, (size_t)rows * 4, &bucket)))
        return s;
    cl_int zero = 0, err = clEnqueueFillBuffer(ctx->queue, counts, &zero, sizeof zero, 0, (size_t)V * 4, 0, NULL, NULL);
    if (err != CL_SUCCESS) return dy_cl_fail(ctx, err, "clEnqueueFillBuffer");
    if (!accumulate) { /* write mode: zeros, then add the tokens that occur */
        const float fzero = 0.0f;
        err = clEnqueueFillBuffer(ctx->queue, dwte.buf->mem, &fzero, sizeof fzero, dwte.offset * 4,
                                  (size_t)V * C * 4, 0, NULL, NULL);
        if (err != CL_SUCCESS) return dy_cl_fail(ctx, err, "clEnqueueFillBuffer");
    }
    dytcl_tensor none = {0};
    const int vr[2] = {V, rows};
    const dytcl_dtype dt = dout.dtype;
    if ((s = run_1d(ctx, dt, DY_KNAME(EMBED, embed_count), (cl_mem[]){counts}, 1, tokens, vr, 2, (size_t)rows)) ||
        (s = run_1d(ctx, dt, DY_KNAME(EMBED, embed_scan), (cl_mem[]){starts, cursor, counts}, 3, none, &V, 1, 1)) ||
        (s = run_1d(ctx, dt, DY_KNAME(EMBED, embed_scatter), (cl_mem[]){bucket, cursor, starts}, 3, tokens, vr, 2,
                    (size_t)rows)) ||
        (s = run_1d(ctx, dt, DY_KNAME(EMBED, embed_sort), (cl_mem[]){bucket, starts, counts}, 3, none, &V, 1,
                    (size_t)V)))
        return s;
    dy_kernel *k;
    if ((s = dy_kernel_get_dt(ctx, DY_KERNEL(EMBED, embed_accumulate), dout.dtype, &k))) return s;
    int i = dy_arg_tensor(ctx, k, 0, dwte, NULL);
    i = dy_arg_tensor(ctx, k, i, dout, NULL);
    i = dy_arg_mem(ctx, k, i, bucket);
    i = dy_arg_mem(ctx, k, i, starts);
    i = dy_arg_mem(ctx, k, i, counts);
    i = dy_arg_mem(ctx, k, i, cursor); /* present = cursor + V */
    i = dy_arg_int(ctx, k, i, V);
    i = dy_arg_int(ctx, k, i, C);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {(size_t)C, (size_t)most}, local[2] = {dy_pow2_local(ctx, k, C < 256 ? C : 256), 1};
    if ((s = dy_launch(ctx, k, 2, global, local))) return s;
    /* dwpe [T, C]: dout viewed as [B, T*C], summed over B in order */
    return dy_launch_colsum_of(ctx, DY_PROG_EMBED, dwpe, dout, rows / T, T * C, accumulate != 0);
}
