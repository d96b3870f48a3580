/* op_harness.c -- the runner of op_harness.h: draw, poison, call, compare
 * with the float64 reference, call again for the same bits, in both kernel
 * shapes. */
#include "op_harness.h"

#include "dev_util.h"

void op_fill(double *v, size_t n, const op_input *in, unsigned long long *rng)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = in->gen == OP_CONST ? in->lo : check_rand(rng, in->lo, in->hi);
        if (in->gen == OP_EDGES && i % 8 == 7) {
            const double edge[4] = {0.0, -0.0, in->lo, in->hi};
            v[i] = edge[(i / 8) % 4];
        }
    }
    round_float(v, n);
}

static size_t count(int scalar, size_t n) { return scalar ? 1 : n; }

/* One case at one size: draw, reference, poison, call, compare, call again. */
static void run_case(dytcl_ctx *ctx, const op_case *c, size_t n, const char *shape, unsigned long long *rng)
{
    double *in[OP_MAX_ARGS] = {0}, *want[OP_MAX_ARGS] = {0};
    dytcl_buf *bin[OP_MAX_ARGS] = {0}, *bout[OP_MAX_ARGS] = {0};
    dytcl_tensor tin[OP_MAX_ARGS], tout[OP_MAX_ARGS];
    float *bits[2][OP_MAX_ARGS] = {{0}};
    for (int j = 0; j < c->n_in; j++) {
        size_t m = count(c->in[j].scalar, n);
        in[j] = malloc(m * sizeof(double));
        op_fill(in[j], m, &c->in[j], rng);
        bin[j] = dev_from(ctx, in[j], m);
        tin[j] = dytcl_tensor_1d(bin[j], 0, (int)m);
    }
    for (int k = 0; k < c->n_out; k++) {
        size_t m = count(c->out[k].scalar, n);
        want[k] = malloc(m * sizeof(double));
        bout[k] = dev_from(ctx, NULL, m); /* NaN: an element left unwritten fails */
        tout[k] = dytcl_tensor_1d(bout[k], 0, (int)m);
        for (int rep = 0; rep < 2; rep++) bits[rep][k] = malloc(m * sizeof(float));
    }
    c->ref(n, (const double *const *)in, want);
    for (int rep = 0; rep < 2; rep++) {
        if (rep) /* poison again, so that the second run must write every element */
            for (int k = 0; k < c->n_out; k++) {
                size_t m = count(c->out[k].scalar, n);
                for (size_t i = 0; i < m; i++) bits[1][k][i] = NAN;
                CHECK_OK(ctx, dytcl_buf_write(ctx, bout[k], 0, bits[1][k], m * sizeof(float)));
            }
        CHECK_OK(ctx, c->call(ctx, tin, tout));
        for (int k = 0; k < c->n_out; k++) {
            size_t m = count(c->out[k].scalar, n);
            CHECK_OK(ctx, dytcl_buf_read(ctx, bout[k], 0, bits[rep][k], m * sizeof(float)));
        }
    }
    for (int k = 0; k < c->n_out; k++) {
        size_t m = count(c->out[k].scalar, n);
        const op_output *o = &c->out[k];
        if (o->scaled_by)
            CHECK_CLOSE_SCALED(ctx, bout[k], want[k], in[o->scaled_by - 1], m, o->tol, "%s output %d n=%zu %s",
                               c->name, k, n, shape);
        else
            CHECK_CLOSE(ctx, bout[k], want[k], m, o->tol, "%s output %d n=%zu %s", c->name, k, n, shape);
        CHECK(!memcmp(bits[0][k], bits[1][k], m * sizeof(float)), "%s output %d n=%zu %s differs between runs",
              c->name, k, n, shape);
    }
    for (int j = 0; j < c->n_in; j++) dytcl_buf_free(bin[j]), free(in[j]);
    for (int k = 0; k < c->n_out; k++) dytcl_buf_free(bout[k]), free(want[k]), free(bits[0][k]), free(bits[1][k]);
}

int op_run_table(const op_case *cases, int n_cases, const char *cache_dir, unsigned long long *rng)
{
    const char *shapes[] = {"rows", "groups"};
    for (int sh = 0; sh < 2; sh++) {
        setenv("DYTCL_KERNEL_SHAPE", shapes[sh], 1);
        dytcl_ctx *ctx = check_ctx(cache_dir);
        for (int i = 0; i < n_cases; i++)
            for (int s = 0; s < OP_MAX_SIZES && cases[i].sizes[s]; s++)
                if (!check_small() || cases[i].sizes[s] < 5000) run_case(ctx, &cases[i], cases[i].sizes[s], shapes[sh], rng);
        dytcl_ctx_free(ctx);
    }
    unsetenv("DYTCL_KERNEL_SHAPE");
    return check_failures;
}
