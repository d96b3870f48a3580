/* gemm_host.h -- GEMM on the host's BLAS over mapped buffers
 * (host/gemm_host.c). Private to the library. */
#ifndef DYTCL_GEMM_HOST_H
#define DYTCL_GEMM_HOST_H

#include "internal.h"

/* Decides ctx->gemm_path once: the option, else DYTCL_GEMM, else the host
 * BLAS on a CPU device with host-unified memory when the build has one; on
 * the host path, queued (native kernels, ctx->gemm_parts > 0) or mapped. */
dytcl_status dy_gemm_path_choose(dytcl_ctx *ctx);

/* C = alpha op(A) op(B) + beta C, `batch` times, on the host (arguments as
 * dytcl_gemm_batched has checked them; strides 0 when batch is 1). */
dytcl_status dy_gemm_host(dytcl_ctx *ctx, int trans_a, int trans_b, int M, int N, int K, float alpha,
                          dytcl_tensor A, int64_t stride_a, dytcl_tensor B, int64_t stride_b, float beta,
                          dytcl_tensor C, int64_t stride_c, int batch);

/* One product's arguments, as dy_gemm_host takes them. */
typedef struct {
    int trans_a, trans_b, M, N, K;
    float alpha;
    dytcl_tensor A;
    int64_t stride_a;
    dytcl_tensor B;
    int64_t stride_b;
    float beta;
    dytcl_tensor C;
    int64_t stride_c;
    int batch;
} dy_gemm_args;

/* Two products that do not depend on each other (x's C is neither of y's
 * inputs nor y's C, and the other way round), checked as dytcl_gemm_batched
 * checks them: on the queued form each runs whole beside the other (one
 * worker each: the cut's overhead, both parts packing the same operand, is
 * saved), else one after the other. */
dytcl_status dy_gemm_host_pair(dytcl_ctx *ctx, const dy_gemm_args *x, const dy_gemm_args *y);

/* x and y as dytcl_gemm_batched takes them (ops_linear.c), independent as
 * above: checked, then at once on the host path (dy_gemm_host_pair), one
 * after the other elsewhere. */
dytcl_status dy_gemm_pair(dytcl_ctx *ctx, dy_gemm_args x, dy_gemm_args y);

/* One-row products through the matrix-vector kernel (gemm_gemv.c): 1 when
 * this product (M 1, B transposed, not batched) takes it on this device. */
int dy_gemv_takes(dytcl_ctx *ctx, int trans_b, int M, int N, int K, int batch, dytcl_tensor A, dytcl_tensor B,
                  dytcl_tensor C);
/* c [N] = alpha * a [K] . B^T + beta * c, B [N, K]. */
dytcl_status dy_gemv(dytcl_ctx *ctx, int N, int K, float alpha, dytcl_tensor A, dytcl_tensor B, float beta,
                     dytcl_tensor C);

/* Half-width B (f16 / bf16 weights at inference), every device:
 * c [R, N] = alpha * a [R, K] . B^T + beta * c through gemv_nt_<dtype>
 * when dy_gemv_half_takes (R <= DY_GEMV_HALF_ROWS), else B widened into a
 * float32 workspace and the float32 GEMM. */
#define DY_GEMV_HALF_ROWS 4
dytcl_status dy_gemm_half_b(dytcl_ctx *ctx, int R, int N, int K, float alpha, dytcl_tensor A, dytcl_tensor B,
                            float beta, dytcl_tensor C);

/* y = x W^T (+ b) for a Q8 W (ops_q8.c): dytcl_linear_forward's branch,
 * with every argument checked there. */
dytcl_status dy_linear_q8(dytcl_ctx *ctx, dytcl_tensor y, dytcl_tensor x, dytcl_tensor W, dytcl_tensor b);

/* "host BLAS queued as native kernels: OpenBLAS 0.3.21 ...", or why there
 * is none. */
void dy_gemm_host_describe(const dytcl_ctx *ctx, char *out, size_t cap);

#endif
