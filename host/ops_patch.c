/* ops_patch.c -- patch embedding: the patchify gather (cl/patch.cl), then
 * the linear layer (ops_linear.c) over the flattened patches. */
#include "ops_args.h"

typedef struct {
    int B, C, H, W, p, N, F;
} patch_dims;

/* images [B, C, H, W] with p | H, p | W; patches [B, N, F]. */
static dytcl_status check_patch(dytcl_ctx *ctx, dytcl_tensor patches, const char *pname, dytcl_tensor images,
                                const char *iname, int p, patch_dims *d)
{
    dytcl_status s;
    if ((s = dy_check_tensor(ctx, images, iname))) return s;
    if (images.ndim != 4)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "patchify: %s must be [B, C, H, W], got %d dims", iname,
                       images.ndim);
    for (int i = 0; i < 4; i++)
        if (images.shape[i] < 1 || images.shape[i] > INT32_MAX)
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "patchify: %s dimension %d is %lld", iname, i,
                           (long long)images.shape[i]);
    d->B = (int)images.shape[0], d->C = (int)images.shape[1], d->H = (int)images.shape[2];
    d->W = (int)images.shape[3], d->p = p;
    if (p < 1 || d->H % p || d->W % p)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "patchify: patch size %d does not divide the %d x %d images", p,
                       d->H, d->W);
    if ((int64_t)d->C * p * p > INT32_MAX || (int64_t)d->B * d->C * d->H * d->W > INT32_MAX)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "patchify: images of %lld elements are too large",
                       (long long)d->B * d->C * d->H * d->W);
    d->N = (d->H / p) * (d->W / p), d->F = d->C * p * p;
    return dy_norm_check_vec(ctx, patches, pname, (int64_t)d->B * d->N * d->F, 1);
}

static dytcl_status gather(dytcl_ctx *ctx, dytcl_tensor patches, dytcl_tensor images, patch_dims d, int back)
{
    dy_kernel *k;
    dytcl_status s = dy_kernel_get(ctx, DY_KERNEL(PATCH, patchify), &k);
    if (s) return s;
    int i = dy_arg_tensor(ctx, k, 0, patches, NULL);
    i = dy_arg_tensor(ctx, k, i, images, NULL);
    i = dy_arg_int(ctx, k, i, d.C);
    i = dy_arg_int(ctx, k, i, d.H);
    i = dy_arg_int(ctx, k, i, d.W);
    i = dy_arg_int(ctx, k, i, d.p);
    i = dy_arg_int(ctx, k, i, back);
    if (i < 0) return DYTCL_ERR_OPENCL;
    size_t global[2] = {(size_t)d.F, (size_t)d.B * d.N}, local[2] = {dy_pow2_local(ctx, k, d.F < 64 ? d.F : 64), 1};
    return dy_launch(ctx, k, 2, global, local);
}

dytcl_status dytcl_patchify(dytcl_ctx *ctx, dytcl_tensor patches, dytcl_tensor images, int p)
{
    DY_CHECK_CTX(ctx);
    patch_dims d;
    dytcl_status s = check_patch(ctx, patches, "patches", images, "images", p, &d);
    return s ? s : gather(ctx, patches, images, d, 0);
}

dytcl_status dytcl_patchify_backward(dytcl_ctx *ctx, dytcl_tensor dimages, dytcl_tensor dpatches, int p)
{
    DY_CHECK_CTX(ctx);
    patch_dims d;
    dytcl_status s = check_patch(ctx, dpatches, "dpatches", dimages, "dimages", p, &d);
    return s ? s : gather(ctx, dpatches, dimages, d, 1);
}

dytcl_status dytcl_patch_embed_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor patches, dytcl_tensor images,
                                       dytcl_tensor W, dytcl_tensor b, int p)
{
    DY_CHECK_CTX(ctx);
    patch_dims d;
    dytcl_status s = check_patch(ctx, patches, "patches", images, "images", p, &d);
    if (s || (s = gather(ctx, patches, images, d, 0))) return s;
    return dytcl_linear_forward(ctx, y, dytcl_tensor_2d(patches.buf, patches.offset, (int64_t)d.B * d.N, d.F), W, b);
}

dytcl_status dytcl_patch_embed_backward(dytcl_ctx *ctx, dytcl_tensor dimages, dytcl_tensor dpatches, dytcl_tensor dW,
                                        dytcl_tensor db, int accumulate, dytcl_tensor dy, dytcl_tensor patches,
                                        dytcl_tensor W, int p)
{
    DY_CHECK_CTX(ctx);
    if (!dimages.buf) { /* the parameters' gradients only: W [E, F] gives the patches' width */
        dytcl_status s;
        if ((s = dy_check_tensor(ctx, patches, "patches")) || (s = dy_check_tensor(ctx, W, "W"))) return s;
        if (W.ndim != 2 || W.shape[1] < 1 || dytcl_tensor_numel(patches) % W.shape[1])
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "patch embedding: W must be [E, F] with patches [rows, F]");
        const int64_t F = W.shape[1];
        dytcl_tensor x = dytcl_tensor_2d(patches.buf, patches.offset, dytcl_tensor_numel(patches) / F, F);
        return dytcl_linear_backward(ctx, (dytcl_tensor){0}, dW, db, accumulate, dy, x, W);
    }
    patch_dims d;
    dytcl_status s;
    if ((s = check_patch(ctx, patches, "patches", dimages, "dimages", p, &d)) ||
        (s = check_patch(ctx, dpatches, "dpatches", dimages, "dimages", p, &d)))
        return s;
    const int64_t rows = (int64_t)d.B * d.N;
    dytcl_tensor x = dytcl_tensor_2d(patches.buf, patches.offset, rows, d.F);
    dytcl_tensor dx = dytcl_tensor_2d(dpatches.buf, dpatches.offset, rows, d.F);
    if ((s = dytcl_linear_backward(ctx, dx, dW, db, accumulate, dy, x, W))) return s;
    return gather(ctx, dpatches, dimages, d, 1);
}
