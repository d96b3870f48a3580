/* ops_rmsnorm.c -- RMSNorm and LayerNorm (cl/rmsnorm.cl). In progress. */
#include "internal.h"

#define NOT_YET(fn) return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "%s: not implemented yet", fn)

dytcl_status dytcl_rmsnorm_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor rstd, dytcl_tensor x, dytcl_tensor weight, float eps) { NOT_YET(__func__); }
dytcl_status dytcl_rmsnorm_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dweight, int accumulate, dytcl_tensor dy, dytcl_tensor x, dytcl_tensor rstd, dytcl_tensor weight) { NOT_YET(__func__); }
dytcl_status dytcl_layernorm_forward(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor mean, dytcl_tensor rstd, dytcl_tensor x, dytcl_tensor weight, dytcl_tensor bias, float eps) { NOT_YET(__func__); }
dytcl_status dytcl_layernorm_backward(dytcl_ctx *ctx, dytcl_tensor dx, dytcl_tensor dweight, dytcl_tensor dbias, int accumulate, dytcl_tensor dy, dytcl_tensor x, dytcl_tensor mean, dytcl_tensor rstd, dytcl_tensor weight) { NOT_YET(__func__); }
dytcl_status dytcl_residual_rmsnorm_forward(dytcl_ctx *ctx, dytcl_tensor r_out, dytcl_tensor y, dytcl_tensor rstd, dytcl_tensor r, dytcl_tensor h, dytcl_tensor weight, float eps) { NOT_YET(__func__); }
dytcl_status dytcl_residual_rmsnorm_backward(dytcl_ctx *ctx, dytcl_tensor d, dytcl_tensor dweight, int accumulate, dytcl_tensor dy, dytcl_tensor dr_out, dytcl_tensor r_out, dytcl_tensor rstd, dytcl_tensor weight) { NOT_YET(__func__); }
