/* model_dist.c -- ranges of the gradient buffer to and from host memory
 * (see model_dist.h). */
#include "model_dist.h"
#include "model_internal.h"

static dytcl_status grads_rw(model *m, size_t offset, size_t n, void *host, int write)
{
    if (!m) return DYTCL_ERR_INVALID_ARG;
    if ((!host && n) || offset > m->n || n > m->n - offset)
        return model_fail(m, DYTCL_ERR_INVALID_ARG, "gradient range [%zu, +%zu) outside the %zu gradients%s", offset,
                          n, m->n, host || !n ? "" : " (or no host memory)");
    if (!n) return DYTCL_OK;
    size_t at_byte = offset * sizeof(float), bytes = n * sizeof(float);
    return lib_fail(m,
                    write ? dytcl_buf_write(m->ctx, m->grads, at_byte, host, bytes)
                          : dytcl_buf_read(m->ctx, m->grads, at_byte, host, bytes),
                    write ? "write gradients" : "read gradients");
}

dytcl_status model_read_grads_range(model *m, size_t offset, size_t n, float *out)
{
    return grads_rw(m, offset, n, out, 0);
}

dytcl_status model_write_grads_range(model *m, size_t offset, size_t n, const float *in)
{
    return grads_rw(m, offset, n, (void *)in, 1);
}

dytcl_status model_finish(model *m)
{
    if (!m) return DYTCL_ERR_INVALID_ARG;
    return lib_fail(m, dytcl_finish(m->ctx), "finish");
}
