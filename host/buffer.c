/* buffer.c -- device memory, host copies and tensor views. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

dytcl_status dytcl_buf_create(dytcl_ctx *ctx, size_t bytes, dytcl_buf **out)
{
    DY_CHECK_CTX(ctx);
    if (!out) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_buf_create: out is NULL");
    *out = NULL;
    if (bytes == 0) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_buf_create: 0 bytes");
    const dytcl_device_info *d = &ctx->info;
    if (bytes > d->max_alloc)
        return dy_fail(ctx, DYTCL_ERR_DEVICE_MEMORY,
                       "dytcl_buf_create: %zu bytes (%.1f MiB) exceed the largest allocation "
                       "%s allows (CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu bytes, %.1f MiB)",
                       bytes, bytes / 1048576.0, d->name, (unsigned long long)d->max_alloc,
                       d->max_alloc / 1048576.0);
    uint64_t room = 0;
    char why[96];
    dytcl_status s = dytcl_ctx_memory_room(ctx, &room, why, sizeof why);
    if (s != DYTCL_OK) return s;
    if (bytes > room)
        return dy_fail(ctx, DYTCL_ERR_DEVICE_MEMORY,
                       "dytcl_buf_create: %zu bytes (%.1f MiB) do not fit: %.1f MiB are left by %s "
                       "(%s; this context holds %.1f MiB)",
                       bytes, bytes / 1048576.0, room / 1048576.0, why, d->name, ctx->allocated / 1048576.0);

    dytcl_buf *b = calloc(1, sizeof *b);
    if (!b) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "dytcl_buf_create: out of host memory");
    cl_int err;
    b->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        free(b);
        return dy_cl_fail(ctx, err, "clCreateBuffer");
    }
    b->ctx = ctx;
    b->bytes = bytes;
    ctx->allocated += bytes;
    if (dy_host_memory(ctx)) {
        /* Back the buffer with pages now (memory.c): the driver would take
         * them at its first use, and abort there when they are not to be had. */
        static const cl_uchar zeros[128];
        size_t pattern = 128;
        while (bytes % pattern) pattern /= 2;
        err = clEnqueueFillBuffer(ctx->queue, b->mem, zeros, pattern, 0, bytes, 0, NULL, NULL);
        if (err == CL_SUCCESS) err = clFinish(ctx->queue);
        if (err != CL_SUCCESS) {
            dytcl_buf_free(b);
            return dy_cl_fail(ctx, err, "clEnqueueFillBuffer (backing a new buffer)");
        }
    }
    *out = b;
    return DYTCL_OK;
}

void dytcl_buf_free(dytcl_buf *b)
{
    if (!b) return;
    b->ctx->allocated -= b->bytes;
    clReleaseMemObject(b->mem);
    free(b);
}

size_t dytcl_buf_size(const dytcl_buf *b)
{
    return b ? b->bytes : 0;
}

void *dytcl_buf_cl_mem(const dytcl_buf *b)
{
    return b ? (void *)b->mem : NULL;
}

static dytcl_status check_range(dytcl_ctx *ctx, const dytcl_buf *b, size_t offset, const void *host,
                                size_t bytes, const char *fn)
{
    if (!b) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: buf is NULL", fn);
    if (b->ctx != ctx) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: buf belongs to another context", fn);
    if (!host && bytes) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: host pointer is NULL", fn);
    if (offset > b->bytes || bytes > b->bytes - offset)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "%s: bytes [%zu, %zu) lie past the end of a %zu-byte buffer", fn, offset,
                       offset + bytes, b->bytes);
    return DYTCL_OK;
}

dytcl_status dytcl_buf_write(dytcl_ctx *ctx, dytcl_buf *b, size_t offset, const void *src, size_t bytes)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s = check_range(ctx, b, offset, src, bytes, "dytcl_buf_write");
    if (s != DYTCL_OK || bytes == 0) return s;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, b->mem, CL_TRUE, offset, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? DYTCL_OK : dy_cl_fail(ctx, err, "clEnqueueWriteBuffer");
}

