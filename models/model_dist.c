/* model_dist.c -- ranges of the gradient buffer to and from host memory
 * (declared in dytcl_model.h, used by the program's MPI all-reduce). */
#include "dytcl_model.h"
#include "model_internal.h"

static dytcl_status grads_rw(dytcl_model *m, size_t offset, size_t n, void *host, int write)
{
    dytcl_status s = dy_gate(m, write ? "dytcl_model_write_grads_range" : "dytcl_model_read_grads_range", 0);
    if (s) return s;
    if ((!host && n) || offset > m->n || n > m->n - offset)
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "gradient range [%zu, +%zu) outside the %zu gradients%s", offset,
                          n, m->n, host || !n ? "" : " (or no host memory)");
    if (!n) return DYTCL_OK;
    if ((s = dy_model_train_state(m))) return s;
    size_t at_byte = offset * sizeof(float), bytes = n * sizeof(float);
    return dy_lib_fail(m,
                    write ? dytcl_buf_write(m->ctx, m->grads, at_byte, host, bytes)
                          : dytcl_buf_read(m->ctx, m->grads, at_byte, host, bytes),
                    write ? "write gradients" : "read gradients");
}

dytcl_status dytcl_model_read_grads_range(dytcl_model *m, size_t offset, size_t n, float *out)
{
    return grads_rw(m, offset, n, out, 0);
}

dytcl_status dytcl_model_write_grads_range(dytcl_model *m, size_t offset, size_t n, const float *in)
{
    return grads_rw(m, offset, n, (void *)in, 1);
}

dytcl_status dytcl_model_finish(dytcl_model *m)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    return s ? s : dy_lib_fail(m, dytcl_finish(m->ctx), "finish");
}
