/* ops_optim.c -- the global gradient norm (with the clipping scale) and AdamW
 * over one flat parameter buffer (cl/optim.cl). Both stay on the device: the
 * scale the norm writes is what AdamW reads, so a step needs no host sync. */
#include <math.h>

#include "ops_args.h"

dytcl_status dytcl_grad_norm(dytcl_ctx *ctx, dytcl_tensor norm, dytcl_tensor scale, dytcl_tensor grads, float max_norm)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, grads, "grads")) || (s = dy_norm_check_vec(ctx, norm, "norm", 1, 1)) ||
        (s = dy_norm_check_vec(ctx, scale, "scale", 1, 0)))
        return s;
    if (!isfinite(max_norm)) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "grad_norm: max_norm %g is not finite", max_norm);
    const int n = (int)dytcl_tensor_numel(grads), B = 8192;
    const int nblocks = (n + B - 1) / B;
    cl_mem parts;
    dy_kernel *k1, *k2;
    if ((s = dy_workspace(ctx, DY_WS_PARTIALS, (size_t)nblocks * sizeof(float), &parts)) ||
        (s = dy_kernel_get(ctx, DY_PROG_OPTIM,
                           dy_row_shape(ctx) ? DY_KNAME(OPTIM, grad_sumsq_rows) : DY_KNAME(OPTIM, grad_sumsq_wg),
                           &k1)) ||
        (s = dy_kernel_get(ctx, DY_KERNEL(OPTIM, grad_norm_final), &k2)))
        return s;
    int i = dy_arg_mem(ctx, k1, 0, parts);
    i = dy_arg_tensor(ctx, k1, i, grads, NULL);
    i = dy_arg_int(ctx, k1, i, n);
    i = dy_arg_int(ctx, k1, i, B);
    size_t l1 = dy_row_shape(ctx) ? 1 : dy_pow2_local(ctx, k1, 256);
    if (!dy_row_shape(ctx)) i = dy_arg_local(ctx, k1, i, l1 * sizeof(float));
    size_t L = dy_pow2_local(ctx, k2, 256);
    int j = dy_arg_tensor(ctx, k2, 0, norm, NULL);
    j = dy_arg_tensor(ctx, k2, j, scale, norm.buf->mem);
    j = dy_arg_int(ctx, k2, j, scale.buf != NULL);
    j = dy_arg_mem(ctx, k2, j, parts);
    j = dy_arg_int(ctx, k2, j, nblocks);
    j = dy_arg_float(ctx, k2, j, max_norm);
    j = dy_arg_local(ctx, k2, j, L * sizeof(float));
    if (i < 0 || j < 0) return DYTCL_ERR_OPENCL;
    size_t g1 = (size_t)nblocks * l1;
    if ((s = dy_launch(ctx, k1, 1, &g1, &l1))) return s;
    return dy_launch(ctx, k2, 1, &L, &L);
}

dytcl_status dytcl_adamw(dytcl_ctx *ctx, dytcl_tensor params, dytcl_tensor grads, dytcl_tensor m, dytcl_tensor v,
                         dytcl_tensor decay_mask, dytcl_tensor grad_scale, const dytcl_adamw_config *cfg, int step)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, params, "params")) || (s = norm_check_like(ctx, grads, "grads", params)) ||
        (s = norm_check_like(ctx, m, "m", params)) || (s = norm_check_like(ctx, v, "v", params)) ||
        (decay_mask.buf && (s = norm_check_like(ctx, decay_mask, "decay_mask", params))) ||
        (s = dy_norm_check_vec(ctx, grad_scale, "grad_scale", 1, 0)) ||
        (s = dy_args_check_outputs(ctx, (dytcl_tensor[]){params, m, v}, (const char *[]){"params", "m", "v"}, 3,
                                (dytcl_tensor[]){grads, decay_mask, grad_scale},
                                (const char *[]){"grads", "decay_mask", "grad_scale"}, 3)))
        return s;
    if (!cfg) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "adamw: cfg is NULL");
    const float h[5] = {cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay};
    for (int q = 0; q < 5; q++)
        if (!isfinite(h[q]))
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "adamw: hyperparameters must be finite (lr %g, betas %g %g, "
                           "eps %g, weight decay %g)", h[0], h[1], h[2], h[3], h[4]);
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1) || step < 1 || cfg->eps < 0)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "adamw: betas must lie in [0, 1), eps >= 0, step >= 1 (step %d)", step);
    const float corr1 = (float)(1.0 / (1.0 - pow(cfg->beta1, step)));
    const float corr2 = (float)(1.0 / (1.0 - pow(cfg->beta2, step)));
    const int n = (int)dytcl_tensor_numel(params);
    static const char *const names[2] = {DY_KNAME(OPTIM, adamw), DY_KNAME(OPTIM, adamw_tail)};
    dy_kernel *k[2];
    /* An absent mask or scale is read but not used: the kernel then reads the
     * gradient buffer (n floats at offset 0, never written here, so no race). */
    cl_mem dummy = grads.buf->mem;
    for (int w = 0; w < 2; w++) {
        if ((s = dy_kernel_get(ctx, DY_PROG_OPTIM, names[w], &k[w]))) return s;
        int i = dy_arg_tensor(ctx, k[w], 0, params, dummy);
        i = dy_arg_tensor(ctx, k[w], i, grads, dummy);
        i = dy_arg_tensor(ctx, k[w], i, m, dummy);
        i = dy_arg_tensor(ctx, k[w], i, v, dummy);
        i = dy_arg_tensor(ctx, k[w], i, decay_mask, dummy);
        i = dy_arg_int(ctx, k[w], i, decay_mask.buf != NULL);
        i = dy_arg_tensor(ctx, k[w], i, grad_scale, dummy);
        i = dy_arg_int(ctx, k[w], i, grad_scale.buf != NULL);
        for (int q = 0; q < 5; q++) i = dy_arg_float(ctx, k[w], i, h[q]);
        i = dy_arg_float(ctx, k[w], i, corr1);
        i = dy_arg_float(ctx, k[w], i, corr2);
        i = dy_arg_int(ctx, k[w], i, n);
        if (i < 0) return DYTCL_ERR_OPENCL;
    }
    size_t global = (size_t)n, local = dy_pow2_local(ctx, k[0], 256);
    return dy_launch_split(ctx, k[0], k[1], 1, &global, &local);
}
