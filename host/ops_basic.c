/* ops_basic.c -- copy, fill and the device self-test (cl/copy.cl). */
#include <math.h>
#include <stdlib.h>

#include "ops_args.h"

/* Any dtype to any dtype: between dtypes the elements convert (rounded to
 * nearest even; f16 past its range becomes +-inf, NaN stays NaN). */
dytcl_status dytcl_copy(dytcl_ctx *ctx, dytcl_tensor dst, dytcl_tensor src)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor_dt(ctx, dst, "dst", DY_DT_ALL)) || (s = dy_check_tensor_dt(ctx, src, "src", DY_DT_ALL)))
        return s;
    int n = (int)dytcl_tensor_numel(dst);
    if (n != dytcl_tensor_numel(src))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_copy: dst has %d elements, src %lld", n,
                       (long long)dytcl_tensor_numel(src));
    if (dst.buf == src.buf && dst.offset == src.offset && dst.dtype == src.dtype) return DYTCL_OK; /* onto itself */
    if ((s = dy_args_check_apart(ctx, dst, n, "dst", src, n, "src"))) return s;
    dy_kernel *k;
    if ((s = dy_kernel_get_conv(ctx, DY_KERNEL(COPY, copy), src.dtype, dst.dtype, &k))) return s;
    int doff = (int)dst.offset, soff = (int)src.offset;
    if ((s = dy_arg(ctx, k, 0, sizeof(cl_mem), &dst.buf->mem)) || (s = dy_arg(ctx, k, 1, sizeof doff, &doff)) ||
        (s = dy_arg(ctx, k, 2, sizeof(cl_mem), &src.buf->mem)) || (s = dy_arg(ctx, k, 3, sizeof soff, &soff)) ||
        (s = dy_arg(ctx, k, 4, sizeof n, &n)))
        return s;
    size_t global = ((size_t)n + 3) / 4;
    return dy_launch(ctx, k, 1, &global, NULL);
}

dytcl_status dytcl_fill(dytcl_ctx *ctx, dytcl_tensor dst, float value)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s;
    if ((s = dy_check_tensor_dt(ctx, dst, "dst", DY_DT_ALL))) return s;
    int n = (int)dytcl_tensor_numel(dst), off = (int)dst.offset;
    dy_kernel *k;
    if ((s = dy_kernel_get_dt(ctx, DY_KERNEL(COPY, fill), dst.dtype, &k))) return s;
    if ((s = dy_arg(ctx, k, 0, sizeof(cl_mem), &dst.buf->mem)) || (s = dy_arg(ctx, k, 1, sizeof off, &off)) ||
        (s = dy_arg(ctx, k, 2, sizeof value, &value)) || (s = dy_arg(ctx, k, 3, sizeof n, &n)))
        return s;
    size_t global = ((size_t)n + 3) / 4;
    return dy_launch(ctx, k, 1, &global, NULL);
}

/* Copies 1000003 floats between unaligned offsets, fills a guard region, and
 * checks every element on the host. */
dytcl_status dytcl_selftest(dytcl_ctx *ctx)
{
    DY_CHECK_CTX(ctx);
    enum { N = 1000003, OFF_SRC = 3, OFF_DST = 5, TOTAL = N + 16 };
    float *host = malloc(sizeof(float) * TOTAL * 2);
    if (!host) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "selftest: out of host memory");
    float *back = host + TOTAL;
    for (int i = 0; i < TOTAL; i++) host[i] = (float)(i % 1009) * 0.5f - 100.0f;

    dytcl_buf *a = NULL, *b = NULL;
    dytcl_status s;
    if ((s = dytcl_buf_create(ctx, sizeof(float) * TOTAL, &a)) ||
        (s = dytcl_buf_create(ctx, sizeof(float) * TOTAL, &b)) ||
        (s = dytcl_buf_write(ctx, a, 0, host, sizeof(float) * TOTAL)) ||
        (s = dytcl_fill(ctx, dytcl_tensor_1d(b, 0, TOTAL), NAN)) ||
        (s = dytcl_copy(ctx, dytcl_tensor_1d(b, OFF_DST, N), dytcl_tensor_1d(a, OFF_SRC, N))) ||
        (s = dytcl_buf_read(ctx, b, 0, back, sizeof(float) * TOTAL)))
        goto done;
    for (int i = 0; i < TOTAL; i++) {
        int inside = i >= OFF_DST && i < OFF_DST + N;
        float want = inside ? host[i - OFF_DST + OFF_SRC] : NAN;
        if (inside ? back[i] != want : !isnan(back[i])) {
            s = dy_fail(ctx, DYTCL_ERR_OPENCL,
                        "selftest on %s: element %d is %g, expected %g (copy of %d floats)",
                        ctx->info.name, i, back[i], want, N);
            break;
        }
    }
done:
    dytcl_buf_free(a);
    dytcl_buf_free(b);
    free(host);
    return s;
}
