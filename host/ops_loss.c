/* ops_loss.c -- softmax + cross-entropy (with label smoothing) in one pass (cl/loss.cl). */
#include <math.h>

#include "ops_args.h"

dytcl_status dytcl_cross_entropy(dytcl_ctx *ctx, dytcl_tensor loss, dytcl_tensor dlogits, dytcl_tensor logits,
                                 dytcl_tensor targets, float grad_scale)
{
    return dytcl_cross_entropy_smoothed(ctx, loss, dlogits, logits, targets, 0.0f, grad_scale);
}

dytcl_status dytcl_cross_entropy_smoothed(dytcl_ctx *ctx, dytcl_tensor loss, dytcl_tensor dlogits, dytcl_tensor logits,
                                          dytcl_tensor targets, float smoothing, float grad_scale)
{
    DY_CHECK_CTX(ctx);
    norm_dims d;
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, logits, "logits")) || (s = dy_norm_dims_of(ctx, logits, DYTCL_CHANNELS_LAST, &d)) ||
        (s = dy_norm_check_vec(ctx, targets, "targets", d.outer, 1)) ||
        (s = dy_norm_check_vec(ctx, loss, "loss", d.outer, 1)) ||
        (dlogits.buf && (s = norm_check_like(ctx, dlogits, "dlogits", logits))))
        return s;
    if (!isfinite(grad_scale))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "cross_entropy: grad_scale = %g is not finite", grad_scale);
    if (!(smoothing >= 0.0f && smoothing <= 1.0f))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "cross_entropy: label smoothing %g is not in [0, 1]", smoothing);
    const int rw = dy_row_shape(ctx);
    dy_kernel *k;
    if ((s = dy_kernel_get(ctx, DY_PROG_LOSS,
                           rw ? DY_KNAME(LOSS, cross_entropy_rows) : DY_KNAME(LOSS, cross_entropy_wg), &k)))
        return s;
    cl_mem dummy = logits.buf->mem;
    int i = dy_arg_tensor(ctx, k, 0, loss, dummy);
    i = dy_arg_tensor(ctx, k, i, dlogits, dummy);
    i = dy_arg_int(ctx, k, i, dlogits.buf != NULL);
    i = dy_arg_tensor(ctx, k, i, logits, dummy);
    i = dy_arg_tensor(ctx, k, i, targets, dummy);
    i = dy_arg_int(ctx, k, i, d.inner);
    i = dy_arg_int(ctx, k, i, d.outer);
    i = dy_arg_float(ctx, k, i, grad_scale);
    i = dy_arg_float(ctx, k, i, smoothing);
    size_t L = rw ? 1 : dy_pow2_local(ctx, k, d.inner < 256 ? (size_t)d.inner : 256);
    if (!rw) i = dy_arg_local(ctx, k, i, L * sizeof(float));
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global = (size_t)d.outer * L;
    return dy_launch(ctx, k, 1, &global, &L);
}

dytcl_status dytcl_cross_entropy_mean(dytcl_ctx *ctx, dytcl_tensor mean, dytcl_tensor loss, dytcl_tensor targets)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, loss, "loss"))) return s;
    const int rows = (int)dytcl_tensor_numel(loss);
    if ((s = dy_norm_check_vec(ctx, targets, "targets", rows, 1)) || (s = dy_norm_check_vec(ctx, mean, "mean", 1, 1)))
        return s;
    dy_kernel *k;
    if ((s = dy_kernel_get(ctx, DY_KERNEL(LOSS, loss_mean), &k))) return s;
    size_t L = dy_pow2_local(ctx, k, 256);
    int i = dy_arg_tensor(ctx, k, 0, mean, NULL);
    i = dy_arg_tensor(ctx, k, i, loss, NULL);
    i = dy_arg_tensor(ctx, k, i, targets, NULL);
    i = dy_arg_int(ctx, k, i, rows);
    i = dy_arg_local(ctx, k, i, L * sizeof(float));
    i = dy_arg_local(ctx, k, i, L * sizeof(cl_int));
    if (i < 0) return DYTCL_ERR_OPENCL;
    return dy_launch(ctx, k, 1, &L, &L);
}