dytcl_status dytcl_buf_read(dytcl_ctx *ctx, const dytcl_buf *b, size_t offset, void *dst, size_t bytes)
{
    DY_CHECK_CTX(ctx);
    dytcl_status s = check_range(ctx, b, offset, dst, bytes, "dytcl_buf_read");
    if (s != DYTCL_OK || bytes == 0) return s;
    cl_int err = clEnqueueReadBuffer(ctx->queue, b->mem, CL_TRUE, offset, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? dy_gemm_fault(ctx) : dy_cl_fail(ctx, err, "clEnqueueReadBuffer");
}

dytcl_status dy_workspace(dytcl_ctx *ctx, int slot, size_t bytes, cl_mem *out)
{
    dytcl_buf **ws = &ctx->workspace[slot];
    if (!*ws || (*ws)->bytes < bytes) {
        /* Kernels already queued keep the old buffer alive until they finish. */
        dytcl_buf_free(*ws);
        *ws = NULL;
        dytcl_status s = dytcl_buf_create(ctx, bytes < 4096 ? 4096 : bytes, ws);
        if (s != DYTCL_OK) return s;
    }
    *out = (*ws)->mem;
    return DYTCL_OK;
}

/* ------------------------------------------------------------- tensors */

dytcl_tensor dytcl_tensor_1d(dytcl_buf *buf, size_t offset, int64_t n)
{
    dytcl_tensor t = {buf, offset, 1, {n, 0, 0, 0}, DYTCL_F32};
    return t;
}

dytcl_tensor dytcl_tensor_2d(dytcl_buf *buf, size_t offset, int64_t rows, int64_t cols)
{
    dytcl_tensor t = {buf, offset, 2, {rows, cols, 0, 0}, DYTCL_F32};
    return t;
}

dytcl_tensor dytcl_tensor_as(dytcl_tensor t, dytcl_dtype dtype)
{
    t.dtype = dtype;
    return t;
}

int64_t dytcl_tensor_numel(dytcl_tensor t)
{
    if (t.ndim < 1 || t.ndim > DYTCL_MAX_DIMS) return 0;
    int64_t n = 1;
    for (int i = 0; i < t.ndim; i++) {
        if (t.shape[i] <= 0 || n > INT64_MAX / t.shape[i]) return 0;
        n *= t.shape[i];
    }
    return n;
}

/* "f32", "f32 or bf16", ...: the dtypes of mask, for messages. */
static const char *dtype_list(unsigned mask, char *out, size_t cap)
{
    out[0] = 0;
    for (int d = DYTCL_F32; d <= DYTCL_Q8; d++)
        if (mask & DY_DT(d))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " or " : "",
                     dytcl_dtype_name((dytcl_dtype)d));
    return out;
}

dytcl_status dy_check_tensor(dytcl_ctx *ctx, dytcl_tensor t, const char *name)
{
    return dy_check_tensor_dt(ctx, t, name, DY_DT(DYTCL_F32));
}

dytcl_status dy_check_tensor_dt(dytcl_ctx *ctx, dytcl_tensor t, const char *name, unsigned dtypes)
{
    if (!t.buf) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: buf is NULL", name);
    const size_t esize = dytcl_dtype_size(t.dtype);
    if (!esize) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: dtype %d is not a dytcl_dtype", name, (int)t.dtype);
    if (t.buf->ctx != ctx)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: buffer belongs to another context", name);
    if (t.ndim < 1 || t.ndim > DYTCL_MAX_DIMS)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: ndim %d is not in 1..%d", name, t.ndim,
                       DYTCL_MAX_DIMS);
    for (int i = 0; i < t.ndim; i++)
        if (t.shape[i] <= 0)
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: shape[%d] = %lld is not positive",
                           name, i, (long long)t.shape[i]);
    int64_t n = dytcl_tensor_numel(t);
    if (n == 0) /* every dimension is positive: their product overflowed */
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: the shape's product passes 2^63 elements; at most %d "
                       "are supported", name, INT_MAX);
    if (n > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: %lld elements; at most %d are supported",
                       name, (long long)n, INT_MAX);
    size_t cap = t.buf->bytes / esize;
    if (t.offset > cap || (size_t)n > cap - t.offset)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "tensor %s: elements [%zu, %zu) lie past the end of its buffer (%zu %s elements)",
                       name, t.offset, t.offset + (size_t)n, cap, dytcl_dtype_name(t.dtype));
    if (t.offset > INT_MAX)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s: offset %zu is too large", name, t.offset);
    if (!(dtypes & DY_DT(t.dtype))) {
        char allowed[48];
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s is %s; this op takes %s", name,
                       dytcl_dtype_name(t.dtype), dtype_list(dtypes, allowed, sizeof allowed));
    }
    if (t.dtype == DYTCL_Q8) { /* two planes: quants [N, K] int8, then scales [N, K/32] float32 */
        if (t.ndim != 2 || t.shape[1] % 32 || t.offset % 4)
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s is q8: it must be [N, K] with K a multiple of 32 "
                           "and its offset a multiple of 4 bytes (got %d dims, K = %lld, offset %zu)", name, t.ndim,
                           (long long)t.shape[t.ndim - 1], t.offset);
        const size_t need = dytcl_q8_bytes(t.shape[0], t.shape[1]);
        if (!need || need > t.buf->bytes - t.offset)
            return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "tensor %s is q8 [%lld, %lld]: its quants and scales (%zu "
                           "bytes from byte %zu) lie past the end of its buffer (%zu bytes)", name,
                           (long long)t.shape[0], (long long)t.shape[1], need, t.offset, t.buf->bytes);
    }
    return DYTCL_OK;
}
